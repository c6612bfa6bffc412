"""Files as users have them: BOMs, UTF-16 from Excel, `;`-separated CSV, stray quotes in TSV."""

from __future__ import annotations

import gzip

import pandas as pd
import pytest

from textclass.data.read import read_chunks, read_columns, read_table
from textclass.errors import DataError

FRAME = pd.DataFrame(
    {
        "text": ["a fine film", 'he said "wow", twice', "multi\nline; text", "plain"],
        "label": ["pos", "neg", "neg", "pos"],
    }
)


def _same(frame: pd.DataFrame) -> None:
    assert frame.columns.tolist() == ["text", "label"]
    assert frame.to_dict("records") == FRAME.to_dict("records")


@pytest.mark.parametrize("encoding", ["utf-16", "utf-8-sig"])
def test_a_byte_order_mark_decides_the_encoding(tmp_path, encoding):
    """Excel's "Unicode text" is UTF-16 with a BOM; its "CSV UTF-8" starts with a UTF-8 BOM."""
    path = tmp_path / "excel.csv"
    path.write_bytes(FRAME.to_csv(index=False).encode(encoding))
    _same(read_table(path))
    assert read_columns(path) == ["text", "label"]
    gz = tmp_path / "excel.tsv.gz"
    gz.write_bytes(gzip.compress(FRAME.to_csv(index=False, sep="\t").encode(encoding)))
    _same(pd.concat(read_chunks(gz, chunk_size=2), ignore_index=True))


def test_jsonl_with_a_utf8_bom(tmp_path):
    path = tmp_path / "data.jsonl"
    path.write_bytes(FRAME.to_json(orient="records", lines=True).encode("utf-8-sig"))
    _same(read_table(path))


@pytest.mark.parametrize("sep", [";", "\t", "|"])
def test_a_csv_whose_header_has_no_comma_is_read_with_its_separator(tmp_path, sep, caplog):
    path = tmp_path / "european.csv"
    path.write_text(FRAME.to_csv(index=False, sep=sep), encoding="utf-8")
    with caplog.at_level("INFO"):
        _same(read_table(path))
    assert f"read as {sep!r}-separated" in caplog.text
    assert read_columns(path) == ["text", "label"]


def test_stray_quotes_in_a_tsv_are_kept_and_swallow_no_rows(tmp_path, caplog):
    path = tmp_path / "tweets.tsv"
    path.write_text(
        'text\tlabel\n"Wow" he said\tpos\n"unbalanced start\tneg\nnice\tneg\n', encoding="utf-8"
    )
    with caplog.at_level("INFO"):
        frame = read_table(path)
    assert frame["text"].tolist() == ['"Wow" he said', '"unbalanced start', "nice"]
    assert frame["label"].tolist() == ["pos", "neg", "neg"]
    assert "read as plain characters" in caplog.text


def test_a_quoted_tsv_still_reads_its_quoted_fields(tmp_path):
    """pandas and Excel quote fields holding tabs, quotes or line breaks: those stay quoting.
    (A field holding both a tab and a line break reads as rows taken in by a stray quote.)"""
    frame = FRAME.assign(text=[*FRAME["text"][:3], "a\ttab"])
    path = tmp_path / "quoted.tsv"
    frame.to_csv(path, index=False, sep="\t")
    assert read_table(path).to_dict("records") == frame.to_dict("records")


def test_a_spreadsheet_gets_a_save_as_csv_message(tmp_path):
    path = tmp_path / "sheet.xlsx"
    path.write_bytes(b"PK\x03\x04")
    with pytest.raises(DataError, match="Save the sheet as CSV"):
        read_table(path)


# ---------------------------------------------------------------- columns and labels


def _standardise(frame: pd.DataFrame):
    from textclass.config.schema import CleaningConfig
    from textclass.data.prepare import Columns, standardise

    return standardise(frame, Columns(), "file.csv", CleaningConfig())


