"""The shape of the code, checked: no import cycles, task names and artifact names each in one
module, functions small enough to read. Reads the sources as text (AST); imports nothing."""

from __future__ import annotations

import ast
import re
from pathlib import Path

SRC = Path(__file__).parents[2] / "src" / "textclass"


def _modules() -> dict[str, ast.Module]:
    out = {}
    for path in SRC.rglob("*.py"):
        parts = path.relative_to(SRC.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        out[name] = ast.parse(path.read_text(), filename=str(path))
    return out


def _top_level_imports(name: str, tree: ast.Module, known: set[str]) -> set[str]:
    """Modules of textclass imported when `name` is imported (module level, not in functions
    or `if TYPE_CHECKING:` blocks)."""
    found = set()
    for node in tree.body:
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module.startswith("textclass"):
                for alias in node.names:
                    sub = f"{node.module}.{alias.name}"
                    found.add(sub if sub in known else node.module)
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("textclass")}
    return {m for m in found if m in known and m != name}


def test_no_import_cycles():
    modules = _modules()
    known = set(modules)
    graph = {name: _top_level_imports(name, tree, known) for name, tree in modules.items()}
    state: dict[str, int] = {}
    cycles = []

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                cycles.append([*path[path.index(nxt) :], nxt] if nxt in path else [node, nxt])
            elif nxt not in state:
                visit(nxt, [*path, nxt])
        state[node] = 2

    for name in sorted(graph):
        if name not in state:
            visit(name, [name])
    assert not cycles, cycles[:5]


def test_task_names_live_in_the_task_module():
    pattern = re.compile(r"""["'](single_label|multi_label|regression)["']""")
    offenders = [
        f"{path.relative_to(SRC)}:{n}: {line.strip()}"
        for path in SRC.rglob("*.py")
        if path.name != "tasks.py"
        for n, line in enumerate(path.read_text().splitlines(), 1)
        if pattern.search(line)
    ]
    assert not offenders, offenders


def test_artifact_names_live_in_the_run_directory_module():
    pattern = re.compile(r"""["'][\w-]+\.(json|csv|yaml|md|html|safetensors|onnx)["']""")
    allowed = {"rundir.py"}
    offenders = [
        f"{path.relative_to(SRC)}:{n}: {line.strip()}"
        for path in SRC.rglob("*.py")
        if path.name not in allowed
        for n, line in enumerate(path.read_text().splitlines(), 1)
        if pattern.search(line)
    ]
    assert not offenders, offenders


def test_functions_stay_small():
    sizes = sorted(
        (
            (
                node.end_lineno - node.lineno + 1,
                f"{path.relative_to(SRC)}:{node.lineno} {node.name}",
            )
            for path in SRC.rglob("*.py")
            for node in ast.walk(ast.parse(path.read_text()))
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        ),
        reverse=True,
    )
    assert sizes[0][0] <= 80, sizes[:5]
