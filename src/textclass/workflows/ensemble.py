"""Build an ensemble directory from trained runs, model directories or cross-validation runs.

    build_ensemble(["runs/a", "runs/b"], "weighted", "ensembles/ab")
    Classifier.load("ensembles/ab").predict(["a gripping film"])

A member is a run directory (its `model/`), a model directory, or a cross-validation directory
(its K fold models, one *group*: one base model whose out-of-fold predictions are
`oof_predictions.csv`). Methods (combined in `textclass.inference.ensemble`):

- `soft`: the mean of every model's outputs (probabilities; regression values); nothing fitted.
- `weighted`: one weight per group, non-negative and summing to 1, fitted to minimise the task's
  loss (log loss; binary cross-entropy per label; MSE) on rows every group has predictions for:
  the runs' validation predictions (the same rows in the same order), or the cross-validation
  directories' out-of-fold predictions (over the same pooled rows).
- `stacking`: a logistic regression on the groups' out-of-fold log-probabilities (its C chosen by
  an inner, seeded cross-validation); cross-validation groups only, as a run's validation rows
  chose its checkpoint and cannot train a stacker without bias. Multi-label: one regression per
  label on the groups' log-odds of that label (few parameters per label: rare labels stay
  fittable). Regression targets: use `weighted`.

The ensemble directory holds only `ensemble.json`: members are referenced (relative paths where
possible) with a sha256 of their weights, so a changed member is an error when loading.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from textclass.config.tasks import LABEL_SEPARATOR, MULTI_LABEL, Task, get_task
from textclass.errors import TextclassError
from textclass.inference import ensemble as combination
from textclass.workflows import rundir

STACK_CS = (0.01, 0.1, 1.0, 10.0, 100.0)  # the stacker's inverse regularisation, tried by CV
STACK_FOLDS = 5  # inner folds that choose C (fewer where a class has fewer rows)
_SPEC_KEYS = ("task", "labels", "label_delimiter", "columns")  # copied from the members


@dataclass
class Group:
    """One base model of the ensemble: a run's (or a bare model directory's) model, or the K
    fold models of a cross-validation directory."""

    source: Path  # what the user named
    kind: str  # run, model or cross_validation
    models: list[Path]  # model directories
    fit_file: Path | None  # predictions_validation.csv or oof_predictions.csv, where there is one
    meta: dict[str, Any]  # the first model's textclass.json


@dataclass
class FitRows:
    """Rows every group has outputs for: the targets and each group's outputs."""

    source: str  # "validation predictions" or "out-of-fold predictions"
    y: np.ndarray
    outputs: list[np.ndarray]  # per group: (n, labels), or (n,) for regression


@dataclass
class EnsembleResult:
    """What `build_ensemble` returns: where the ensemble is, what ensemble.json says and, for
    stacking, the fitted scikit-learn model(s) (in memory only; the file keeps coefficients)."""

    path: Path
    spec: dict[str, Any]
    stacker_: Any = field(default=None, repr=False)

    def summary(self) -> str:
        spec = self.spec
        sizes = ", ".join(f"{g['source']} ({len(g['members'])} model(s))" for g in spec["groups"])
        line = f"{spec['method']} ensemble of {sizes} -> {self.path}"
        if spec.get("weights") and spec["method"] == "weighted":
            line += "\nweights: " + ", ".join(f"{w:.3f}" for w in spec["weights"])
        fit = spec.get("fit")
        if fit:
            line += f"\nfitted on {fit['rows']} {fit['on']}: {fit['objective']} {fit['loss']:.4f}"
            if "soft_loss" in fit:
                line += f" (soft {fit['soft_loss']:.4f})"
        return line


