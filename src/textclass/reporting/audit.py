"""The audit report: audit.json rendered as audit.md (figures in report_files/) and one
self-contained audit.html. Reads audit.json only; torch-free like every report."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from textclass.reporting.format import Block, fmt, short
from textclass.reporting.render import write_rendered
from textclass.reporting.sections.audit import (
    TEXT_CHECKS,
    conflicts_line,
    duplicates_table,
    pairs_table,
    texts_line,
)
from textclass.workflows import rundir

SHOWN = 30  # rows of each table (audit.json keeps more; --export-issues all)


def audit_blocks(report: dict[str, Any]) -> list[Block]:
    sizes = ", ".join(f"{k} {v:,}" for k, v in report["sizes"].items())
    sources = "; ".join(f"{k}: {v}" for k, v in report["data"]["sources"].items())
    b: list[Block] = [
        ("h1", f"Data audit: {report.get('name') or 'data'}"),
        (
            "p",
            f"{report['data']['task']} data from {sources}, cleaned and split as `textclass "
            f"train` would ({sizes}); nothing was changed. Row numbers are positions in each "
            "split as prepared.",
        ),
    ]
    b += _balance(report)
    b += _lengths(report["lengths"])
    b += _duplicates(report["duplicates"])
    b += _label_errors(report["label_errors"])
    b += _texts(report["duplicates"])
    return b


def _balance(report: dict[str, Any]) -> list[Block]:
    balance = report["balance"]
    b: list[Block] = [("h2", "Classes")]
    if "targets" in balance:
        keys = ("min", "p25", "median", "p75", "max")
        rows = [[s, *(fmt(t[k]) for k in keys)] for s, t in balance["targets"].items()]
        return [*b, ("table", ["split", *keys], rows)]
    splits = list(balance["counts"])
    labels = list(dict.fromkeys(k for c in balance["counts"].values() for k in c))
    rows = [
        [label]
        + [
            f"{balance['counts'][s].get(label, 0):,} ({balance['shares'][s].get(label, 0):.1%})"
            for s in splits
        ]
        for label in labels[:60]
    ]
    rows.append(["**imbalance ratio**", *(fmt(balance["imbalance_ratio"][s]) for s in splits)])
    b.append(("table", ["class", *splits], rows))
    missing = {s: m for s, m in balance["missing"].items() if m}
    if missing:
        where = "; ".join(f"{s}: {', '.join(m[:10])}" for s, m in missing.items())
        b.append(("p", f"Training classes absent from a split: {where}."))
    return b


def _lengths(lengths: dict[str, Any]) -> list[Block]:
    cap = lengths["max_length"]
    headers = ["split", "texts", "mean", "median", "p95", "max"]
    if cap is not None:
        headers += [f"longer than {cap}", "share cut off"]
    rows = []
    for split, v in lengths["splits"].items():
        row = [split, fmt(v["texts"]), f"{v['mean']:.1f}", v["p50"], v["p95"], v["max"]]
        if cap is not None:
            row += [f"{v['longer']:,} ({v['longer_share']:.1%})", f"{v['lost_share']:.1%}"]
        rows.append(row)
    text = f"Lengths in {lengths['unit']}"
    if cap is not None:
        text += f", against model.max_length {cap}"
        if lengths.get("reason"):
            text += f" ({lengths['reason']}; `{lengths['truncation']}` cuts what is longer)"
        text += ". `share cut off`: the share of all tokens beyond max_length"
    return [("h2", "Text lengths"), ("p", text + "."), ("table", headers, rows)]


def _duplicates(d: dict[str, Any]) -> list[Block]:
    s, stats, a = d["settings"], d["stats"], d["actions"]
    b: list[Block] = [
        ("h2", "Duplicates, leakage and label conflicts"),
        (
            "p",
            f"Exact: equal up to case and spacing. Near: Jaccard similarity >= {s['threshold']:g} "
            f"of the character {s['shingle']}-gram sets (data.near_duplicate_threshold); MinHash "
            f"({s['num_perm']} permutations, {s['bands']} bands of {s['rows_per_band']}), every "
            f"candidate verified exactly. {stats['distinct_texts']:,} distinct texts, "
            f"{stats['candidates']:,} candidate pairs, {stats['seconds']:.1f} s.",
        ),
        duplicates_table(d),
        ("p", conflicts_line(d["label_conflicts"])),
        ("p", _preview_line(d, a)),
    ]
    examples = d["examples"]
    for title, key in (
        ("Leakage: training texts equal or near to a validation/test text", "leakage"),
        ("Label conflicts", "label_conflicts"),
        ("Duplicates within a split", "near_duplicates"),
    ):
        if examples.get(key):
            b += [("h3", title), pairs_table(examples[key][:SHOWN])]
    return b


def _preview_line(d: dict[str, Any], a: dict[str, Any]) -> str:
    would = a["would_drop"]
    parts = [
        f"data.leakage={a['leakage']}: "
        + (
            f"training would stop ({d['leakage']['train_rows']:,} training rows leak)"
            if a["would_stop"]
            else f"{would['leakage']:,} training rows would be removed"
            if a["leakage"] == "drop"
            else f"{d['leakage']['train_rows']:,} leaking training rows would be kept, with a "
            "warning"
        ),
        f"data.near_duplicates={a['near_duplicates']}: "
        + (
            f"{would['near_duplicates']:,} training rows would be removed"
            if a["near_duplicates"] == "drop"
            else f"{d['redundant_train_rows']:,} training rows that duplicate an earlier one "
            "with the same label would be kept"
        ),
    ]
    return "In training, with this config: " + "; ".join(parts) + "."


def _label_errors(e: dict[str, Any]) -> list[Block]:
    b: list[Block] = [("h2", "Likely label errors")]
    if "skipped" in e:
        return [*b, ("p", f"Not checked: {e['skipped']}.")]
    b.append(
        (
            "p",
            f"cleanlab (confident learning) on {e['source']}, over the {', '.join(e['splits'])} "
            f"split(s) ({e['rows']:,} rows; out-of-fold accuracy {e['oof_accuracy']:.3f}): "
            f"{e['flagged']:,} rows flagged, ranked by the probability of their given label "
            f"(lowest first); {e['seconds']:.1f} s.",
        )
    )
    rows = [
        [
            f"{x['split']} {x['row']}",
            short(x["text"], 110),
            x["label"],
            x["suggested"],
            f"{x['given_label_quality']:.3f}",
            f"{x['suggested_probability']:.3f}",
        ]
        for x in e["issues"][:SHOWN]
    ]
    headers = ["row", "text", "given", "suggested", "p(given)", "p(suggested)"]
    return [*b, ("table", headers, rows), ("fig", "label_quality")]


def _texts(d: dict[str, Any]) -> list[Block]:
    b: list[Block] = [("h2", "Texts to look at"), ("p", texts_line(d["texts"]))]
    for check, items in d["examples"]["texts"].items():
        if items:
            rows = [
                [f"{x['split']} {x['row']}", short(x["text"], 120), ", ".join(x.get("words", []))]
                for x in items[:SHOWN]
            ]
            b += [("h3", TEXT_CHECKS[check]), ("table", ["row", "text", "words"], rows)]
    return b


def _figures(report: dict[str, Any]) -> dict[str, tuple[bytes, str]]:
    from textclass.reporting.figures import canvas

    plt, drawn, save = canvas()
    e = report["label_errors"]
    if "quality_histogram" in e:
        edges = np.linspace(0, 1, len(e["quality_histogram"]) + 1)
        fig, ax = plt.subplots(figsize=(6, 3.2))
        width = np.diff(edges)
        ax.bar(edges[:-1], e["quality_histogram"], width, align="edge", alpha=0.5, label="all")
        ax.bar(edges[:-1], e["flagged_quality_histogram"], width, align="edge", label="flagged")
        ax.set(xlabel="out-of-fold probability of the given label", ylabel="rows", yscale="log")
        ax.legend(fontsize=8)
        save(fig, "label_quality", "Out-of-fold probability of the given label, flagged rows")
    return drawn


def write_audit_report(audit_dir: str | Path) -> dict[str, Path]:
    """audit.md (figures in report_files/) and a self-contained audit.html from audit.json."""
    audit_dir = Path(audit_dir)
    report = rundir.read_json(audit_dir / rundir.AUDIT["json"])
    return write_rendered(audit_dir, audit_blocks(report), _figures(report), rundir.AUDIT)
