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
    """pandas and Excel quote fields holding tabs, quotes or line breaks: those stay quoting."""
    frame = FRAME.assign(text=FRAME["text"].str.replace(";", "\t"))
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
