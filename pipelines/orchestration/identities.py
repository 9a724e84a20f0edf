"""The nightly's identity steps: what the ingest must read again for the identity store, and
the steps that store the identities it read (pipelines.identity.capture) and link them.

Identities cross from the ingest to the identity store inside `Captured`, whose repr counts
them: Prefect and the logs never see a value.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import duckdb
import pyarrow as pa

from pipelines import settings
from pipelines.sources.discovery import RawFile

# What the working store is given after linkage, from the identity store.
LINKAGE_OUTPUT = {
    "person_ids": "select record_id as child_id, person_id, linked_by from person_links",
    "person_changes": "select * from person_changes",
    "linkage_quality": "select * from linkage_quality",
}


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


def capture_identities(identity_db: Path, captured: Captured, run_id: str) -> int:
    """Store the identities the ingest read in the identity store (created 0600), with the
    files they came from, in one transaction; returns the records written."""
    from pipelines.db import private_files
    from pipelines.identity.capture import store_identities
    from pipelines.identity.store import open_identity_store
    from pipelines.ingest.pseudonym import key_file

    # Every write inside private_files: DuckDB makes its write-ahead log again after each
    # checkpoint, with the umask of the moment.
    with private_files():
        # The record ids the ingest made are this key's: the store must be this key's too.
        con = open_identity_store(identity_db, key=key_file().key)
        try:
            return store_identities(
                con, captured.tables, run_id, datetime.now().replace(microsecond=0), captured.files
            )
        finally:
            con.close()


def link_identities(
    identity_db: Path, work_db: Path, run_id: str, truth: Path | None = None
) -> list[str]:
    """Link the identity store's new and changed records with the saved model, then hand the
    working store each child id's person id; the summary lines. A `truth` file (synthetic
    data only, and only when asked for) adds precision and recall."""
    from pipelines.db import private_files
    from pipelines.identity.linkage import link_records
    from pipelines.identity.quality import run_quality, truth_from_file
    from pipelines.identity.store import open_identity_store
    from pipelines.ingest.pseudonym import key_file
    from pipelines.ingest.working_store import open_work, replace_linkage_output

    key = key_file()
    truth_frame = truth_from_file(truth, key.key) if truth else None
    with private_files():
        con = open_identity_store(identity_db, key=key.key)
        try:
            con.execute(f"set memory_limit = '{settings.LINKAGE_DUCKDB_MEMORY_LIMIT}'")
            now = datetime.now().replace(microsecond=0)
            linked = link_records(con, key.key, run_id, None, now, truth_frame)
            measured = [
                f"{measure} of pairs: {value:.4f} (against {truth})"
                for measure, breakdown, value in run_quality(con, run_id)
                if breakdown == "all" and measure in ("precision", "recall") and value is not None
            ]
            # Pseudonymous on every column: all that leaves the identity store.
            output = {name: con.sql(sql).to_arrow_table() for name, sql in LINKAGE_OUTPUT.items()}
        finally:
            con.close()
        # The whole mapping each night, so a run killed between the two stores' commits is
        # made good by the next one.
        work = open_work(work_db, key=key)
        try:
            replace_linkage_output(work, output)
        finally:
            work.close()
    return linked.lines() + measured
