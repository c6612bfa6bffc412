"""An ensemble of trained models, loaded from an ensemble directory, ready to predict.

    clf = Classifier.load("ensembles/reviews")    # a directory with ensemble.json
    clf.predict_proba(["a gripping, beautifully shot film"])  # the members' outputs, combined

`ensemble.json` (written by `textclass ensemble`, `textclass.workflows.ensemble`) references its
member model directories (they are not copied) with a sha256 of each one's weights, and groups
them: a group is one base model, a run's model or the K fold models of a cross-validation
directory, and its output is the mean of its models' outputs. The groups combine as

- `soft`, `weighted`: a weighted mean of the groups' outputs (probabilities, or regression
  values); `soft` weighs a group by its number of models, so every model counts once;
- `stacking`: a logistic regression on the groups' log-probabilities (single-label), or one per
  label on the groups' log-odds of that label (multi-label).

Each member runs as its own `Classifier` (its tokenizer, length and cleaning); the combination is
NumPy. An `EnsembleClassifier` offers what a `Classifier` offers (`predict`, `predict_proba`,
`predict_values`, `decide`, `labels`, `task`, `meta`, `columns`, `cleaning`), so predict,
evaluate and serve take an ensemble directory like a model directory.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from textclass.config.schema import CleaningConfig
from textclass.errors import TextclassError
from textclass.inference.classifier import Classifier
from textclass.workflows import rundir

FORMAT_VERSION = 1
METHODS = ("soft", "weighted", "stacking")
EPS = 1e-7  # probabilities are clipped to [EPS, 1 - EPS] before a log
WEIGHT_PATTERNS = ("*.safetensors", "*.onnx", "*.bin")  # what a member's weights are


# ---------------------------------------------------------------- members on disk


def weights_digest(model_dir: Path) -> dict[str, str]:
    """{file name: sha256} of a model directory's weights files (PyTorch, linear or ONNX)."""
    from textclass.data.read import sha256_file  # pulls in the data libraries: only here

    files = sorted({p for pattern in WEIGHT_PATTERNS for p in Path(model_dir).glob(pattern)})
    return {p.name: sha256_file(p) for p in files if p.is_file()}


def stored_path(model_dir: Path, ensemble_dir: Path) -> str:
    """A member's path as ensemble.json keeps it: relative to the ensemble directory where
    possible (the two can move together), else absolute."""
    target, base = Path(model_dir).resolve(), Path(ensemble_dir).resolve()
    try:
        return Path(os.path.relpath(target, base)).as_posix()
    except ValueError:  # another drive (Windows): no relative path exists
        return target.as_posix()


def member_dir(stored: str, ensemble_dir: Path) -> Path:
    path = Path(stored)
    return path if path.is_absolute() else (Path(ensemble_dir) / path).resolve()


def check_member(path: Path, member: dict[str, Any], ensemble_dir: Path) -> None:
    """The member is where ensemble.json says, with the weights it had when the ensemble was
    built: a retrained or replaced member would silently change the ensemble's predictions."""
    if not path.is_dir():
        raise TextclassError(
            f"{ensemble_dir}: member {member['path']} ({path}) does not exist. The ensemble "
            "references its members, it does not copy them: restore the member, or build the "
            "ensemble again with `textclass ensemble`."
        )
    found = weights_digest(path)
    if found != member["sha256"]:
        changed = sorted(set(found) ^ set(member["sha256"])) or [
            name for name in found if found[name] != member["sha256"][name]
        ]
        raise TextclassError(
            f"{ensemble_dir}: member {path} has changed since the ensemble was built (weights "
            f"file(s) {', '.join(changed)} differ from the sha256 in {rundir.ENSEMBLE}). Its "
            "weights and fitted combination no longer match: build the ensemble again with "
            "`textclass ensemble`."
        )


# ---------------------------------------------------------------- the combination (NumPy)


def stacking_features(group_outputs: list[np.ndarray], multi_label: bool) -> np.ndarray:
    """What the stacker reads. Single-label: the groups' log-probabilities side by side,
    (n, groups * labels). Multi-label: each label's log-odds in every group, (n, labels, groups)."""
    clipped = [np.clip(np.asarray(p, dtype=np.float64), EPS, 1 - EPS) for p in group_outputs]
    if multi_label:
        return np.stack([np.log(p) - np.log1p(-p) for p in clipped], axis=2)
    return np.hstack([np.log(p) for p in clipped])


def apply_stacker(stacker: dict[str, Any], features: np.ndarray, multi_label: bool) -> np.ndarray:
    """The stacker's probabilities, (n, labels), from its saved coefficients: what scikit-learn's
    `predict_proba` gives for the fitted logistic regression(s)."""
    coef = np.asarray(stacker["coef"], dtype=np.float64)
    intercept = np.asarray(stacker["intercept"], dtype=np.float64)
    if multi_label:  # one binary regression per label: coef (labels, groups)
        z = np.einsum("nlg,lg->nl", features, coef) + intercept
        return 1.0 / (1.0 + np.exp(-z))
    z = features @ coef.T + intercept  # (n, classes), or (n, 1) for two classes
    if z.shape[1] == 1:
        p = 1.0 / (1.0 + np.exp(-z[:, 0]))
        return np.stack([1 - p, p], axis=1)
    z -= z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def combine(spec: dict[str, Any], group_outputs: list[np.ndarray], multi_label: bool) -> np.ndarray:
    """The ensemble's outputs from its groups' outputs (each the mean of the group's models)."""
    if spec["method"] == "stacking":
        features = stacking_features(group_outputs, multi_label)
        return apply_stacker(spec["stacker"], features, multi_label).astype(np.float32)
    weights = np.asarray(spec["weights"], dtype=np.float64)
    stacked = np.stack([np.asarray(o, dtype=np.float64) for o in group_outputs])
    return np.tensordot(weights, stacked, axes=1).astype(np.float32)


