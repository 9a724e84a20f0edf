"""One nightly run at a time per working store and per published database, with locks the
operating system drops if the run crashes."""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import IO

from pipelines.errors import WhereaboutsError


class AlreadyRunning(WhereaboutsError, RuntimeError):
    """Another nightly run holds the lock."""


def lock_path(store: Path) -> Path:
    """The lock file beside a database: `<file>.lock`."""
    return store.with_name(store.name + ".lock")


@contextmanager
def run_lock(
    work_db: Path, db: Path | None = None, identity_db: Path | None = None
) -> Iterator[None]:
    """Hold exclusive locks beside the working store, beside the published database (`db`)
    and beside the identity store (`identity_db`) for the whole run.

    The second lock keeps a run with another working store from clearing this run's build
    file or renaming its own over the database this run is publishing. flock locks die with
    their process, so a crashed run never leaves a stale lock.
    """
    with ExitStack() as held:
        # The working store's folder is private (0700) when the run makes it.
        work_db.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        held.enter_context(_flock(lock_path(work_db), ""))
        if db is not None:
            held.enter_context(_flock(lock_path(db), f" on {db}"))
        if identity_db is not None:
            # Another working store's run may name the same identity store (--identity-db).
            identity_db.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            held.enter_context(_flock(lock_path(identity_db), f" on {identity_db}"))
        yield


@contextmanager
def _flock(path: Path, where: str) -> Iterator[IO[str]]:
    path.parent.mkdir(parents=True, exist_ok=True)
    handle = open(path, "a+")  # noqa: SIM115 - held for the whole run
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            raise AlreadyRunning(
                f"another nightly run is in progress ({holder}){where}; not starting a second one"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()}")
        handle.flush()
        yield handle
    finally:
        handle.close()
