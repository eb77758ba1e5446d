"""A progress bar for long runs (rich), silent when output is not a terminal or when turned off."""

from __future__ import annotations

import contextlib
import sys


class _Silent:
    def advance(self, n: int = 1) -> None:
        pass


@contextlib.contextmanager
def progress_bar(total: int, description: str, *, enabled: bool | None = None):
    """Yield an object with ``advance(n)``. ``enabled=None``: on only when stderr is a terminal."""
    if enabled is None:
        enabled = sys.stderr.isatty()
    if not enabled or total <= 0:
        yield _Silent()
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                  console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task(description, total=total)

        class _Bar:
            def advance(self, n: int = 1) -> None:
                bar.advance(task, n)

        yield _Bar()
