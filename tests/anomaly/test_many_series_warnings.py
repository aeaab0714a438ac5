"""`tsseq detect --series-column`: a warning of one series' detector names that series; a series too short is
written unscored, series may differ in frequency, and notes alike of many series are said once."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tsseq.cli import main


def test_a_warning_of_one_series_detector_names_the_series(tmp_path: Path, capsys) -> None:
    rng = np.random.default_rng(0)
    index = pd.date_range("2024-01-01", periods=300, freq="h", name="time")
    parts = []
    for station, flat in (("A", False), ("B", True), ("C", True)):
        level = np.full(300, 3.0) if flat else rng.normal(size=300)
        parts.append(pd.DataFrame({"station": station, "x": rng.normal(size=300), "y": level}, index=index))
    pd.concat(parts).to_csv(tmp_path / "panel.csv")
    with pytest.warns(UserWarning) as caught:
        code = main(["detect", str(tmp_path / "panel.csv"), "--series-column", "station", "--detector", "ar_residual",
                     "--window", "24", "--output", str(tmp_path / "scores.csv")])  # fmt: skip
    assert code == 0, capsys.readouterr().err
    said = [str(warning.message) for warning in caught if "are constant in the training data" in str(warning.message)]
    # B's and C's constant channel, said once: B named, C counted (the same warning of the same line).
    assert len(said) == 1 and "panel.csv: series 'B' and 1 later fit: 1 channel(s) are constant" in said[0], said


def _panel(path: Path, series: dict[str, tuple[int, str]], seed: int = 0) -> Path:
    """A long CSV (columns station, time, x): each station's (rows, frequency), AR(1) values of its own."""
    rng = np.random.default_rng(seed)
    parts = []
    for station, (rows, freq) in series.items():
        noise = rng.normal(size=rows)
        values = np.empty(rows)
        values[0] = noise[0]
        for t in range(1, rows):
            values[t] = 0.6 * values[t - 1] + noise[t]
        parts.append(pd.DataFrame({"station": station, "time": pd.date_range("2024-01-01", periods=rows, freq=freq),
                                   "x": values}))  # fmt: skip
    pd.concat(parts).to_csv(path, index=False)
    return path


def _detect(data: Path, output: Path, *options: str) -> int:
    return main(["detect", str(data), "--series-column", "station", "--detector", "ar_residual", "--window", "24",
                 *options, "--output", str(output)])  # fmt: skip


def test_a_series_too_short_for_the_detector_is_written_unscored_and_named_in_one_warning(tmp_path, capsys) -> None:
    panel = _panel(tmp_path / "panel.csv", {"A": (300, "h"), "B": (300, "h"), "C": (5, "h"), "D": (40, "h")})
    output = tmp_path / "scores.csv"
    with pytest.warns(UserWarning) as caught:
        code = _detect(panel, output)
    assert code == 0, capsys.readouterr().err
    said = [str(warning.message) for warning in caught if "not scored" in str(warning.message)]
    assert said == [
        f"{panel}: 2 of 4 series not scored, too short; their rows are written without scores: 'C' (5 rows), 'D' (40 "
        "rows), under the 49 rows each needs: detector 'ar_residual' trains on at least 48 rows (10 of them held out "
        "for its validation scores, validation_fraction=0.2) and scores the rows after them."
    ]
    scores = pd.read_csv(output)
    unscored = scores[scores["station"].isin(["C", "D"])]
    assert len(unscored) == 45 and unscored["score"].isna().all() and unscored["threshold"].isna().all()
    assert scores["is_anomaly"].dtype == bool and not unscored["is_anomaly"].any()  # as the training rows are written
    given = pd.read_csv(panel).rename(columns={"time": "timestamp"})
    pd.testing.assert_frame_equal(unscored[["station", "timestamp", "x"]].reset_index(drop=True),
                                  given.query("station in ['C', 'D']").reset_index(drop=True))  # fmt: skip
    # the others scored as without them
    alone = _panel(tmp_path / "alone.csv", {"A": (300, "h"), "B": (300, "h")})
    assert _detect(alone, tmp_path / "alone_scores.csv") == 0
    scored = scores[scores["station"].isin(["A", "B"])].reset_index(drop=True)
    pd.testing.assert_frame_equal(scored, pd.read_csv(tmp_path / "alone_scores.csv"), check_exact=True)


def test_the_python_api_and_parquet_batches_skip_a_short_series_as_the_cli_does(tmp_path: Path) -> None:
    from tsseq.anomaly.config import DetectionConfig, DetectorConfig
    from tsseq.anomaly.many import detect_many
    from tsseq.config import DataConfig

    panel = _panel(tmp_path / "panel.csv", {"A": (4, "h"), "B": (300, "h"), "C": (300, "h")})
    parquet = tmp_path / "panel.parquet"
    pd.read_csv(panel, parse_dates=["time"]).to_parquet(parquet, index=False)
    results = {}
    for name, data in (("csv", panel), ("parquet", parquet)):
        config = DetectionConfig(name="panel", data=DataConfig(csv=str(data), series_column="station"),
                                 detector=DetectorConfig("ar_residual", {}), window=24)  # fmt: skip
        output = tmp_path / f"scores_{name}.parquet"
        with pytest.warns(UserWarning, match=r"1 of 3 series not scored, too short; .*'A' \(4 rows\)"):
            # one series a batch: the first batch, A's alone, has no scores to give the columns
            result = detect_many(config, output, batch_series=1)
        assert (result.skipped, result.series, result.rows, result.batches) == (("A",), 3, 604, 3)
        results[name] = pd.read_parquet(output)
    pd.testing.assert_frame_equal(results["csv"], results["parquet"], check_exact=True)
    scores = results["csv"]
    assert scores["station"].tolist() == ["A"] * 4 + ["B"] * 300 + ["C"] * 300  # in the input's order
    assert scores["is_anomaly"].dtype == bool and scores["score"].dtype == np.float64
    assert scores["score"].iloc[:4].isna().all() and scores["score"].iloc[4:].notna().any()


