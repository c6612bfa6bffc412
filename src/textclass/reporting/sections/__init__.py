"""The report's sections, one module each.

Every section module has `data(run, report) -> dict`, its part of the report data (`run` is
the run directory read by `build.Run`; `report` holds the parts of the sections before it),
and `blocks(report) -> list[Block]`, its part of the rendered report (see `render.py`).

The common sections open and close every report; between them come the sections the task
names in `Task.report_sections`: their `blocks` under "Results", their `error_blocks` under
"Error analysis (test)". A task section may also provide
- `headline(test) -> str`: the report's opening line, from the test results;
- `HISTORY_COLUMNS`: (history key, column name) of the validation metrics per evaluation;
- `observations(report) -> list[str]`: statements about its results.
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any

from textclass.config.tasks import Task, get_task

BEFORE = ("summary", "model", "configuration", "data", "training")
AFTER = ("observations", "diagnosis")


def module(name: str) -> ModuleType:
    return importlib.import_module(f"{__name__}.{name}")


def common(names: tuple[str, ...]) -> list[ModuleType]:
    return [module(name) for name in names]


def of_task(task: Task | str) -> list[ModuleType]:
    return [module(name) for name in get_task(task).report_sections]


def in_order(task: Task | str) -> list[ModuleType]:
    """Every section of a report for this task, in the order their data is built."""
    return [*common(BEFORE), *of_task(task), *common(AFTER)]


def provided(task: Task | str, name: str) -> list[Any]:
    """What the task's sections provide under `name` (a hook or a constant), in order."""
    return [getattr(m, name) for m in of_task(task) if hasattr(m, name)]
