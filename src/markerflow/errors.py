"""Errors a user can act on.

Every problem caused by the user's data or configuration is raised as an :class:`InputError` whose
message names the file, the row, sample or key, and what to do. Scripts print that message to the
rule's log and exit non-zero without a traceback (see :mod:`markerflow.runner`).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

#: How many offending items an error message names before it says "and N more".
MAX_NAMED = 5


class InputError(Exception):
    """Bad input: the message is meant for the person who wrote the config or the data."""

    def __init__(self, message: str, *, path: str | Path | None = None, hint: str | None = None):
        self.path = None if path is None else str(path)
        self.hint = hint
        text = message if self.path is None else f"{self.path}: {message}"
        if hint:
            text = f"{text}\n  What to do: {hint}"
        super().__init__(text)


class AnalysisError(Exception):
    """The data are valid but the analysis cannot proceed (e.g. a design without residual df)."""


def name_first(items: Iterable[object], n: int = MAX_NAMED) -> str:
    """The first ``n`` items joined with ", ", then "(and K more)" if there are more.

    Used by every error message that names offending genes, samples, rows or lines.
    """
    items = list(items)
    shown = ", ".join(str(x) for x in items[:n])
    return shown + (f" (and {len(items) - n} more)" if len(items) > n else "")
