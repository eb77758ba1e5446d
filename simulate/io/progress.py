"""A progress bar for long runs (rich), silent when output is not a terminal or when turned off.

A bar counts units of work: steps, frames, or, with ``weighted=True``, any weights that add up to
``total`` (a sweep advances by the estimated seconds of each step and each flow solve, from
:mod:`simulate.solvers.cost`, so that unequal pieces of work move it by what they cost and its time
remaining is honest). A weighted bar shows a percentage, not a count.
"""

from __future__ import annotations

import contextlib
import sys


class _Work:
    """What a bar has counted: ``total`` and ``done`` (kept also when nothing is shown)."""

    def __init__(self, total):
        self.total, self.done = total, 0

    def advance(self, n=1) -> None:
        self.done += n


@contextlib.contextmanager
def progress_bar(total, description: str, *, enabled: bool | None = None, weighted: bool = False):
    """Yield an object with ``advance(n)``, ``total`` and ``done``. ``enabled=None``: on only when
    stderr is a terminal. ``weighted``: ``total`` and the advances are weights (floats), shown as a
    percentage."""
    if enabled is None:
        enabled = sys.stderr.isatty()
    if not enabled or total <= 0:
        yield _Work(total)
        return
    from rich.console import Console
    from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TaskProgressColumn, TextColumn,
                               TimeRemainingColumn)

    count = TaskProgressColumn() if weighted else MofNCompleteColumn()
    with Progress(TextColumn("{task.description}"), BarColumn(), count, TimeRemainingColumn(),
                  console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task(description, total=total)

        class _Bar(_Work):
            def advance(self, n=1) -> None:
                super().advance(n)
                bar.advance(task, n)

        yield _Bar(total)