def build_ensemble(
    members: list[str | Path],
    method: str,
    output: str | Path,
    *,
    overwrite: bool = False,
    seed: int = 0,
) -> EnsembleResult:
    """Write an ensemble directory at `output` combining `members` by `method` (soft, weighted
    or stacking; see the module docstring); returns it. No member is loaded or copied: the
    fitting reads the predictions the runs wrote."""
    if method not in combination.METHODS:
        raise TextclassError(f"--method {method!r}: use one of {', '.join(combination.METHODS)}.")
    groups = [resolve_group(Path(m)) for m in members]
    if not groups:
        raise TextclassError("no members given: name run, model or cross-validation directories.")
    output = Path(output)
    _check_output(output, overwrite, groups)
    common = check_members(groups)
    task = get_task(common["task"])
    check_method(method, groups, task)
    if method == "soft":
        rows = _soft_rows(groups, task, common["labels"])
    else:
        rows = fit_rows(groups, task, common["labels"], required=True)
    spec: dict[str, Any] = {"format_version": combination.FORMAT_VERSION, "method": method}
    spec |= common
    stacker_ = None
    if method == "soft":
        spec["weights"] = _soft_weights(groups)
        spec["fit"] = _soft_fit(rows, task, spec["weights"]) if rows else None
    elif method == "weighted":
        spec["weights"], spec["fit"] = fit_weights(rows, task, groups)
    else:
        spec["stacker"], spec["fit"], stacker_ = fit_stacker(rows, task, groups, seed)
    if rows is not None and task is MULTI_LABEL:
        combined = combination.combine(spec, rows.outputs, multi_label=True)
        spec["thresholds"] = _tuned_thresholds(rows.y, combined, common["labels"])
    spec["groups"] = [_group_record(g, output) for g in groups]
    output.mkdir(parents=True, exist_ok=True)
    spec["created"] = datetime.now(UTC).isoformat(timespec="seconds")
    spec["name"] = output.name
    rundir.write_json(output / rundir.ENSEMBLE, spec)
    return EnsembleResult(output, spec, stacker_)


def _soft_rows(groups: list[Group], task: Task, labels: list[str]) -> FitRows | None:
    """Soft voting fits nothing: rows the members share only record its loss (and tune
    multi-label thresholds); members scored on different rows are no error."""
    try:
        return fit_rows(groups, task, labels, required=False)
    except TextclassError:
        return None


def _check_output(output: Path, overwrite: bool, groups: list[Group]) -> None:
    """The output may be written: not a file, not a member or a folder holding one (that
    --overwrite would delete), not an existing non-empty directory unless --overwrite."""
    target = output.resolve()
    for group in groups:
        inside = [group.source.resolve(), *(m.resolve() for m in group.models)]
        if any(p == target or target in p.parents or p in target.parents for p in inside):
            raise TextclassError(
                f"--output {output} overlaps the member {group.source}; write the ensemble to "
                "a directory of its own."
            )
    if output.is_file():
        raise TextclassError(f"--output {output} is a file; name a directory for the ensemble.")
    if output.is_dir() and any(output.iterdir()):
        if not overwrite:
            raise TextclassError(
                f"{output} already exists and is not empty; choose another --output or replace "
                "it with --overwrite."
            )
        shutil.rmtree(output)


# ---------------------------------------------------------------- members


def resolve_group(path: Path) -> Group:
    """A member as the ensemble sees it: a cross-validation directory (cv.json), a run
    directory (model/ inside), or a model directory (textclass.json)."""
    if (path / rundir.ENSEMBLE).is_file():
        raise TextclassError(
            f"{path} is an ensemble; ensembles of ensembles are not supported: name its "
            "members instead."
        )
    if (path / rundir.CV_SUMMARY).is_file():
        return _cv_group(path)
    if (path / rundir.MODEL / rundir.MODEL_META).is_file():
        run = rundir.RunDir(path)
        fit_file = run.predictions_path("validation")
        return Group(path, "run", [run.model_dir], _existing(fit_file), run.model_meta())
    if (path / rundir.MODEL_META).is_file():
        parent = rundir.RunDir(path.parent)  # runs/NAME/model: the run's validation rows
        inside_run = path.name == rundir.MODEL and parent.model_dir.resolve() == path.resolve()
        fit_file = _existing(parent.predictions_path("validation")) if inside_run else None
        return Group(path, "model", [path], fit_file, rundir.read_json(path / rundir.MODEL_META))
    raise TextclassError(
        f"{path} is not a run, model or cross-validation directory (no {rundir.MODEL}/"
        f"{rundir.MODEL_META}, {rundir.MODEL_META} or {rundir.CV_SUMMARY}); ensembles are built "
        "from textclass runs."
    )


def _existing(path: Path) -> Path | None:
    return path if path.is_file() else None


def _cv_group(path: Path) -> Group:
    cv = rundir.read_json(path / rundir.CV_SUMMARY)
    folds = int(cv.get("folds") or 0)
    done = sorted(int(k) for k in cv.get("done") or [])
    if folds < 2 or done != list(range(1, folds + 1)):
        raise TextclassError(
            f"{path}: the cross-validation is not complete (folds {folds}, done {done}); finish "
            "it with `textclass cv` before building an ensemble from it."
        )
    models = [path / rundir.CV_FOLD.format(k=k) / rundir.MODEL for k in range(1, folds + 1)]
    missing = [str(m) for m in models if not (m / rundir.MODEL_META).is_file()]
    oof = path / rundir.OOF_PREDICTIONS
    if missing or not oof.is_file():
        raise TextclassError(
            f"{path}: cv.json says done, but {', '.join(missing) or oof} is missing; run the "
            "cross-validation again."
        )
    return Group(
        path, "cross_validation", models, oof, rundir.read_json(models[0] / rundir.MODEL_META)
    )


