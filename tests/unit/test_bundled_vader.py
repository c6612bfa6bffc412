"""The bundled VADER regression set: shape, target, and the row counts PROVENANCE.md states."""

from __future__ import annotations

import re
from importlib import resources

import pandas as pd
import pytest

from textclass.data import datasets

SOURCES = {"tweets", "movie_reviews", "amazon_reviews", "nyt_editorials"}


def _provenance_section() -> str:
    text = (resources.files("textclass.data") / "bundled" / "PROVENANCE.md").read_text("utf-8")
    return text.split("## `vader.csv.gz`", 1)[1].split("\n## ", 1)[0]


def _stated(label: str) -> int:
    """A count stated in PROVENANCE.md's vader section as `**<label>: 12,345**`."""
    match = re.search(rf"\*\*{re.escape(label)}: ([\d,]+)\*\*", _provenance_section())
    assert match, f"PROVENANCE.md states no `**{label}: N**`"
    return int(match.group(1).replace(",", ""))


@pytest.fixture(scope="module")
def vader() -> pd.DataFrame:
    return datasets.load("vader")


def test_registered_as_regression():
    spec = datasets.get("vader")
    assert spec.task == "regression"
    assert spec.label_column == "score"
    assert spec.group_column is None


def test_columns_and_dtypes(vader):
    assert list(vader.columns) == ["text", "score", "source"]
    assert pd.api.types.is_float_dtype(vader["score"])
    assert set(vader["source"]) == SOURCES
    assert (vader["text"].str.strip() != "").all()


def test_score_is_a_mean_rating_on_the_vader_scale(vader):
    assert vader["score"].notna().all()
    assert vader["score"].between(-4, 4).all()
    assert vader["score"].min() < -3.5 and vader["score"].max() > 3.5  # both ends are used


def test_no_repeated_texts(vader):
    assert not vader["text"].duplicated().any()


def test_row_counts_match_provenance(vader):
    assert len(vader) == _stated("rows")
    counts = vader["source"].value_counts()
    for source in SOURCES:
        assert counts[source] == _stated(source), source
