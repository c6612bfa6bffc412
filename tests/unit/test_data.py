import json

import pandas as pd
import pytest

from textclass.config.schema import CleaningConfig, DataConfig
from textclass.data.clean import clean_text
from textclass.data.prepare import prepare_data
from textclass.data.read import read_table
from textclass.errors import DataError


def _cfg(**kwargs) -> DataConfig:
    return DataConfig(**kwargs)


# ---------------------------------------------------------------- formats


@pytest.mark.parametrize("suffix", [".csv", ".tsv", ".json", ".jsonl", ".parquet"])
def test_every_format_reads_the_same_rows(tmp_path, rotten, suffix):
    frame = rotten.head(20)
    path = tmp_path / f"data{suffix}"
    if suffix == ".csv":
        frame.to_csv(path, index=False)
    elif suffix == ".tsv":
        frame.to_csv(path, index=False, sep="\t")
    elif suffix == ".json":
        frame.to_json(path, orient="records")
    elif suffix == ".jsonl":
        frame.to_json(path, orient="records", lines=True)
    else:
        frame.to_parquet(path)
    back = read_table(path)
    assert back["text"].tolist() == frame["text"].tolist()
    assert back["label"].tolist() == frame["label"].tolist()


def test_dataframes_from_python(rotten):
    sample = rotten.sample(200, random_state=0)
    data = prepare_data(_cfg(train="unused.csv"), seed=0, frames={"train": sample})
    assert sum(len(s) for s in data.splits.values()) == len(sample.drop_duplicates("text"))
    assert data.labels == ["fresh", "rotten"]


# ---------------------------------------------------------------- cleaning


def test_cleaning_normalises_text():
    cfg = CleaningConfig()
    raw = "Ｆｕｌｌ&amp;wide <b>bold</b>  see https://x.org/a?b=1 or mail me@site.com\n\tok"
    assert clean_text(raw, cfg) == "Full&wide bold see [URL] or mail [EMAIL] ok"
    assert clean_text(raw, CleaningConfig(enabled=False)) == raw


def test_duplicates_and_empty_texts_are_dropped_and_counted(tmp_path, rotten):
    frame = rotten.head(60).copy()
    extra = pd.DataFrame(
        {
            "text": [frame["text"].iloc[0], "   ", ""],
            "label": ["fresh", "rotten", "fresh"],
            "movie_name": ["x", "y", "z"],
        }
    )
    path = tmp_path / "train.csv"
    pd.concat([frame, extra]).to_csv(path, index=False)
    data = prepare_data(_cfg(train=path), seed=0)
    counts = data.stats["cleaning"]["train"]
    assert counts["empty_or_short_texts"] == 2
    assert counts["duplicates"] >= 1
    assert counts["kept"] == sum(len(s) for s in data.splits.values())


# ---------------------------------------------------------------- splits


def test_default_split_is_stratified_70_15_15(tmp_path, rotten):
    path = tmp_path / "train.csv"
    rotten.sample(1000, random_state=0)[["text", "label"]].to_csv(path, index=False)
    data = prepare_data(_cfg(train=path), seed=0)
    sizes = data.stats["sizes"]
    total = sum(sizes.values())
    assert abs(sizes["train"] / total - 0.70) < 0.02
    assert abs(sizes["test"] / total - 0.15) < 0.02
    share = {n: (s["label"] == "fresh").mean() for n, s in data.splits.items()}
    assert max(share.values()) - min(share.values()) < 0.03  # stratified
    again = prepare_data(_cfg(train=path), seed=0)
    assert again.splits["test"]["text"].tolist() == data.splits["test"]["text"].tolist()


def test_groups_never_straddle_splits(tmp_path, rotten):
    path = tmp_path / "train.csv"
    rotten.head(3000).to_csv(path, index=False)
    data = prepare_data(_cfg(train=path, group_column="movie_name"), seed=3)
    groups = {name: set(s["group"]) for name, s in data.splits.items()}
    assert not groups["train"] & groups["test"]
    assert not groups["train"] & groups["validation"]
    assert not groups["validation"] & groups["test"]


def test_bundled_dataset_uses_its_group_column():
    data = prepare_data(_cfg(dataset="rotten_tomatoes"), seed=42)
    assert data.columns.group == "movie_name"
    assert not set(data.splits["train"]["group"]) & set(data.splits["test"]["group"])


# ---------------------------------------------------------------- bad input


def test_missing_file(tmp_path):
    (tmp_path / "train.csv").write_text("text,label\na,b\n")
    with pytest.raises(DataError, match=r"not found.*trian\.csv.*Did you mean `train.csv`"):
        read_table(tmp_path / "trian.csv")


def test_empty_file(tmp_path):
    path = tmp_path / "empty.csv"
    path.write_text("")
    with pytest.raises(DataError, match="empty.csv is empty"):
        read_table(path)
    path.write_text("text,label\n")
    with pytest.raises(DataError, match="header .* but no rows"):
        read_table(path)


