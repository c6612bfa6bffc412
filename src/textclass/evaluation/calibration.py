"""Calibration of predicted probabilities: expected calibration error, reliability bins, and
temperature scaling fitted on validation logits."""

from __future__ import annotations

from functools import partial
from typing import Any

import numpy as np

from textclass.config.tasks import MULTI_LABEL, SINGLE_LABEL, Task, get_task
from textclass.errors import TextclassError


def _reliability(
    scores: np.ndarray, outcomes: np.ndarray, bins: int, names: tuple[str, str]
) -> dict[str, Any]:
    """Equal-width bins of `scores` in [0, 1]: per bin the mean score and the observed rate of
    `outcomes` (named by `names`), and the expected calibration error over the bins."""
    edges = np.linspace(0, 1, bins + 1)
    which = np.clip(np.digitize(scores, edges[1:-1]), 0, bins - 1)
    table, ece = [], 0.0
    for b in range(bins):
        mask = which == b
        if not mask.any():
            continue
        score, rate = float(scores[mask].mean()), float(outcomes[mask].mean())
        ece += mask.mean() * abs(rate - score)
        table.append(
            {
                "low": float(edges[b]),
                "high": float(edges[b + 1]),
                "n": int(mask.sum()),
                names[0]: score,
                names[1]: rate,
            }
        )
    return {"ece": float(ece), "bins": table}


def calibration(probs: np.ndarray, y_true: np.ndarray, bins: int = 15) -> dict[str, Any]:
    """Expected calibration error of the top-class confidence, with the reliability bins."""
    confidence = probs.max(axis=1)
    correct = SINGLE_LABEL.decide_ids(probs) == np.asarray(y_true)
    return _reliability(confidence, correct, bins, ("confidence", "accuracy"))


def pooled_calibration(probs: np.ndarray, y: np.ndarray, bins: int = 15) -> dict[str, Any]:
    """Calibration of independent per-label probabilities (multi-label): every (text, label)
    pair is one binary forecast; expected calibration error of the predicted probability
    against the observed share of positives."""
    p, outcome = probs.ravel(), y.ravel().astype(np.float64)
    out = _reliability(p, outcome, bins, ("mean_probability", "positive_rate"))
    return {**out, "pooled": "every (text, label) probability"}


def reliability(task: Task | str, probs: np.ndarray, y: np.ndarray) -> dict[str, Any]:
    """The task's calibration measure: top-class confidence (single-label) or every (text,
    label) probability (multi-label)."""
    if get_task(task) is MULTI_LABEL:
        return pooled_calibration(probs, y)
    return calibration(probs, y)


# ---------------------------------------------------------------- temperature scaling
#
# Temperature scaling divides the logits by one positive number T before the softmax (Guo et
# al., 2017): T > 1 softens over-confident probabilities, T < 1 sharpens. Dividing by T > 0
# keeps the order of a row's logits, so the most probable class never changes.
#
# Multi-label: one temperature per label, sigmoid(z / T_l), each fitted on that label's
# validation column. Platt scaling, sigmoid(a z + b), fits better when a label's scores are
# shifted, but its bias b moves the point where the probability crosses 0.5 and with it the
# label's decisions; a temperature keeps the sign of every logit. Tuned thresholds t are
# carried over as sigmoid(logit(t) / T_l) (`scale_thresholds`): sigmoid(z / T) >= that iff
# sigmoid(z) >= t, so no decision changes.

T_BOUNDS = (0.05, 20.0)  # the search range of T; a fit at a bound is still a valid T


def scale_logits(logits: np.ndarray, temperature: float | np.ndarray | None) -> np.ndarray:
    """`logits` divided by the temperature (a scalar, or one per column); None: unchanged."""
    if temperature is None:
        return logits
    return logits / np.asarray(temperature, dtype=logits.dtype)


def temperature_array(saved: Any, labels: int) -> np.ndarray | None:
    """The `temperature` of textclass.json (a number, or one per label) as float32, what divides
    the logits; None for none or 1 (nothing to divide)."""
    if saved is None:
        return None
    value = np.asarray(saved, dtype=np.float32)
    if value.ndim > 1 or (value.ndim == 1 and len(value) != labels) or (value <= 0).any():
        raise TextclassError(
            f"textclass.json: temperature {saved!r} is not a positive number or one per label "
            f"({labels}); remove the key to predict with uncalibrated probabilities."
        )
    return None if (value == 1).all() else value


