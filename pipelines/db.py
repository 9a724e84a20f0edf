"""DuckDB connections with the network switched off and memory capped: the ground floor
every stage opens databases through."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from pipelines import settings

# Extensions are never fetched at run time: nothing may leave the machine. Memory is capped
# (settings.DUCKDB_MEMORY_LIMIT) and the rest spills to disk.
DUCKDB_CONFIG: dict[str, str | bool | int | float | list[str]] = {
    "autoinstall_known_extensions": False,
    "autoload_known_extensions": False,
    "memory_limit": settings.DUCKDB_MEMORY_LIMIT,
    # Tables are written in whatever order is fastest unless a model says ORDER BY.
    "preserve_insertion_order": False,
}


# Files only their owner may read or write (0600; folders 0700): the working store, its
# write-ahead log and spill files. Published files are opened to the group afterwards, each
# by an explicit chmod.
PRIVATE_UMASK = 0o077
_umask_lock = threading.Lock()
_umask_holders = 0
_umask_before = 0


@contextmanager
def private_files() -> Iterator[None]:
    """Everything created inside is private to its owner (umask 0o077), whichever thread
    creates it.

    DuckDB deletes a database's write-ahead log at each checkpoint and creates it again on
    the next write, with the process's umask: a chmod after opening cannot keep it private,
    so every write to a private store happens inside this. The umask is the process's, so
    nested and concurrent holders share it and the first one's is put back by the last.
    """
    global _umask_holders, _umask_before
    with _umask_lock:
        if _umask_holders == 0:
            _umask_before = os.umask(PRIVATE_UMASK)
            os.umask(_umask_before | PRIVATE_UMASK)  # a stricter umask stays as strict
        _umask_holders += 1
    try:
        yield
    finally:
        with _umask_lock:
            _umask_holders -= 1
            if _umask_holders == 0:
                os.umask(_umask_before)


# What the analysts' group may read: the published database, its exports and the validation
# reports (0640), in folders it may list (0750).
SHARED_FILE_MODE = 0o640
SHARED_FOLDER_MODE = 0o750


def shared_folder(folder: Path) -> Path:
    """A folder the analysts' group may list and read (0750), made if need be.

    Of an existing folder, only the bits that matter change: group read and list on, group
    write and every permission of others off. A set-group-id bit, which keeps new files in
    the analysts' group, stays; a folder of another owner is left as it is.
    """
    folder.mkdir(parents=True, exist_ok=True)
    mode = folder.stat()
    if mode.st_uid == os.getuid():
        folder.chmod((mode.st_mode & 0o7777 | SHARED_FOLDER_MODE) & ~0o027)
    return folder


def connect(path: Path, read_only: bool = False, **config: str) -> duckdb.DuckDBPyConnection:
    """A connection to a DuckDB file with network access switched off (plus any `config`)."""
    if not read_only:
        path.parent.mkdir(parents=True, exist_ok=True)
    return duckdb.connect(str(path), read_only=read_only, config=DUCKDB_CONFIG | config)


def connect_curated(path: Path, **config: str) -> duckdb.DuckDBPyConnection:
    """A connection that writes to a curated file (the build, the run's record in the built
    file, publishing): rows deleted stay deletion marks until the next full build."""
    # By default any checkpoint, closing the connection's included, rewrites every row group
    # of `episodes` that lost more than about 0.5 % of its rows, which an incremental build's
    # scattered touched children always make: 1.3-2.1 s of the 5M benchmark's increment,
    # against 0.07 s. The file keeps the replaced rows until the weekly full build
    # (settings.FULL_REBUILD_EVERY_DAYS); after the benchmark's increment it was no larger.
    return connect(path, False, max_vacuum_tasks="0", **config)


def one_row(con: duckdb.DuckDBPyConnection, sql: str) -> tuple[Any, ...]:
    """The row of a query that always returns exactly one (an aggregate with no GROUP BY)."""
    # fetchall, not fetchone: DuckDB 2 keeps a result read only in part open on the
    # connection, and refuses the connection's next query (ResourceInUseException).
    rows = con.execute(sql).fetchall()
    if len(rows) != 1:
        raise LookupError(f"expected one row, got {len(rows)}: {sql}")
    return rows[0]


_in_memory: list[duckdb.DuckDBPyConnection] = []
_in_memory_made = threading.Lock()


def _in_memory_cursor() -> duckdb.DuckDBPyConnection:
    """A connection of its own to the process's one in-memory database (made at first use)."""
    # A new database costs about 20 ms, a cursor on one about 1 ms: the ingest asks hundreds
    # of small questions. Names registered on a cursor are its own, so threads never meet.
    with _in_memory_made:
        if not _in_memory:
            # Row order is the answer when a result is set back beside its input: the setting
            # that drops it (DUCKDB_CONFIG) reorders results past about 300,000 rows.
            config = DUCKDB_CONFIG | {"preserve_insertion_order": True}
            _in_memory.append(duckdb.connect(config=config))
        return _in_memory[0].cursor()


def row_aligned(sql: str, tables: dict[str, pa.Table], params: dict | None = None) -> pa.Table:
    """An in-memory DuckDB's answer to `sql` over Arrow `tables` (by name), its rows in the
    order of their input."""
    con = _in_memory_cursor()
    try:
        for name, table in tables.items():
            con.register(name, table)
        return con.sql(sql, params=params).to_arrow_table()
    finally:
        con.close()