def check_members(groups: list[Group]) -> dict[str, Any]:
    """The members' shared task, labels (same order) and columns; the cleaning when all share
    it (else None: each member cleans its own input). A mismatch is an error naming both."""
    first, first_dir = groups[0].meta, groups[0].models[0]
    cleanings = []
    for model in [m for group in groups for m in group.models]:
        meta = rundir.read_json(model / rundir.MODEL_META)
        for key, what in (("task", "task"), ("labels", "labels, in the same order")):
            if meta.get(key) != first.get(key):
                raise TextclassError(
                    f"the members must share their {what}: {first_dir} has {key} "
                    f"{first.get(key)!r}, {model} has {meta.get(key)!r}. Ensemble models trained "
                    "for the same labels."
                )
        if bool(_pair_column(meta)) != bool(_pair_column(first)):
            raise TextclassError(
                f"{first_dir} and {model} differ in their input: one classifies text pairs, the "
                "other single texts; they cannot be ensembled."
            )
        cleanings.append(meta.get("cleaning"))
    common = {key: first.get(key) for key in _SPEC_KEYS}
    common["cleaning"] = cleanings[0] if all(c == cleanings[0] for c in cleanings) else None
    return common


def _pair_column(meta: dict[str, Any]) -> str | None:
    return (meta.get("columns") or {}).get("text_pair")


def check_method(method: str, groups: list[Group], task: Task) -> None:
    """What each method needs of its members, checked before anything is read."""
    names = ", ".join(str(g.source) for g in groups)
    if method == "weighted" and len(groups) < 2:
        what = "a cross-validation directory" if groups[0].kind == "cross_validation" else "one run"
        raise TextclassError(
            f"--method weighted fits one weight per group, and {names} is one group ({what}): "
            "there is nothing to weigh. Use --method soft to average its models, or add members."
        )
    if method != "stacking":
        return
    not_cv = [str(g.source) for g in groups if g.kind != "cross_validation"]
    if not_cv:
        raise TextclassError(
            f"--method stacking fits on out-of-fold predictions, which only cross-validation "
            f"directories have; {', '.join(not_cv)} is not one. Run `textclass cv` for each "
            "model, or use --method weighted (fitted on the runs' validation predictions)."
        )
    if not task.has_probabilities:
        raise TextclassError(
            f"--method stacking fits a logistic regression on probabilities; these members "
            f"predict {task.name} values. Use --method weighted or soft."
        )


def _group_record(group: Group, output: Path) -> dict[str, Any]:
    members = []
    for model in group.models:
        digest = combination.weights_digest(model)
        if not digest:
            raise TextclassError(f"{model} has no weights file (*.safetensors, *.onnx, *.bin).")
        members.append({"path": combination.stored_path(model, output), "sha256": digest})
    source = combination.stored_path(group.source, output)
    return {"source": source, "kind": group.kind, "members": members}


# ---------------------------------------------------------------- rows to fit on


def fit_rows(groups: list[Group], task: Task, labels: list[str], required: bool) -> FitRows | None:
    """The targets and every group's outputs on the same rows: the runs' validation
    predictions, or the cross-validation directories' out-of-fold predictions. None where the
    groups have no such rows (soft needs none; weighted and stacking fail, saying why)."""
    cv = [str(g.source) for g in groups if g.kind == "cross_validation"]
    runs = [str(g.source) for g in groups if g.kind != "cross_validation"]
    bare = [str(g.source) for g in groups if g.fit_file is None]
    if bare or (cv and runs):
        if not required:
            return None
        why = (
            f"{', '.join(bare)} has no validation predictions (a model directory outside its run)"
            if bare
            else f"{', '.join(cv)} (out-of-fold predictions) and {', '.join(runs)} (validation "
            "predictions) were scored on different rows"
        )
        raise TextclassError(
            f"fitting the ensemble needs predictions every member has for the same rows, but "
            f"{why}. Name run directories only, or cross-validation directories only, or use "
            "--method soft."
        )
    frames = [_read_fit_file(g) for g in groups]
    keys = [_key_columns(frame, g) for frame, g in zip(frames, groups, strict=True)]
    _check_same_rows(groups, frames, keys)
    label_column = keys[0][-1]
    where = str(groups[0].fit_file)
    y = _targets(frames[0][label_column], task, labels, where)
    outputs = [
        rundir.prediction_outputs(frame, labels, task.has_probabilities, g.fit_file)
        for frame, g in zip(frames, groups, strict=True)
    ]
    source = "out-of-fold predictions" if cv else "validation predictions"
    return FitRows(source, y, outputs)


