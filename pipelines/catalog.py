"""Which raw files exist, and which of them the working store has not yet ingested."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import duckdb

from pipelines.settings import IN_PROGRESS_SUFFIXES
from pipelines.sources import Source
from pipelines.store import forget_files


@dataclass(frozen=True)
class RawFile:
    source: Source
    path: Path
    rel: str  # <source>/<name>: the file's name in the ledger
    size: int
    mtime: float


class Seen(NamedTuple):
    """What the ledger remembers of a file."""

    size: int
    mtime: float
    fingerprint: str
    sha256: str
    status: str


def is_complete(path: Path) -> bool:
    """Writers drop files as dotfiles or *.part/*.tmp and rename them when complete."""
    return not path.name.startswith(".") and path.suffix.lower() not in IN_PROGRESS_SUFFIXES


def discover(raw_dir: Path, sources: dict[str, Source]) -> tuple[list[RawFile], list[str]]:
    """Complete files of declared sources in arrival order, and undeclared folders."""
    found: list[RawFile] = []
    undeclared = []
    if not raw_dir.is_dir():
        return found, undeclared
    for folder in sorted(p for p in raw_dir.iterdir() if p.is_dir()):
        source = sources.get(folder.name)
        if source is None:
            undeclared.append(folder.name)
            continue
        for path in sorted(p for p in folder.iterdir() if p.is_file() and is_complete(p)):
            stat = path.stat()
            rel = f"{folder.name}/{path.name}"
            found.append(RawFile(source, path, rel, stat.st_size, stat.st_mtime))
    return found, undeclared


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
