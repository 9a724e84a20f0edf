"""Progress on the terminal for the steps of a run that take more than a moment.

Files read, rows checked, models built, suites run: each a bar on stderr while a person
watches. When stderr is not a terminal (cron, systemd, a log file, tests) nothing is drawn, so
logs hold only the summary. WHEREABOUTS_PROGRESS=never silences it on a terminal too;
=always draws it anywhere. All bars of a process share one live display (the library allows
one at a time), started with the first bar and stopped when the last one ends, so the run's
summary prints below them.
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

T = TypeVar("T")

_lock = threading.Lock()
_display: Any = None  # the live rich Progress while any bar is running
_running = 0


def shown() -> bool:
    """Whether bars are drawn: on a terminal, unless WHEREABOUTS_PROGRESS says otherwise."""
    wanted = os.environ.get("WHEREABOUTS_PROGRESS", "auto")
    if wanted in ("always", "never"):
        return wanted == "always"
    return sys.stderr.isatty()


class Bar:
    """One bar: `advance(n)` moves it on by n, `reach(done)` to done."""

    def __init__(self, display: Any = None, task: Any = None) -> None:
        self._display, self._task, self.done = display, task, 0

    def advance(self, n: int) -> None:
        self.reach(self.done + n)

    def reach(self, done: int) -> None:
        self.done = done
        if self._display is not None:
            self._display.update(self._task, completed=done)


@contextmanager
def counting(what: str, total: int | None) -> Iterator[Bar]:
    """A bar of `what` (e.g. "rows checked") out of `total`, for as long as the block runs."""
    if not shown():
        yield Bar()
        return
    display, task = _start(what, total)
    try:
        yield Bar(display, task)
    finally:
        _stop(task)


def track(items: Iterable[T], what: str, total: int | None = None) -> Iterator[T]:
    """The items, one by one, with a bar of `what` moving on after each."""
    if total is None and hasattr(items, "__len__"):
        total = len(items)  # type: ignore[arg-type]
    with counting(what, total) as bar:
        for item in items:
            yield item
            bar.advance(1)


def _start(what: str, total: int | None) -> tuple[Any, Any]:
    global _display, _running
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
    )

    with _lock:
        if _display is None:
            _display = Progress(
                TextColumn("{task.description:<16}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                console=Console(stderr=True),
            )
            _display.start()
        _running += 1
        return _display, _display.add_task(what, total=total)


def _stop(task: Any) -> None:
    global _display, _running
    with _lock:
        assert _display is not None
        _display.stop_task(task)
        _running -= 1
        if _running == 0:
            _display.stop()
            _display = None
