"""The nightly's identity steps: what the ingest must read again for the identity store, and
the task that stores the identities it read (pipelines.identity.capture).

Identities cross from the ingest to the identity store inside `Captured`, whose repr counts
them: Prefect and the logs never see a value.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import duckdb
import pyarrow as pa
from prefect import task
from prefect.cache_policies import NO_CACHE

from pipelines.sources.discovery import RawFile


def with_uncaptured(
    con: duckdb.DuckDBPyConnection, identity_db: Path, found: list[RawFile], pending: list[RawFile]
) -> list[RawFile]:
    """`pending` and, in arrival order, the files the ledger has loaded whose identities the
    identity store has not stored (a run killed between the two stores' transactions, files
    loaded before identities were captured, or a new identity store)."""
    from pipelines.identity.capture import captured_files

    captured = captured_files(identity_db)
    loaded = con.execute("select file, sha256 from ingest_files where status = 'loaded'").fetchall()
    missing = {file for file, sha in loaded if captured.get(file) != sha}
    waiting = {f.rel for f in pending}
    return [f for f in found if f.rel in waiting or f.rel in missing]


@dataclass
class Captured:
    """The identities a run's ingest handed out, per file, and the files loaded: passed
    from the ingest to the identity store, never shown (the repr counts them)."""

    tables: list[pa.Table] = field(default_factory=list)
    files: list[tuple[str, str]] = field(default_factory=list)  # (file, sha256) loaded

    def __repr__(self) -> str:
        rows = sum(t.num_rows for t in self.tables)
        return f"Captured({len(self.files)} files, {rows} identity rows)"


@task(cache_policy=NO_CACHE)
def capture_identities(identity_db: Path, captured: Captured, run_id: str) -> int:
    """Store the identities the ingest read in the identity store (created 0600), with the
    files they came from, in one transaction; returns the records written."""
    from pipelines.db import private_files
    from pipelines.identity.capture import store_identities
    from pipelines.identity.store import open_identity_store

    # Every write inside private_files: DuckDB makes its write-ahead log again after each
    # checkpoint, with the umask of the moment.
    with private_files():
        con = open_identity_store(identity_db)
        try:
            return store_identities(
                con, captured.tables, run_id, datetime.now().replace(microsecond=0), captured.files
            )
        finally:
            con.close()