# ---------------------------------------------------------------- the classifier


class EnsembleClassifier(Classifier):
    """Members' outputs combined as ensemble.json says; the same methods as `Classifier`."""

    def __init__(self, groups: list[list[Classifier]], spec: dict[str, Any]):
        self.groups = groups
        self.spec = spec
        members = [clf for group in groups for clf in group]
        self.model = None  # no single network; `groups` holds the members
        self.backend = "+".join(sorted({_backend(clf) for clf in members}))
        self.device = members[0].device
        self.precision = _joined(clf.precision for clf in members)
        self.runs_as, self.autocast, self.tokenizer, self.window = "members", None, None, None
        lengths = [clf.max_length for clf in members if clf.max_length is not None]
        self.max_length = max(lengths) if lengths else None
        self.truncation = _joined(clf.truncation for clf in members if clf.truncation)
        self.head_tokens = None
        # One shared cleaning: texts are cleaned once, here; else each member cleans its own.
        shared = spec.get("cleaning")
        self.members_clean = shared is None
        cleaning = CleaningConfig(**shared) if shared else CleaningConfig(enabled=False)
        self._describe(spec["labels"], cleaning, spec.get("columns"), _meta(spec, groups))

    @classmethod
    def from_dir(
        cls, path: str | Path, device: str = "auto", precision: str = "auto", backend: str = "auto"
    ) -> EnsembleClassifier:
        """Load an ensemble directory: each member checked against its recorded weights, then
        loaded as a `Classifier` and checked for the ensemble's task and labels."""
        path = Path(path)
        spec = rundir.read_json(path / rundir.ENSEMBLE)
        version = spec.get("format_version")
        if version != FORMAT_VERSION or spec.get("method") not in METHODS:
            raise TextclassError(
                f"{path / rundir.ENSEMBLE}: format_version {version!r}, method "
                f"{spec.get('method')!r}; this textclass reads format_version {FORMAT_VERSION} "
                f"with a method of {', '.join(METHODS)}. Build it again with `textclass ensemble`."
            )
        groups = []
        for group in spec["groups"]:
            loaded = []
            for member in group["members"]:
                where = member_dir(member["path"], path)
                check_member(where, member, path)
                clf = Classifier.load(where, device=device, precision=precision, backend=backend)
                _check_labels(clf, spec, where)
                loaded.append(clf)
            groups.append(loaded)
        return cls(groups, spec)

    def group_outputs(
        self, texts: list[str], pairs: list[str] | None, batch_size: int = 64
    ) -> list[np.ndarray]:
        """Each group's output for prepared texts: the mean of its models' outputs."""
        return [
            np.mean(
                [
                    clf.predict_outputs(
                        texts, pairs, batch_size=batch_size, clean=self.members_clean
                    )
                    for clf in group
                ],
                axis=0,
            )
            for group in self.groups
        ]

    def _outputs(self, texts: list[str], pairs: list[str] | None, batch_size: int) -> np.ndarray:
        outputs = self.group_outputs(texts, pairs, batch_size)
        return combine(self.spec, outputs, self.multi_label)

    def __repr__(self) -> str:
        sizes = "+".join(str(len(group)) for group in self.groups)
        return (
            f"EnsembleClassifier(method={self.spec['method']}, task={self.task}, "
            f"labels={self.labels}, models={sizes})"
        )


def _check_labels(clf: Classifier, spec: dict[str, Any], where: Path) -> None:
    if clf.task != spec["task"] or list(clf.labels) != list(spec["labels"]):
        raise TextclassError(
            f"member {where} predicts {clf.task} {clf.labels}, but the ensemble was built for "
            f"{spec['task']} {spec['labels']}: the member was replaced; build the ensemble again."
        )


def _backend(clf: Classifier) -> str:
    from textclass.inference.onnx import OnnxSequenceClassifier

    return "onnx" if isinstance(clf.model, OnnxSequenceClassifier) else clf.backend


def _joined(values) -> str:
    """Distinct values in first-seen order, `+`-joined (`fp32`, `bf16+fp32`)."""
    return "+".join(dict.fromkeys(str(v) for v in values))


def _meta(spec: dict[str, Any], groups: list[list[Classifier]]) -> dict[str, Any]:
    """What a model directory's textclass.json would say, for the ensemble as a whole."""
    keys = ("task", "labels", "label_delimiter", "columns", "cleaning", "thresholds", "name")
    return {
        **{key: spec.get(key) for key in keys},
        "architecture": "ensemble",
        "metrics": spec.get("metrics") or {},
        "ensemble": {
            "method": spec["method"],
            "groups": len(groups),
            "members": sum(len(group) for group in groups),
            "weights": spec.get("weights"),
        },
    }
