"""Every text cleaning changed is counted per rule: in data.json, the report and the console."""

import json
import logging
import unicodedata

import pandas as pd

import textclass
from tests.conftest import tiny_overrides
from textclass.config.load import load_config
from textclass.data import datasets


def test_cleaning_counts_reach_data_json_the_report_and_the_console(
    tmp_path, tiny_model_dir, caplog
):
    sms = datasets.load("sms_spam")
    placeholders = sms[sms["text"].str.contains("&lt;", regex=False)].head(20)
    untouched = sms["text"].map(lambda t: t == " ".join(unicodedata.normalize("NFKC", t).split()))
    plain = sms[untouched & ~sms["text"].str.contains(r"[<&@]|https?:|www\.", regex=True)]
    plain = plain.groupby("label", group_keys=False).head(40)
    markup = pd.DataFrame(
        {"text": ["<p>Free entry <b>now</b></p>", "see you<br/>later"], "label": ["spam", "ham"]}
    )
    frame = pd.concat([placeholders, plain, markup], ignore_index=True)
    path = tmp_path / "train.csv"
    frame.to_csv(path, index=False)
    cfg = load_config(
        base={"name": "cleaning"},
        overrides=[
            f"data.train={path}",
            *tiny_overrides(tiny_model_dir, tmp_path / "runs"),
            "train.max_steps=1",
        ],
    )
    with caplog.at_level(logging.INFO, logger="textclass"):
        result = textclass.train(cfg)

    data = json.loads((result.run_dir / "data.json").read_text())
    changed = data["cleaning"]["train"]["changed_by_cleaning"]
    assert changed["html"] == len(placeholders) + len(markup) == 22
    assert changed["emails"] == changed["urls"] == changed["unicode_nfkc"] == 0
    assert changed["any"] == len(frame) - len(plain)
    report = (result.run_dir / "report.md").read_text()
    assert "Texts changed by each cleaning rule" in report
    assert "| train | 0 | 22 | 0 | 0 |" in report
    assert "cleaning changed 22 of" in caplog.text and "(html 22" in caplog.text
