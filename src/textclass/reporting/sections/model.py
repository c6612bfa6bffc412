"""The model: architecture, size, sequence length, pooling, training schedule, device."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from textclass.reporting.format import Block, fmt

if TYPE_CHECKING:
    from textclass.reporting.build import Run

POOLING = {
    "bert": "[CLS] token through the pooler (dense + tanh), then a linear layer",
    "distilbert": "first token ([CLS]) through pre_classifier (dense + ReLU), then a linear layer",
    "deberta-v2": "[CLS] token through a context pooler, then a linear layer",
    "roberta": "<s> token through a dense + tanh head, then a linear layer",
}


def data(run: Run, report: dict[str, Any]) -> dict[str, Any]:
    hf = run.json("model/config.json") or {}
    mc, env = run.config["model"], run.environment
    kind = mc.get("architecture", "transformer")
    arch = (hf.get("architectures") or ["?"])[0]
    params = run.monitor.get("parameters", {})
    out = {
        "kind": kind,
        "architecture": arch,
        "model_type": hf.get("model_type"),
        "base_model": mc["name"],
        "layers": hf.get("num_hidden_layers") or hf.get("n_layers"),
        "hidden_size": hf.get("hidden_size") or hf.get("dim"),
        "parameters": params.get("total"),
        "trainable_parameters": params.get("trainable"),
        "max_length": mc["max_length"],
        "device": env.get("device"),
        "precision": env.get("precision"),
        "freeze": mc.get("freeze", "none"),
        "long_texts": _long_texts(mc),
        "schedule": _schedule(run.config["train"]),
    }
    if kind == "bilstm":
        return {"model": out | _bilstm(mc, arch, out["layers"])}
    if kind == "linear":
        return {"model": out | _linear(run.state.get("extras", {}).get("linear") or {})}
    pretrained = "pretrained, fine-tuned" if mc.get("pretrained", True) else "random weights"
    out |= {"summary": f"Transformer encoder `{mc['name']}` ({arch}, {pretrained})"}
    out["pooling"] = POOLING.get(
        hf.get("model_type", ""), "the architecture's own classification head"
    )
    return {"model": out}


def _bilstm(mc: dict[str, Any], arch: str, layers: Any) -> dict[str, Any]:
    b, tok = mc.get("bilstm", {}), mc.get("tokenizer", {})
    return {
        "summary": f"BiLSTM trained from scratch ({arch})",
        "base_model": (
            f"none: a {tok.get('kind', '?')} tokenizer ({fmt(tok.get('vocab_size'))} "
            f"entries) learned from the training texts; {b.get('embedding_dim')}-d "
            f"{b.get('embeddings', 'random')} embeddings"
            + (" (frozen)" if b.get("freeze_embeddings") else "")
        ),
        "layers": b.get("num_layers", layers),
        "hidden_size": f"{b.get('hidden_size')} per direction",
        "pooling": "attention pooling over the BiLSTM states, then a linear layer",
    }


def _linear(fit: dict[str, Any]) -> dict[str, Any]:
    """A TF-IDF + linear model: no encoder, no tokens, no training schedule."""
    penalty = fit.get("penalty") or {}
    return {
        "summary": fit.get("description", "TF-IDF n-grams + a linear model"),
        "architecture": "linear",
        "base_model": "none: n-gram features of the training texts",
        "layers": None,
        "hidden_size": None,
        "parameters": fit.get("features"),
        "trainable_parameters": None,
        "max_length": None,
        "freeze": "none",
        "long_texts": "read whole (n-gram counts: no length cap)",
        "pooling": f"one linear output per label, or one value for regression ({penalty.get('name')}="
        f"{fmt(penalty.get('value'))} chosen on validation {fit.get('metric')})",
        "schedule": [],
    }


def _long_texts(mc: dict[str, Any]) -> str:
    w = mc.get("window") or {}
    cap, strategy = mc["max_length"], mc.get("truncation") or "head"
    if w.get("enabled") or strategy == "windows":
        return (
            f"sliding windows of {cap} tokens sharing {w.get('stride')} tokens, at most "
            f"{w.get('max_windows')} per text, logits aggregated by {w.get('aggregate')}"
            + (f"; training on {w['train']} windows" if w.get("train") else "")
        )
    if strategy == "head+tail":
        head = mc.get("head_tokens") or cap // 4
        return f"truncated to {cap} tokens: the first {head} and the last {cap - head - 2}"
    if strategy == "tail":
        return f"truncated to the last {cap} tokens"
    return f"truncated to the first {cap} tokens"


def _schedule(tc: dict[str, Any]) -> list[str]:
    """Learning-rate and unfreezing strategies beyond one lr for every parameter."""
    out = []
    if tc.get("layer_lr_decay"):
        out.append(
            f"layer-wise lr decay {tc['layer_lr_decay']:g} (each layer down gets that factor "
            "of the one above)"
        )
    if tc.get("unfreeze_layers_per_epoch"):
        out.append(
            f"gradual unfreezing: head first, then {tc['unfreeze_layers_per_epoch']} encoder "
            "layer(s) more per epoch, top first"
        )
    return out


def blocks(report: dict[str, Any]) -> list[Block]:
    m = report["model"]
    if m["kind"] == "linear":
        rows = [
            ["architecture", m["summary"]],
            ["features", f"{fmt(m['parameters'])} TF-IDF n-gram columns kept"],
            ["longer texts", m["long_texts"]],
            ["outputs", m["pooling"]],
            ["device / precision used", f"{m['device']} / {m['precision']}"],
        ]
        return [("h2", "Model"), ("table", ["property", "value"], rows)]
    rows = [
        ["architecture", m["summary"]],
        ["base model", m["base_model"]],
        ["layers / hidden size", f"{m['layers']} / {m['hidden_size']}"],
        [
            "parameters (total / trainable)",
            f"{fmt(m['parameters'])} / {fmt(m['trainable_parameters'])}",
        ],
        ["frozen", m["freeze"]],
        ["sequence length (max tokens)", m["max_length"]],
        ["longer texts", m["long_texts"]],
        ["pooling", m["pooling"]],
        *[["training schedule", x] for x in m["schedule"]],
        ["device / precision used", f"{m['device']} / {m['precision']}"],
    ]
    return [("h2", "Model"), ("table", ["property", "value"], rows)]
