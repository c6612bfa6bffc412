"""The cheap checks' record in a run: the leakage finding of the diagnosis, and the Data
section's summary of it."""

import pandas as pd
import pytest

from textclass.config.schema import DataConfig
from textclass.data.prepare import prepare_data
from textclass.diagnosis.rules import check_integrity
from textclass.reporting.render import render_markdown
from textclass.reporting.sections import audit as section

LEAKED = "The acting alone is worth the price of admission, and then some."


@pytest.fixture(scope="module")
def stats(rotten):
    pool = rotten.drop_duplicates("text").sample(n=160, random_state=4).reset_index(drop=True)
    test = pd.concat([pool[120:], pd.DataFrame({"text": [LEAKED + "!"], "label": ["fresh"]})])
    train = pd.concat([pool[:100], pd.DataFrame({"text": [LEAKED], "label": ["fresh"]})])
    frames = {"train": train, "validation": pool[100:120], "test": test}

    def run(**settings):
        cfg = DataConfig(dataset="rotten_tomatoes", group_column="movie_name", **settings)
        return prepare_data(cfg, 0, {k: v.copy() for k, v in frames.items()}).stats

    return run


def test_leakage_is_a_finding_unless_dropped(stats):
    findings = check_integrity({}, stats())
    overlap = [f for f in findings if f.check == "split_overlap"]
    assert len(overlap) == 1 and overlap[0].severity == "warn"
    assert "test: 1 text(s)" in overlap[0].evidence and "data.leakage=drop" in (
        overlap[0].recommendation
    )
    assert not [f for f in check_integrity({}, stats(leakage="drop")) if f.check == "split_overlap"]


def test_a_run_from_before_the_audit_still_gets_the_exact_check():
    old = {"cross_split_duplicates": {"validation": 0, "test": 2}}
    assert [f.check for f in check_integrity({}, old)] == ["split_overlap"]


def test_the_data_section_summarises_the_audit(stats):
    blocks = section.blocks({"data": stats()})
    text = render_markdown(blocks, "report_files", {})
    assert "### Data audit" in text and "Jaccard similarity of at least 0.5" in text
    assert LEAKED in text  # the leaking pair with both texts
    assert "data.leakage=warn: 1 training row(s) that duplicate a held-out text kept" in text
    dropped = render_markdown(section.blocks({"data": stats(leakage="drop")}), "f", {})
    assert "data.leakage=drop: 1 training row(s) removed" in dropped


@pytest.mark.parametrize(("dataset", "conflicts"), [("trec_multilabel", True), ("vader", False)])
def test_every_task_records_the_cheap_checks(dataset, conflicts):
    data = prepare_data(DataConfig(dataset=dataset, max_samples=1500), seed=0)
    audit = data.stats["audit"]
    assert audit["stats"]["texts"] == sum(len(f) for f in data.splits.values())
    assert ("pairs" in audit["label_conflicts"]) is conflicts
    if not conflicts:
        assert "regression" in audit["label_conflicts"]["skipped"]
    text = render_markdown(section.blocks({"data": data.stats}), "f", {})
    assert "### Data audit" in text