def test_column_names_differing_only_in_case_or_spaces_are_found(caplog):
    frame = FRAME.rename(columns={"text": "Text", "label": " Label "})
    with caplog.at_level("INFO"):
        out, _ = _standardise(frame)
    assert out["text"].tolist() == FRAME["text"].str.replace("\n", " ").tolist()
    assert "using column ` Label ` for data.label_column=label" in caplog.text


def test_a_file_without_header_is_named_as_such():
    first = ["I loved every minute of this film, truly wonderful stuff", "pos"]
    frame = pd.DataFrame([["meh", "neg"]], columns=first)
    with pytest.raises(DataError, match="looks like data, not a header"):
        _standardise(frame)


def test_the_likely_text_column_is_suggested():
    frame = FRAME.rename(columns={"text": "review", "label": "sentiment"})
    with pytest.raises(DataError, match="longest texts is `review`"):
        _standardise(frame)


def test_spaces_around_labels_are_removed_and_counted_and_case_variants_warned(caplog):
    frame = FRAME.assign(label=["pos ", "neg", "Neg", " pos"])
    with caplog.at_level("WARNING"):
        out, counts = _standardise(frame)
    assert out["label"].tolist() == ["pos", "neg", "Neg", "pos"]
    assert counts["labels_stripped"] == 2
    assert "removed spaces (or invisible characters) around 2 label(s)" in caplog.text
    assert "Neg / neg" in caplog.text


# ---------------------------------------------------------------- found in review


def test_a_first_row_with_an_extra_field_is_an_error_not_a_shifted_table(tmp_path):
    """pandas would take the first column for an index and shift every text into `label`."""
    path = tmp_path / "c.csv"
    path.write_text("text,label\nhello, world,pos\nbad film,neg\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"expected 2 fields in line 2, saw 3"):
        read_table(path)
    with pytest.raises(DataError, match=r"line 2"):
        list(read_chunks(path))


def test_a_stray_quote_past_the_sniffed_sample_swallows_no_rows(tmp_path):
    rows = [f"row {i} some filler text to make the file long\tpos" for i in range(30_000)]
    rows[20_000] = '"unbalanced start\tneg'
    rows[20_100] = 'ends with a quote"\tneg'
    path = tmp_path / "mid.tsv"
    path.write_text("text\tlabel\n" + "\n".join(rows) + "\n", encoding="utf-8")
    frame = read_table(path)
    assert len(frame) == 30_000
    assert frame["text"][20_000] == '"unbalanced start'
    with pytest.raises(DataError, match="data row 20001: a quote"):
        list(read_chunks(path, chunk_size=5_000))


def test_zip_archives_from_finder_and_with_several_files(tmp_path):
    import zipfile

    mac = tmp_path / "mac.csv.zip"
    with zipfile.ZipFile(mac, "w") as archive:
        archive.writestr("data.csv", FRAME.to_csv(index=False))
        archive.writestr("__MACOSX/._data.csv", b"\x00\x05\x16\x07")
    _same(read_table(mac))
    two = tmp_path / "two.csv.zip"
    with zipfile.ZipFile(two, "w") as archive:
        archive.writestr("a.csv", "text,label\n")
        archive.writestr("b.csv", "text,label\n")
    with pytest.raises(DataError, match="exactly one data file; it holds 2: a.csv, b.csv"):
        read_table(two)


def test_jsonl_numbers_stay_as_written(tmp_path):
    path = tmp_path / "ids.jsonl"
    path.write_text(
        '{"text": "a", "id": 1, "big": 12345678901234567}\n{"text": "b", "id": null}\n',
        encoding="utf-8",
    )
    frame = read_table(path)
    assert frame["id"].tolist()[0] == 1 and isinstance(frame["id"][0], int)
    assert frame["big"][0] == 12345678901234567


def test_training_on_a_spreadsheet_says_save_as_csv(monkeypatch, capsys, tmp_path):
    from tests.conftest import run_cli

    sheet = tmp_path / "sheet.xlsx"
    sheet.write_bytes(b"PK\x03\x04" + bytes(range(256)))
    code, _, err = run_cli(monkeypatch, capsys, "train", str(sheet))
    assert code == 2
    assert "Save the sheet as CSV" in err
