"""User-facing errors.

Every problem caused by the user's input (a file, a column, a config value) is raised as a
`TextclassError` whose message names the place and the fix. The CLI prints the message without
a traceback (unless `--debug`); Python callers can catch the class.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class TextclassError(Exception):
    """An error the user can fix; its message says what was expected, what was found, and how."""


class ConfigError(TextclassError):
    """The run configuration is invalid. Holds every problem found, not only the first."""

    def __init__(self, problems: list[str], source: str | None = None):
        self.problems = problems
        where = f" in {source}" if source else ""
        lines = [f"{len(problems)} problem(s){where}:"] + [f"  - {p}" for p in problems]
        super().__init__("\n".join(lines))


class DataError(TextclassError):
    """A data file or frame cannot be used as given."""


class TrainingInterrupted(TextclassError):
    """Training stopped by Ctrl-C or SIGTERM after writing a resumable checkpoint."""


def did_you_mean(name: str, options: Iterable[str]) -> str:
    """' Did you mean `x`?' for the closest option, or '' when nothing is close."""
    close = difflib.get_close_matches(name, list(options), n=1, cutoff=0.6)
    return f" Did you mean `{close[0]}`?" if close else ""
