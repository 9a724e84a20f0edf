"""Which discovered raw files the working store's ledger has not yet ingested."""

from __future__ import annotations

from typing import NamedTuple

import duckdb

from pipelines.ingest.working_store import forget_files
from pipelines.sources.discovery import RawFile


class Seen(NamedTuple):
    """What the ledger remembers of a file."""

    size: int
    mtime: float
    fingerprint: str
    sha256: str
    status: str


def to_ingest(con: duckdb.DuckDBPyConnection, files: list[RawFile]) -> list[RawFile]:
    """Files that are new, changed, or read under a declaration that has since changed.

    A changed declaration makes its whole source ingest again, so a fixed mapping recovers
    the rows it had quarantined with no manual step. A file skipped as a copy of one that is
    read again is looked at again too: its bytes may no longer be loaded anywhere else.
    """
    known = {
        row[0]: Seen(*row[1:])
        for row in con.execute(
            "select file, size, mtime, fingerprint, sha256, status from ingest_files"
        ).fetchall()
    }
    stale_sources = {
        f.source.name
        for f in files
        if f.rel in known and known[f.rel].fingerprint != f.source.fingerprint
    }
    forget_files(con, [f.rel for f in files if f.source.name in stale_sources and f.rel in known])
    again = {
        f.rel
        for f in files
        if f.rel in known
        and (f.source.name in stale_sources or known[f.rel][:2] != (f.size, f.mtime))
    }
    read_again = {known[rel].sha256 for rel in again if known[rel].status == "loaded"}
    copies = {
        rel
        for rel, seen in known.items()
        if seen.status == "duplicate" and seen.sha256 in read_again
    }
    return [f for f in files if f.rel not in known or f.rel in again | copies]