def scale_thresholds(thresholds: np.ndarray, temperature: np.ndarray | None) -> np.ndarray:
    """Multi-label cuts on uncalibrated probabilities as cuts on calibrated ones: the same
    decisions (sigmoid(z / T) >= sigmoid(logit(t) / T) iff z >= logit(t))."""
    if temperature is None:
        return np.asarray(thresholds, dtype=np.float64)
    t = np.clip(np.asarray(thresholds, dtype=np.float64), 1e-12, 1 - 1e-12)
    z = np.log(t) - np.log1p(-t)
    return 1.0 / (1.0 + np.exp(-z / np.asarray(temperature, dtype=np.float64)))


def _softmax_nll(z: np.ndarray, y: np.ndarray, t: float) -> float:
    s = z / t
    top = s.max(axis=1)
    lse = top + np.log(np.exp(s - top[:, None]).sum(axis=1))
    return float((lse - s[np.arange(len(s)), y]).mean())


def _sigmoid_nll(z: np.ndarray, y: np.ndarray, t: float) -> float:
    s = z / t
    return float((np.logaddexp(0.0, s) - y * s).mean())


def _minimise(nll: Any) -> float:
    """The T in `T_BOUNDS` with the lowest `nll(T)`; searched over log T (the NLL is convex
    in 1/T, so it has one minimum there)."""
    from scipy.optimize import minimize_scalar

    found = minimize_scalar(
        lambda u: nll(float(np.exp(u))),
        bounds=tuple(np.log(T_BOUNDS)),
        method="bounded",
        options={"xatol": 1e-5},
    )
    return float(np.exp(found.x))


def _fit_per_label(z: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, list[int]]:
    """One temperature per column; columns with one outcome only on validation keep 1 (their
    NLL falls without end as T -> 0, which says nothing about new data)."""
    out, kept = np.ones(z.shape[1]), []
    for k in range(z.shape[1]):
        if 0 < y[:, k].sum() < len(y):
            out[k] = _minimise(lambda t, k=k: _sigmoid_nll(z[:, k], y[:, k], t))
        else:
            kept.append(k)
    return out, kept


def fit_temperature(
    logits: np.ndarray, y: np.ndarray, task: Task | str = SINGLE_LABEL
) -> tuple[float | np.ndarray | None, dict[str, Any]]:
    """The temperature that minimises the negative log-likelihood of validation `logits`
    (float64, a bounded search over log T); multi-label: one per label. Returns (T, record):
    T is None (it stays 1) when the fitted one does not lower the validation expected
    calibration error, and the record says so and why."""
    task = get_task(task)
    z = np.asarray(logits, dtype=np.float64)
    kept: list[int] = []
    if task is MULTI_LABEL:
        y = np.asarray(y, dtype=np.float64)
        fitted, kept = _fit_per_label(z, y)
        nll = partial(_sigmoid_nll, z, y)
    elif task is SINGLE_LABEL:
        y = np.asarray(y, dtype=np.int64)
        nll = partial(_softmax_nll, z, y)
        fitted = _minimise(nll)
    else:
        raise ValueError(f"temperature scaling needs probabilities; {task.name} has none")
    ece_before = reliability(task, task.outputs(z), y)["ece"]
    ece_fitted = reliability(task, task.outputs(z / fitted), y)["ece"]
    applied = ece_fitted < ece_before
    shown = float(fitted) if np.ndim(fitted) == 0 else np.asarray(fitted).tolist()
    record: dict[str, Any] = {
        "method": "temperature",
        "temperature": shown if applied else 1.0,
        "fitted": shown,
        "applied": bool(applied),
        "reason": None if applied else _kept_reason(fitted, ece_before, ece_fitted),
        "validation": {
            "n": len(z),
            "ece_before": ece_before,
            "ece_fitted": ece_fitted,
            "nll_before": nll(1.0),
            "nll_fitted": nll(fitted),
        },
    }
    if task is MULTI_LABEL:
        record["labels_kept_at_1"] = len(kept)  # one outcome only on validation
    return (fitted if applied else None), record


def _kept_reason(fitted: float | np.ndarray, before: float, after: float) -> str:
    what = f"T={fitted:.3f}" if np.ndim(fitted) == 0 else "the per-label temperatures"
    return (
        f"{what} (lowest validation log-likelihood) did not lower the validation expected "
        f"calibration error ({before:.4f} before, {after:.4f} with it), so T stays 1."
    )


def skipped_record(reason: str) -> dict[str, Any]:
    """The calibration record of a run that scales nothing (`eval.calibration: none`)."""
    return {"method": "none", "temperature": 1.0, "applied": False, "reason": reason}


def before_after(
    task: Task | str, before: np.ndarray, after: np.ndarray, y: np.ndarray
) -> dict[str, Any]:
    """A split's expected calibration error and reliability bins before and after scaling."""
    return {"before": reliability(task, before, y), "after": reliability(task, after, y)}
