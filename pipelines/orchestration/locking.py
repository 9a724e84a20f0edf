"""One nightly run at a time, with a lock the operating system drops if the run crashes."""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from pipelines.errors import WhereaboutsError


class AlreadyRunning(WhereaboutsError, RuntimeError):
    """Another nightly run holds the lock."""


@contextmanager
def run_lock(work_db: Path) -> Iterator[None]:
    """Hold an exclusive lock beside the working store for the whole run.

    flock locks die with their process, so a crashed run never leaves a stale lock.
    """
    path = work_db.with_name(work_db.name + ".lock")
    path.parent.mkdir(parents=True, exist_ok=True)
    handle = open(path, "a+")  # noqa: SIM115 - held for the whole run
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            raise AlreadyRunning(
                f"another nightly run is in progress ({holder}); not starting a second one"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()}")
        handle.flush()
        yield
    finally:
        handle.close()
