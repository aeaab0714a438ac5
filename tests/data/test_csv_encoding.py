"""The CSV reader's encodings: UTF-16/UTF-32 files with a byte-order mark read as UTF-8 ones; other bytes are named."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from tsseq.cli import main
from tsseq.data.convert import csv_to_parquet
from tsseq.data.csv import read_csv
from tsseq.data.parquet import read_parquet
from tsseq.errors import DataError

TEXT = "date;température;b\n" + "".join(f"2024-01-{day:02d} 00:00;{day},5;{day * 2}\n" for day in range(1, 21))


def written(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


@pytest.mark.parametrize(
    "name, data",
    [
        ("utf8_bom.csv", TEXT.encode("utf-8-sig")),
        ("utf16_le.csv", TEXT.replace("\n", "\r\n").encode("utf-16")),  # Excel's "Unicode text": LE, CRLF
        ("utf16_be.csv", b"\xfe\xff" + TEXT.encode("utf-16-be")),
        ("utf32_le.csv", TEXT.encode("utf-32")),
    ],
)
def test_a_file_with_a_byte_order_mark_reads_as_the_utf8_file(tmp_path: Path, name: str, data: bytes) -> None:
    expected = read_csv(written(tmp_path, "utf8.csv", TEXT.encode("utf-8")))
    assert list(expected.columns) == ["température", "b"] and expected.iloc[0, 0] == 1.5  # ; and decimal , detected
    pd.testing.assert_frame_equal(read_csv(written(tmp_path, name, data)), expected)
    converted = csv_to_parquet(tmp_path / name, tmp_path / f"{name}.parquet", chunk_rows=7)
    pd.testing.assert_frame_equal(read_parquet(converted.path), expected)


def test_binary_data_is_still_refused_as_binary(tmp_path: Path) -> None:
    path = written(tmp_path, "image.csv", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)) * 8)
    with pytest.raises(DataError, match=r"image\.csv: holds binary data, not text"):
        read_csv(path)
    unmarked = written(tmp_path, "unmarked.csv", TEXT.encode("utf-16-le"))  # UTF-16 without its mark
    with pytest.raises(DataError, match="If it is UTF-16 text without a byte-order mark, re-save it as UTF-8"):
        read_csv(unmarked)


def test_latin1_bytes_name_the_file_the_byte_and_the_line_and_say_how_to_resave(tmp_path: Path, capsys) -> None:
    header = written(tmp_path, "latin.csv", TEXT.encode("latin-1"))
    with pytest.raises(DataError) as caught:
        read_csv(header)
    message = str(caught.value)
    assert f"{header}: is not utf-8 text: byte 9 (line 1, the header) is 0xe9" in message, message
    assert 'in "date;temp\\xe9rature;b"' in message and "Re-save the file as UTF-8" in message
    assert read_csv(header, encoding="latin-1").columns[0] == "température"  # the Python way out

    plain = TEXT.replace("température", "temperature").encode("utf-8")
    path = written(tmp_path, "late.csv", plain.replace(b"20,5;40", b"20,5\xb0;40"))  # Latin-1 degree sign, line 21 only
    offset = path.read_bytes().index(b"\xb0")
    for arguments in (["detect", str(path), "--output", str(tmp_path / "s.csv")],
                      ["convert", str(path), "--output", str(tmp_path / "x.parquet"), "--chunk-rows", "5"]):  # fmt: skip
        assert main(arguments) == 2
        error = capsys.readouterr().err
        assert f"late.csv: is not utf-8 text: byte {offset} (line 21) is 0xb0" in error, error
    assert not (tmp_path / "x.parquet").exists() and not (tmp_path / "s.csv").exists()
