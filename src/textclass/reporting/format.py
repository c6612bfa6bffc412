"""How values look in the report: numbers, intervals, shortened texts. Shared by the sections."""

from __future__ import annotations

from typing import Any

Block = (
    tuple  # ("h1"|"h2"|"h3"|"p", text), ("list", items), ("table", headers, rows), ("fig", name)
)


def fmt(v: Any) -> str:
    if v is None:
        return "n/a"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, float):
        return f"{v:.4g}" if abs(v) < 1000 else f"{v:,.0f}"
    if isinstance(v, int):
        return f"{v:,}"
    return str(v)


def fmt4(v: Any) -> str:
    return "n/a" if v is None else f"{v:.4f}"


def ci(value: float, interval: list[float]) -> str:
    return f"{value:.4f} [{interval[0]:.4f}, {interval[1]:.4f}]"


def ci_or_value(value: Any, interval: list[float] | None) -> str:
    return ci(value, interval) if interval and value is not None else fmt4(value)


def short(text: str, n: int = 160) -> str:
    text = " ".join(text.split())
    return text if len(text) <= n else text[: n - 1] + "…"


def examples_table(rows: list[dict[str, Any]], score: str) -> Block:
    """Texts with their gold and predicted labels and one score (confidence, margin)."""
    return (
        "table",
        ["text", "gold", "predicted", score],
        [[short(x["text"]), x["gold"], x["predicted"], f"{x[score]:.3f}"] for x in rows],
    )


def flatten(data: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested dicts as one level of dotted keys (`train.loss.name`)."""
    out = {}
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out |= flatten(value, f"{name}.")
        else:
            out[name] = value
    return out
