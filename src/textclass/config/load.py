"""Loading a run config: YAML plus dotted `key=value` overrides, every problem reported at once."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from textclass.config.schema import RunConfig
from textclass.errors import ConfigError, TextclassError, did_you_mean


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


def _merge_unions(errors: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One error per key whose type is a union (`train.epochs`: a number or `auto`): pydantic
    reports each member's failure under a member tag appended to the key."""
    merged: dict[tuple, dict[str, Any]] = {}
    for error in errors:
        loc = tuple(error["loc"])
        tagged = len(loc) > 1 and isinstance(loc[-1], str) and loc[-1] not in _fields_at(loc)
        if tagged and error["type"] != "extra_forbidden" and loc[-2] in _fields_at(loc[:-1]):
            loc = loc[:-1]  # a union member's tag, not a key
            if loc in merged:
                merged[loc]["msg"] += " or " + error["msg"][0].lower() + error["msg"][1:]
                continue
        merged[loc if loc not in merged else (*loc, len(merged))] = {**error, "loc": loc}
    return list(merged.values())


def validate(raw: dict[str, Any], source: str | None = None) -> RunConfig:
    """Validate a raw dict, raising ConfigError with every problem at once."""
    try:
        return RunConfig.model_validate(raw)
    except ValidationError as exc:
        errors = _merge_unions(exc.errors())
        # A validator that finds several problems (the search space) gives one per line.
        problems = [line for e in errors for line in _describe(e).split("\n")]
        raise ConfigError(problems, source) from None


def load_config(
    path: str | Path | None = None,
    overrides: list[str] | None = None,
    base: dict[str, Any] | None = None,
) -> RunConfig:
    """Read a YAML config (or start from `base`), apply `key=value` overrides, validate.

    With no file, the overrides apply to the defaults: `load_config(overrides=["data.train=
    my.csv"])` is a whole run config. Relative data paths in the file are resolved against the
    current directory, as on the command line.
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
        except UnicodeDecodeError:
            raise ConfigError(
                ["not UTF-8 text, so not a YAML config (a data file?)"], source
            ) from None
        except yaml.YAMLError as exc:
            raise ConfigError([f"not valid YAML: {exc}"], source) from None
        if not isinstance(loaded, dict):
            raise ConfigError(
                ["the file must hold a mapping of sections (data, model, ...)"], source
            )
        raw = _merge(raw, loaded)
    extra, problems = parse_overrides(overrides or [])
    if problems:
        raise ConfigError(problems, source)
    raw = _merge(raw, extra)
    raw.setdefault("data", {})  # none given: the data section's own message says what to set
    if raw.get("name") is None:
        raw["name"] = default_name(path, raw.get("data"))
    return validate(raw, source)


def default_name(path: Path | None, data: Any) -> str | None:
    """A run's name when the config leaves it out (or null): the config file's stem; with no
    config file, the training file's (`my.csv.gz` -> `my`) or the bundled dataset's name."""
    if path is not None:
        return path.stem
    if not isinstance(data, dict):
        return None
    if isinstance(data.get("train"), str | Path) and str(data["train"]).strip():
        return Path(data["train"]).name.split(".")[0] or None
    return data.get("dataset") if isinstance(data.get("dataset"), str) else None


def train_arguments(first: Path | None, overrides: list[str]) -> tuple[Path | None, list[str]]:
    """The positionals of `textclass train`: (config file or None, overrides).

    The first one is a config file, a `key=value` override, or a data file, told apart by its
    extension: a data file (`.csv`, `.tsv`, `.json`, `.jsonl`, `.parquet`, compressed too)
    becomes `data.train`, on the default config. Anything else is read as a YAML config."""
    from textclass.config.reference import CONFIG_SUFFIXES
    from textclass.data.read import SPREADSHEET_SUFFIXES, detect_format

    if first is None:
        return None, overrides
    if "=" in str(first) and not first.exists():
        return None, [str(first), *overrides]
    if first.suffix.lower() in CONFIG_SUFFIXES:
        return first, overrides
    try:
        detect_format(first)
    except TextclassError:
        if first.suffix.lower() in SPREADSHEET_SUFFIXES:
            raise  # a spreadsheet is data: "save the sheet as CSV"
        return first, overrides  # no data extension: a config, as it always was
    given = [o for o in overrides if o.partition("=")[0].strip() == "data.train"]
    if given:
        raise ConfigError(
            [f"{first} is a data file, so it is data.train; remove `{given[0]}` or the file"]
        )
    return None, [f"data.train={json.dumps(str(first), ensure_ascii=False)}", *overrides]