def test_a_job_none_of_whose_series_is_long_enough_fails_with_exit_2(tmp_path: Path, capsys) -> None:
    panel = _panel(tmp_path / "panel.csv", {"A": (5, "h"), "B": (7, "h")})
    output = tmp_path / "scores.csv"
    assert _detect(panel, output) == 2
    assert (f"{panel}: none of its 2 series can be scored, all too short: 'A' (5 rows), 'B' (7 rows), under the 49 "
            "rows each needs: detector 'ar_residual' trains on at least 48 rows") in capsys.readouterr().err
    assert not output.exists()


def test_series_of_different_frequencies_are_each_scored_on_their_own_timestamps(tmp_path: Path, capsys) -> None:
    panel = _panel(tmp_path / "panel.csv", {"A": (300, "h"), "B": (300, "30min"), "C": (200, "D")})
    output = tmp_path / "scores.csv"
    code = _detect(panel, output)
    assert code == 0, capsys.readouterr().err
    scores = pd.read_csv(output)
    given = pd.read_csv(panel).rename(columns={"time": "timestamp"})
    pd.testing.assert_frame_equal(scores[["station", "timestamp", "x"]], given)  # carried through as they are
    # each as it is scored alone
    alone = tmp_path / "alone.csv"
    pd.read_csv(panel).query("station == 'B'").to_csv(alone, index=False)
    assert _detect(alone, tmp_path / "alone_scores.csv") == 0
    by_itself = pd.read_csv(tmp_path / "alone_scores.csv")
    pd.testing.assert_frame_equal(scores.query("station == 'B'").reset_index(drop=True), by_itself, check_exact=True)


def test_with_many_series_alike_notes_are_said_once_naming_the_series(tmp_path: Path, capsys) -> None:
    # yearly series of 100 to 105 rows: each trains on more rows than train_fraction's and on a shorter window
    panel = _panel(tmp_path / "panel.csv", {name: (100 + k, "YS") for k, name in enumerate("ABCDEF")})
    code = main(["detect", str(panel), "--series-column", "station", "--detector", "ar_residual",
                 "--output", str(tmp_path / "scores.csv")])  # fmt: skip
    error = capsys.readouterr().err
    assert code == 0, error
    assert ("panel: series 'A' and 5 more alike ('B', 'C', 'D', 'E', 'F'): short series: trained on the first 48 "
            "rows, not train_fraction=0.3's 30") in error
    assert "series 'B': short series" not in error
    assert error.count("short series: window") == 1


def test_notes_of_one_or_a_few_series_are_said_as_they_are() -> None:
    from tsseq.anomaly.many import SeriesNote, summarised

    one = [SeriesNote("A", "auto: a report, threshold 1.5"), SeriesNote("A", "threshold: 3 of the 4 rows")]
    assert summarised(one) == ["auto: a report, threshold 1.5", "series 'A': threshold: 3 of the 4 rows"]
    few = [SeriesNote(name, f"threshold: {k} of the 4 rows") for k, name in enumerate("ABC")]
    assert summarised(few) == [f"series {name!r}: threshold: {k} of the 4 rows" for k, name in enumerate("ABC")]
    # a note about the job, not a series, the same for every series: once, as for one series
    same = [SeriesNote(name, "detector 'x' gives no per-channel contributions") for name in "ABCDEFG"]
    assert summarised(same) == ["detector 'x' gives no per-channel contributions"]
    many = [SeriesNote(name, f"auto: threshold {k}.5") for k, name in enumerate("ABCDEFG")]
    assert summarised(many) == ["series 'A' and 6 more alike ('B', 'C', 'D', 'E', 'F' and 1 more): auto: threshold 0.5"]


def test_the_notes_of_many_batches_are_kept_once_each_without_comparing_each_to_all(tmp_path: Path) -> None:
    from tsseq.streaming_jobs import write_counted

    class Note(str):
        compared = 0

        def __eq__(self, other: object) -> bool:  # a list's `in` compares each note to all: quadratic in the series
            Note.compared += 1
            return str.__eq__(self, other)

        __hash__ = str.__hash__

    frame = pd.DataFrame({"station": ["A"], "x": [1.0]})
    batches = [(frame, [Note(f"series {k}: a note") for k in range(100 * b, 100 * b + 100)] + [Note("once")], 100, None)
               for b in range(3)]  # fmt: skip
    counts = write_counted(tmp_path / "scores.csv", batches, parquet=False, index=False)
    assert Note.compared < 10  # the repeated note's, not 300 * 300 / 2
    assert counts["notes"] == (*[f"series {k}: a note" for k in range(100)], "once",
                               *[f"series {k}: a note" for k in range(100, 300)])  # fmt: skip
