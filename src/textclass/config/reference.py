"""The config schema as a reader sees it: every key with its default, type and description.

Two outputs come from here: the commented starter config that `textclass init` writes, and
(through `scripts/config_reference.py`) the reference page docs/configuration.md.
"""

from __future__ import annotations

import inspect
import re
import textwrap
import types
import typing
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import to_jsonable_python

from textclass.config.schema import RunConfig
from textclass.errors import DataError, TextclassError

WIDTH = 99  # comment lines of the starter config wrap here
CONFIG_SUFFIXES = (".yaml", ".yml")


def section_type(field: FieldInfo) -> type[BaseModel] | None:
    ann = field.annotation
    return ann if isinstance(ann, type) and issubclass(ann, BaseModel) else None


def sections(
    model: type[BaseModel] = RunConfig, prefix: str = "", field: FieldInfo | None = None
) -> list[tuple[str, type[BaseModel], FieldInfo | None]]:
    """(dotted prefix, section class, the field that holds it) for `model` and every section in it,
    depth first in the schema's order."""
    out = [(prefix, model, field)]
    for name, sub in model.model_fields.items():
        cls = section_type(sub)
        if cls is not None:
            out += sections(cls, f"{prefix}{name}.", sub)
    return out


def leaf_fields(model: type[BaseModel]) -> list[tuple[str, FieldInfo]]:
    return [(n, f) for n, f in model.model_fields.items() if section_type(f) is None]


def defaults(model: type[BaseModel], instance: BaseModel | None = None) -> dict[str, Any]:
    """Every key's default as plain YAML-able data; sections recurse (a required section, such
    as `data`, is filled from its class's defaults)."""
    out: dict[str, Any] = {}
    for name, field in model.model_fields.items():
        if instance is not None:
            value = getattr(instance, name)
        elif field.is_required():
            value = None
        else:
            value = field.get_default(call_default_factory=True)
        cls = section_type(field)
        out[name] = defaults(cls, value) if cls is not None else to_jsonable_python(value)
    return out


def union_args(ann: Any) -> tuple[Any, ...]:
    if typing.get_origin(ann) in (typing.Union, types.UnionType):
        return typing.get_args(ann)
    return (ann,)


def yaml_scalar(value: Any) -> str:
    text = yaml.safe_dump(value, default_flow_style=True, allow_unicode=True, width=1000)
    return text.removesuffix("\n").removesuffix("\n...").strip()


def choices(field: FieldInfo) -> str:
    """The allowed values of a key with a fixed set of them (`auto | csv | tsv`), or ''."""
    args = union_args(field.annotation)
    if not any(typing.get_origin(a) is Literal for a in args):
        return ""
    parts = []
    for arg in args:
        if typing.get_origin(arg) is Literal:
            parts += [str(v) for v in typing.get_args(arg)]
        elif typing.get_origin(arg) is dict:
            parts.append("{label: weight}")
        elif arg is type(None):
            parts.append("null")
    return " | ".join(parts)


def one_line(text: str | None) -> str:
    return " ".join((text or "").split())


# --- the starter config (`textclass init`) ------------------------------------------------------

STARTER_HEADER = """\
textclass run config, written by `textclass init`. Every key is shown with its default and
what it does; change what you need and delete the rest (a missing key takes its default).
Train:  textclass train {path}
Any key can also be set on the command line, e.g.  textclass train {path} train.epochs=1
Every key: docs/configuration.md."""

NO_DATA = (
    "No training data yet: set data.train to your file (CSV, TSV, JSON, JSONL or Parquet with "
    "`text` and `label` columns) or data.dataset to a bundled dataset (`textclass datasets`)."
)


def _comment(text: str, indent: str) -> list[str]:
    width = max(40, WIDTH - len(indent) - 2)
    return [f"{indent}# {line}".rstrip() for line in textwrap.wrap(text, width) or [""]]


def _section_about(model: type[BaseModel], field: FieldInfo) -> str:
    doc = inspect.cleandoc(model.__dict__.get("__doc__") or "")
    return one_line(" ".join(p for p in (field.description, doc) if p))


def _starter_lines(model: type[BaseModel], values: dict[str, Any], indent: str) -> list[str]:
    lines: list[str] = []
    for name, field in model.model_fields.items():
        cls = section_type(field)
        if cls is not None:
            about = _section_about(cls, field)
            lines += ["", *(_comment(about, indent) if about else []), f"{indent}{name}:"]
            lines += [*_starter_lines(cls, values[name], indent + "  "), ""]
            continue
        about = one_line(field.description)
        allowed = choices(field)
        if allowed:
            about = f"{about} One of: {allowed}."
        lines += [*_comment(about, indent), f"{indent}{name}: {yaml_scalar(values[name])}"]
    return lines


def starter_config(path: str | Path, data: str | Path | None = None) -> str:
    """The commented YAML of a run config at its defaults, with `data.train` set to `data`
    (or, without it, a note to set the training data). It loads back, with `load_config`,
    to the defaults plus that one key."""
    values = defaults(RunConfig)
    if data is not None:
        values["data"]["train"] = str(data)
    header = STARTER_HEADER.format(path=path)
    lines = [f"# {line}".rstrip() for line in header.splitlines()]
    if data is None:
        lines += ["#", *_comment(NO_DATA, "")]
    lines += ["", *_starter_lines(RunConfig, values, "")]
    text = "\n".join(lines).strip("\n") + "\n"
    return re.sub(r"\n{3,}", "\n\n", text)


def starter_path(data: str | Path | None) -> Path:
    """Where `textclass init` writes without a PATH: `my.yaml` for `--data my.csv`, else
    `config.yaml`, in the current directory."""
    stem = Path(data).name.split(".")[0] if data is not None else ""
    return Path(f"{stem or 'config'}.yaml")


def write_starter_config(path: str | Path | None = None, data: str | Path | None = None) -> Path:
    """Write `starter_config` to `path` (default: `starter_path(data)`); never over a file.

    `data` must be an existing file of a format textclass reads (by its extension)."""
    from textclass.data.read import detect_format

    target = Path(path) if path is not None else starter_path(data)
    if target.suffix.lower() not in CONFIG_SUFFIXES:
        raise TextclassError(f"{target}: a config file's name ends in .yaml or .yml.")
    if data is not None:
        detect_format(Path(data))  # an extension textclass cannot read: a DataError that says so
        if not Path(data).is_file():
            raise DataError(f"--data {data}: no such file. Give the path of your training file.")
    if target.exists():
        raise TextclassError(
            f"{target} exists; textclass init never overwrites a file. Choose another path "
            f"(textclass init OTHER.yaml) or delete {target} first."
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    with target.open("x", encoding="utf-8") as fh:  # "x": fail rather than overwrite in a race
        fh.write(starter_config(target, data))
    return target
