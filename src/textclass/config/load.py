"""Loading a run config: YAML plus dotted `key=value` overrides, every problem reported at once."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from textclass.config.schema import RunConfig
from textclass.errors import ConfigError, did_you_mean


def parse_overrides(overrides: list[str]) -> tuple[dict[str, Any], list[str]]:
    """Turn `a.b=1` strings into a nested dict; values are read as YAML scalars."""
    nested: dict[str, Any] = {}
    problems = []
    for item in overrides:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            problems.append(f"override `{item}` is not of the form key=value (e.g. train.lr=3e-5)")
            continue
        try:
            value = yaml.safe_load(raw) if raw.strip() else None
        except yaml.YAMLError:
            value = raw
        if value in ("", None) and raw.strip() in ("|", ">", "|-", ">-", "|+", ">+"):
            value = raw.strip()  # a YAML block indicator alone reads as "": keep the character
        node = nested
        parts = key.strip().split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                problems.append(f"override `{item}` sets a key below a value")
                break
        else:
            node[parts[-1]] = value
    return nested, problems


def _merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def _fields_at(loc: tuple) -> list[str]:
    """Valid field names of the section at `loc` (the path of an unknown key)."""
    model: type[BaseModel] = RunConfig
    for part in loc[:-1]:
        field = model.model_fields.get(str(part))
        ann = getattr(field, "annotation", None)
        if not (isinstance(ann, type) and issubclass(ann, BaseModel)):
            return []
        model = ann
    return list(model.model_fields)


def _describe(error: dict[str, Any]) -> str:
    loc = tuple(error["loc"])
    key = ".".join(str(p) for p in loc) or "(top level)"
    if error["type"] == "extra_forbidden":
        options = _fields_at(loc)
        prefix = ".".join(str(p) for p in loc[:-1])
        hint = did_you_mean(str(loc[-1]), options)
        valid = f" Valid keys{' in `' + prefix + '`' if prefix else ''}: {', '.join(options)}."
        return f"unknown key `{key}`.{hint}{valid if not hint else ''}"
    message = error["msg"].removeprefix("Value error, ")
    if error["type"] in ("value_error", "assertion_error") and not loc:
        return message
    found = error.get("input")
    shown = "" if isinstance(found, dict) else f" (got {found!r})"
    return f"`{key}`: {message}{shown}"


def validate(raw: dict[str, Any], source: str | None = None) -> RunConfig:
    """Validate a raw dict, raising ConfigError with every problem at once."""
    try:
        return RunConfig.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError([_describe(e) for e in exc.errors()], source) from None


def load_config(
    path: str | Path | None = None,
    overrides: list[str] | None = None,
    base: dict[str, Any] | None = None,
) -> RunConfig:
    """Read a YAML config (or start from `base`), apply `key=value` overrides, validate.

    Relative data paths in the file are resolved against the current directory, as on the
    command line.
    """
    raw: dict[str, Any] = dict(base or {})
    source = None
    if path is not None:
        path = Path(path)
        source = str(path)
        if not path.is_file():
            raise ConfigError([f"config file not found: {path}"])
        try:
            loaded = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except yaml.YAMLError as exc:
            raise ConfigError([f"not valid YAML: {exc}"], source) from None
        if not isinstance(loaded, dict):
            raise ConfigError(
                ["the file must hold a mapping of sections (data, model, ...)"], source
            )
        raw = _merge(raw, loaded)
        raw.setdefault("name", path.stem)
    extra, problems = parse_overrides(overrides or [])
    if problems:
        raise ConfigError(problems, source)
    raw = _merge(raw, extra)
    return validate(raw, source)