def _read_fit_file(group: Group) -> pd.DataFrame:
    """A predictions file with its texts and labels as written (strings), in row order."""
    if group.kind != "cross_validation":
        return rundir.read_predictions_file(group.fit_file)
    header = pd.read_csv(group.fit_file, nrows=0).columns
    numbers = {"row", "fold", "predicted"} | {c for c in header if str(c).startswith("prob_")}
    text = {c: str for c in header if c not in numbers}
    frame = pd.read_csv(group.fit_file, dtype=text, keep_default_na=False)
    if "row" not in frame.columns:
        raise TextclassError(
            f"{group.fit_file} has no `row` column; run the cross-validation again."
        )
    return frame.sort_values("row", kind="stable").reset_index(drop=True)


def _key_columns(frame: pd.DataFrame, group: Group) -> list[str]:
    """The columns that identify a row: the text (and pair), then the gold label."""
    columns = group.meta.get("columns") or {}
    wanted = [("text", columns.get("text"))]
    if columns.get("text_pair"):
        wanted.append(("text_pair", columns.get("text_pair")))
    wanted.append(("gold", "label", columns.get("label")))
    found = []
    for names in wanted:
        match = next((n for n in names if n and n in frame.columns), None)
        if match is None:
            raise TextclassError(
                f"{group.fit_file} has no {names[0]} column (looked for "
                f"{', '.join(repr(n) for n in names if n)}); it is not a predictions file."
            )
        found.append(match)
    return found


def _check_same_rows(groups: list[Group], frames: list[pd.DataFrame], keys: list[list[str]]):
    ref, ref_keys, ref_group = frames[0], keys[0], groups[0]
    hint = (
        "Fitting compares the members on the same rows: train them on the same data with the "
        "same split (data.split, seed) and cleaning, or use --method soft."
    )
    for group, frame, cols in zip(groups[1:], frames[1:], keys[1:], strict=True):
        if len(frame) != len(ref):
            raise TextclassError(
                f"{ref_group.fit_file} has {len(ref)} rows and {group.fit_file} {len(frame)}: "
                f"{ref_group.source} and {group.source} were not scored on the same rows. {hint}"
            )
        for a, b in zip(ref_keys, cols, strict=True):
            differ = np.flatnonzero(
                ref[a].astype(str).to_numpy() != frame[b].astype(str).to_numpy()
            )
            if differ.size:
                i = int(differ[0])
                raise TextclassError(
                    f"{ref_group.source} and {group.source} were not scored on the same rows: "
                    f"row {i + 1} of their predictions has {a} {ref[a].iloc[i]!r} vs "
                    f"{frame[b].iloc[i]!r} ({differ.size} row(s) differ). {hint}"
                )


def _targets(values: pd.Series, task: Task, labels: list[str], where: str) -> np.ndarray:
    if not task.has_labels:
        return pd.to_numeric(values).to_numpy(dtype=np.float64)
    if task is MULTI_LABEL:
        values = values.map(lambda v: [x for x in str(v).split(LABEL_SEPARATOR) if x])
        seen = {x for row in values for x in row}
    else:
        seen = set(values)
    unseen = sorted(seen - set(labels))
    if unseen:
        raise TextclassError(
            f"{where}: label(s) {unseen[:10]} are not the members' labels {labels}."
        )
    return task.targets(values, labels)


# ---------------------------------------------------------------- fitting


def _soft_weights(groups: list[Group]) -> list[float]:
    """Soft voting as group weights: a group counts as many times as it has models."""
    sizes = np.array([len(g.models) for g in groups], dtype=np.float64)
    return (sizes / sizes.sum()).tolist()


def _fit_record(rows: FitRows, task: Task, **extra: Any) -> dict[str, Any]:
    return {"on": rows.source, "rows": len(rows.y), "objective": f"{task.name} loss", **extra}


def _soft_fit(rows: FitRows, task: Task, weights: list[float]) -> dict[str, Any]:
    """Nothing is fitted; the loss on the rows the members share is recorded for comparison."""
    combined = combination.combine({"method": "soft", "weights": weights}, rows.outputs, False)
    return _fit_record(rows, task, loss=task.loss(rows.y, combined))