def test_missing_column_lists_columns_and_suggests(tmp_path):
    path = tmp_path / "train.csv"
    path.write_text("review,labels\ngood,pos\nbad,neg\n")
    with pytest.raises(DataError) as info:
        prepare_data(_cfg(train=path, text_column="reveiw"), seed=0)
    message = str(info.value)
    assert "no column `reveiw`" in message and "Did you mean `review`" in message
    assert "review, labels" in message and "data.text_column" in message


def test_malformed_csv_names_the_line(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("text,label\ngood film,fresh\nok,fine,extra,fields\n")
    with pytest.raises(DataError, match=r"bad.csv: malformed CSV .*line 3"):
        read_table(path)


def test_malformed_jsonl_names_the_line(tmp_path):
    path = tmp_path / "bad.jsonl"
    lines = [
        json.dumps({"text": "a", "label": "x"}),
        json.dumps({"text": "b", "label": "y"}),
        "{oops",
    ]
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError, match=r"bad.jsonl, line 3: not valid JSON"):
        read_table(path)


def test_non_utf8_names_line_and_fix(tmp_path):
    path = tmp_path / "latin.csv"
    path.write_bytes("text,label\ngood,pos\ncaf\xe9 noir,neg\n".encode("latin-1"))
    with pytest.raises(
        DataError, match=r"not valid utf-8 text at line 3, column 4 \(byte 0xe9\).*data.encoding"
    ):
        read_table(path)
    frame = read_table(path, encoding="latin-1")
    assert frame["text"].iloc[1] == "café noir"


def test_all_empty_texts_fail(tmp_path):
    path = tmp_path / "train.csv"
    pd.DataFrame({"text": ["", " ", ""], "label": ["a", "b", "a"]}).to_csv(path, index=False)
    with pytest.raises(DataError, match="all 3 texts .* are empty"):
        prepare_data(_cfg(train=path), seed=0)


def test_single_class_fails(tmp_path, rotten):
    path = tmp_path / "train.csv"
    rotten[rotten["label"] == "fresh"].head(50).to_csv(path, index=False)
    with pytest.raises(DataError, match="every training row has the label `fresh`"):
        prepare_data(_cfg(train=path), seed=0)


def test_unseen_label_in_test_fails(rotten_files):
    test = pd.read_csv(rotten_files["test"])
    test.loc[0, "label"] = "mixed"
    test.to_csv(rotten_files["test"], index=False)
    cfg = _cfg(**{k: v for k, v in rotten_files.items()})
    with pytest.raises(DataError, match=r"test.csv: label\(s\) 'mixed' never occur in training"):
        prepare_data(cfg, seed=0)


# ---------------------------------------------------------------- multi-label data


def test_multi_label_from_delimited_csv_and_json_lists(tmp_path):
    rows = [("t1 good", "a|b"), ("t2 fine", "b"), ("t3 ok", ""), ("t4 so so", "a")] * 10
    frame = pd.DataFrame(rows, columns=["text", "tags"])
    frame["text"] = [f"{t} {i}" for i, t in enumerate(frame["text"])]
    csv = tmp_path / "d.csv"
    frame.to_csv(csv, index=False)
    data = prepare_data(DataConfig(train=csv, label_column="tags", label_delimiter="|"), seed=0)
    assert data.task == "multi_label" and data.labels == ["a", "b"]
    every = pd.concat(data.splits.values())
    assert sorted(map(tuple, every["label"])) == sorted(
        [("a", "b")] * 10 + [("b",)] * 10 + [()] * 10 + [("a",)] * 10
    )
    jsonl = tmp_path / "d.jsonl"
    frame.assign(tags=[t.split("|") if t else [] for t in frame["tags"]]).to_json(
        jsonl, orient="records", lines=True
    )
    again = prepare_data(DataConfig(train=jsonl, label_column="tags"), seed=0)
    assert again.task == "multi_label"  # detected from the JSON lists
    assert again.targets("train").shape[1] == 2


def test_list_labels_in_a_single_label_task_are_an_error(tmp_path):
    path = tmp_path / "d.jsonl"
    pd.DataFrame({"text": ["a", "b"], "label": [["x"], ["y"]]}).to_json(
        path, orient="records", lines=True
    )
    with pytest.raises(DataError, match=r"row 1: .*list of labels.*data.task=multi_label"):
        prepare_data(DataConfig(train=path, task="single_label"), seed=0)


def test_iterative_stratification_keeps_rare_labels_in_every_split():
    data = prepare_data(DataConfig(dataset="trec_multilabel"), seed=0)
    assert len(data.labels) == 56
    counts = data.stats["class_counts"]
    # Labels with at least 12 examples appear in every split, in about their share.
    total = {k: sum(counts[s].get(k, 0) for s in counts) for k in data.labels}
    for label in (k for k, v in total.items() if v >= 12):
        for split in ("validation", "test"):
            assert counts[split].get(label, 0) >= 1, (label, split)
        share = counts["train"][label] / total[label]
        assert 0.6 <= share <= 0.8, (label, share)
