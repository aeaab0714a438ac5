"""Parquet input: the same frame as read_csv, partitioned datasets, batches of series, and errors that name the file and column."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest

from tsseq.cli import main
from tsseq.data.convert import csv_to_parquet
from tsseq.data.csv import read_csv
from tsseq.data.parquet import is_parquet, iter_series_batches, read_parquet
from tsseq.errors import DataError


def _long_csv(path, n_series=4, rows=30, ids=lambda s: f"store-{s}") -> None:
    stamps = pd.date_range("2021-01-01", periods=rows, freq="h")
    frame = pd.DataFrame(
        {
            "store": np.repeat([ids(s) for s in range(n_series)], rows),
            "time": np.tile(stamps.strftime("%Y-%m-%d %H:%M:%S"), n_series),
            "sales": np.round(np.random.default_rng(0).normal(10, 2, n_series * rows), 3),
            "price": np.tile(np.arange(rows) % 5, n_series),
        }
    )
    frame.to_csv(path, index=False)


@pytest.fixture
def long_csv(tmp_path):
    path = tmp_path / "stores.csv"
    _long_csv(path)
    return path


@pytest.mark.parametrize("chunk_rows", [7, 1_000_000])
def test_csv_to_parquet_reads_back_as_read_csv_reads_the_csv(long_csv, tmp_path, chunk_rows):
    output = tmp_path / "stores.parquet"
    result = csv_to_parquet(long_csv, output, series_column="store", chunk_rows=chunk_rows)
    assert result.rows == 120 and result.chunks == -(-120 // chunk_rows)
    expected = read_csv(long_csv, series_column="store")
    pd.testing.assert_frame_equal(read_parquet(output, series_column="store"), expected)
    assert pq.ParquetFile(output).schema_arrow.field("time").type == pa.timestamp("us")


def test_integer_ids_and_a_wide_file_round_trip(tmp_path):
    long_path, wide_path = tmp_path / "long.csv", tmp_path / "wide.csv"
    _long_csv(long_path, ids=lambda s: 100 + s)
    csv_to_parquet(long_path, tmp_path / "long.parquet", series_column="store", chunk_rows=11)
    pd.testing.assert_frame_equal(
        read_parquet(tmp_path / "long.parquet", series_column="store"), read_csv(long_path, series_column="store")
    )
    pd.read_csv(long_path).query("store == 100").drop(columns="store").to_csv(wide_path, index=False)
    csv_to_parquet(wide_path, tmp_path / "wide.parquet", chunk_rows=4)
    pd.testing.assert_frame_equal(read_parquet(tmp_path / "wide.parquet"), read_csv(wide_path))


def test_partitioned_dataset_equals_the_csv_and_batches_cover_it(long_csv, tmp_path):
    output = tmp_path / "stores"
    csv_to_parquet(long_csv, output, series_column="store", partition_by_series=True, chunk_rows=13)
    assert sorted(path.name for path in output.iterdir()) == [f"store=store-{s}" for s in range(4)]
    expected = read_csv(long_csv, series_column="store")
    pd.testing.assert_frame_equal(read_parquet(output, series_column="store"), expected)
    batches = list(iter_series_batches(output, series_column="store", batch_series=3))
    assert [batch.index.get_level_values(0).nunique() for batch in batches] == [3, 1]
    pd.testing.assert_frame_equal(pd.concat(batches), expected)


def test_a_dataset_written_by_arrow_with_typed_timestamps(tmp_path):
    stamps = pd.date_range("2021-01-01", periods=24, freq="D", tz="UTC")
    table = pa.table({"id": ["a"] * 24 + ["b"] * 24, "ds": list(stamps) * 2, "y": np.arange(48, dtype=np.int32)})
    ds.write_dataset(table, tmp_path / "data", format="parquet", partitioning=["id"], partitioning_flavor="hive")
    frame = read_parquet(tmp_path / "data", series_column="id")
    assert list(frame.columns) == ["y"] and frame.dtypes["y"] == np.float64
    assert frame.index.get_level_values(1).tz is not None
    assert is_parquet(tmp_path / "data") and not is_parquet(tmp_path / "x.csv")


def test_errors_name_the_file_and_the_column(long_csv, tmp_path):
    fake = tmp_path / "fake.parquet"
    fake.write_text("time,y\n2021-01-01,1\n")
    with pytest.raises(DataError, match=r"fake\.parquet: is not a Parquet file"):
        read_parquet(fake)
    output = tmp_path / "stores.parquet"
    csv_to_parquet(long_csv, output, series_column="store")
    with pytest.raises(DataError, match=r"stores\.parquet: no column 'sale'.*Did you mean 'sales'"):
        read_parquet(output, series_column="store", value_columns=["sale"])
    with pytest.raises(DataError, match=r"no column 'shop' \(the 'series_column' parameter\)"):
        read_parquet(output, series_column="shop")
    typed = tmp_path / "typed.parquet"
    pq.write_table(pa.table({"time": pd.date_range("2021", periods=3, freq="h"), "y": ["1", "2", "x"]}), typed)
    with pytest.raises(DataError, match=r"typed\.parquet: column 'y' holds string values; expected numbers"):
        read_parquet(typed)
    with pytest.raises(DataError, match=r"column 'store' holds .*string values; expected numbers .*If it says which "
                                        r"series a row belongs to, pass it as series_column \(--series-column\)"):
        read_parquet(output)  # the series column, not named
    pq.write_table(pa.table({"time": [1, 2, 3], "y": [1.0, 2.0, 3.0]}), typed)
    with pytest.raises(DataError, match=r"column 'time' holds int64 values; expected timestamps"):
        read_parquet(typed, timestamp_column="time")
    pq.write_table(pa.table({"id": [0.5, 0.5], "time": pd.date_range("2021", periods=2, freq="h"), "y": [1.0, 2.0]}), typed)
    with pytest.raises(DataError, match=r"column 'id' holds double values; expected strings or integers"):
        read_parquet(typed, series_column="id")


def test_bad_values_name_the_row_of_the_file(tmp_path):
    path = tmp_path / "gaps.parquet"
    pq.write_table(pa.table({"time": pd.date_range("2021", periods=5, freq="h"), "y": [1.0, 2.0, None, 4.0, 5.0]}), path)
    with pytest.raises(DataError, match=r"gaps\.parquet: column 'y' has 1 missing value\(s\); the first is at row 3"):
        read_parquet(path)
    data = tmp_path / "data"
    for part, values in (("id=a", [1.0, 2.0, 3.0]), ("id=b", [1.0, float("inf"), 3.0])):
        (data / part).mkdir(parents=True)
        pq.write_table(pa.table({"time": pd.date_range("2021", periods=3, freq="h"), "y": values}), data / part / "0.parquet")
    with pytest.raises(DataError, match=r"infinite value \(inf\) at row 2 of id=b/0\.parquet"):
        read_parquet(data, series_column="id")
    with pytest.raises(DataError, match=r"infinite value \(inf\) at the row stamped 2021-01-01 01:00:00"):
        list(iter_series_batches(data, series_column="id", batch_series=1))


def test_convert_names_the_csv_line_of_a_bad_cell_and_writes_nothing(long_csv, tmp_path):
    lines = long_csv.read_text().splitlines()
    lines[50] = lines[50].rsplit(",", 1)[0] + ",cheap"
    long_csv.write_text("\n".join(lines) + "\n")
    output = tmp_path / "out.parquet"
    with pytest.raises(DataError, match=r"stores\.csv: column 'price' has a non-numeric value 'cheap' at line 51"):
        csv_to_parquet(long_csv, output, series_column="store", chunk_rows=10)
    assert not output.exists() and [p.name for p in tmp_path.iterdir()] == ["stores.csv"]


def test_convert_command_end_to_end(long_csv, tmp_path, capsys):
    output = tmp_path / "parts"
    code = main(["convert", str(long_csv), "--output", str(output), "--series-column", "store", "--partition-by-series",
                 "--chunk-rows", "50", "--columns", "sales"])
    assert code == 0, capsys.readouterr().err
    assert "wrote 120 rows (store, time, sales)" in capsys.readouterr().err
    pd.testing.assert_frame_equal(
        read_parquet(output, series_column="store"), read_csv(long_csv, series_column="store", value_columns=["sales"])
    )
    assert main(["convert", str(long_csv), "--output", str(output), "--series-column", "store", "--partition-by-series"]) == 2
    assert "already holds files" in capsys.readouterr().err
    assert main(["convert", str(long_csv), "--output", str(tmp_path / "x.parquet"), "--series-column", "shop"]) == 2
    assert "no column 'shop'" in capsys.readouterr().err


def test_forecast_reads_parquet_like_csv_and_bad_parquet_exits_2(long_csv, tmp_path, capsys):
    parquet = tmp_path / "stores.parquet"
    csv_to_parquet(long_csv, parquet, series_column="store")
    common = ["--series-column", "store", "--model", "gru", "--param", "training={epochs: 1}", "--columns", "sales",
              "--horizon", "4", "--threads", "1"]
    # A global model reads Parquet whole, as it reads a CSV.
    assert main(["forecast", str(parquet), *common[:2], "--model", "naive", "--columns", "sales", "--horizon", "4",
                 "--plot", str(tmp_path / "f.png"), "--output", str(tmp_path / "f.csv")]) == 0
    from_csv = tmp_path / "g.csv"
    assert main(["forecast", str(long_csv), *common[:2], "--model", "naive", "--columns", "sales", "--horizon", "4",
                 "--output", str(from_csv)]) == 0
    assert (tmp_path / "f.csv").read_text() == from_csv.read_text()
    fake = tmp_path / "fake.parquet"
    fake.write_bytes(b"not parquet at all")
    assert main(["forecast", str(fake), "--model", "naive", "--horizon", "2", "--output", str(tmp_path / "h.csv")]) == 2
    assert "fake.parquet: is not a Parquet file" in capsys.readouterr().err
    assert main(["forecast", str(parquet), "--series-column", "store", "--timestamp-column", "sales", "--model", "naive",
                 "--horizon", "2", "--output", str(tmp_path / "h.csv")]) == 2
    assert "column 'sales' holds double values; expected timestamps" in capsys.readouterr().err
    assert not (tmp_path / "h.csv").exists()


def test_parquet_in_a_pipeline_file(long_csv, tmp_path):
    from tsseq.config import DataConfig
    from tsseq.pipeline import load_frame

    csv_to_parquet(long_csv, tmp_path / "stores.parquet", series_column="store")
    frame = load_frame(DataConfig(csv="stores.parquet", series_column="store", target=["sales"]), tmp_path)
    pd.testing.assert_frame_equal(frame, read_csv(long_csv, series_column="store", value_columns=["sales"]))


def test_a_frame_saved_with_its_index_by_pandas_is_read_by_its_column_names(tmp_path):
    stamps = pd.date_range("2024-01-01", periods=30, freq="h", name="timestamp")
    frame = pd.concat([pd.DataFrame({"id": name, "value": np.arange(30.0) + k}, index=stamps) for k, name in enumerate("ab")])
    frame.to_parquet(tmp_path / "indexed.parquet")  # the timestamp index, as pandas writes it
    frame.reset_index().set_index(["id", "timestamp"]).to_parquet(tmp_path / "multi.parquet")
    expected = read_parquet(_written(frame.reset_index(), tmp_path / "plain.parquet"), series_column="id")
    for name in ("indexed.parquet", "multi.parquet"):  # a KeyError (exit 1) before
        pd.testing.assert_frame_equal(read_parquet(tmp_path / name, series_column="id"), expected)


def _written(frame: pd.DataFrame, path):
    frame.to_parquet(path, index=False)
    return path