def _softmax(theta: np.ndarray) -> np.ndarray:
    e = np.exp(theta - theta.max())
    return e / e.sum()


def fit_weights(
    rows: FitRows, task: Task, groups: list[Group]
) -> tuple[list[float], dict[str, Any]]:
    """One weight per group, non-negative and summing to 1 (a softmax of free parameters),
    minimising the task's loss on `rows`; started from, and never worse than, soft voting."""
    from scipy.optimize import minimize

    stacked = np.stack(rows.outputs)  # (groups, n, labels) or (groups, n)

    def loss(theta: np.ndarray) -> float:
        return task.loss(rows.y, np.tensordot(_softmax(theta), stacked, axes=1))

    soft = np.asarray(_soft_weights(groups))
    start = np.log(soft)
    found = minimize(loss, start, method="L-BFGS-B")
    soft_loss = loss(start)
    fitted_loss = float(found.fun)
    weights = _softmax(found.x) if fitted_loss <= soft_loss else soft
    record = _fit_record(
        rows,
        task,
        loss=min(fitted_loss, soft_loss),
        soft_loss=soft_loss,
        optimizer="scipy L-BFGS-B on softmax-parameterised weights, from soft voting",
        converged=bool(found.success),
    )
    return weights.tolist(), record


def fit_stacker(
    rows: FitRows, task: Task, groups: list[Group], seed: int
) -> tuple[dict[str, Any], dict[str, Any], Any]:
    """A logistic regression on the out-of-fold log-probabilities (multi-label: one per label,
    on that label's log-odds in every group), its C chosen by a seeded inner cross-validation.
    Returns the stacker as saved (coefficients, no pickle), its fit record, and the fitted
    scikit-learn model(s)."""
    multi = task is MULTI_LABEL
    labels = groups[0].meta["labels"]
    features = combination.stacking_features(rows.outputs, multi)
    if multi:
        models = [
            _fit_logistic(features[:, k, :], rows.y[:, k].astype(np.int64), seed, f"label {lab!r}")
            for k, lab in enumerate(labels)
        ]
        coef = np.stack([m.coef_[0] for m in models])
        intercept = np.array([m.intercept_[0] for m in models])
        chosen = [float(m.C_[0]) for m in models]
    else:
        models = _fit_logistic(features, rows.y, seed, "the stacker", classes=len(labels))
        coef, intercept, chosen = models.coef_, models.intercept_, float(models.C_[0])
    stacker = {
        "kind": "logistic_regression",
        "features": "log-odds per label" if multi else "log-probabilities",
        "labels": labels,
        "coef": coef.tolist(),
        "intercept": intercept.tolist(),
        "C": chosen,
        "Cs": list(STACK_CS),
        "seed": seed,
    }
    probs = combination.apply_stacker(stacker, features, multi)
    soft = {"method": "soft", "weights": _soft_weights(groups)}
    soft_loss = task.loss(rows.y, combination.combine(soft, rows.outputs, multi))
    record = _fit_record(rows, task, loss=task.loss(rows.y, probs), soft_loss=soft_loss)
    return stacker, record, models


def _fit_logistic(x: np.ndarray, y: np.ndarray, seed: int, what: str, classes: int = 2) -> Any:
    """A logistic regression with the C of STACK_CS that scores the best log loss over seeded,
    stratified inner folds, refitted on every row; `C_` says which."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_score

    counts = np.bincount(y, minlength=classes)
    if counts.min() < 2:
        raise TextclassError(
            f"{what}: every class needs at least 2 out-of-fold rows to fit a stacker (counts "
            f"{counts.tolist()}); use --method weighted, or cross-validate on more data."
        )
    folds = StratifiedKFold(min(STACK_FOLDS, int(counts.min())), shuffle=True, random_state=seed)
    scores = [
        cross_val_score(
            LogisticRegression(C=c, max_iter=5000), x, y, cv=folds, scoring="neg_log_loss"
        ).mean()
        for c in STACK_CS
    ]
    best = STACK_CS[int(np.argmax(scores))]  # the first of equal scores: the strongest penalty
    model = LogisticRegression(C=best, max_iter=5000).fit(x, y)
    model.C_ = np.array([best])
    return model


def _tuned_thresholds(y: np.ndarray, probs: np.ndarray, labels: list[str]) -> dict[str, float]:
    """Multi-label: each label's decision threshold tuned on the fitting rows, as training
    tunes a model's on validation (the members' own thresholds do not apply to the mean)."""
    from textclass.evaluation.thresholds import tune_thresholds

    return dict(zip(labels, map(float, tune_thresholds(y, probs)), strict=True))
