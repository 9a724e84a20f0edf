"""What a raw file becomes on its way through the ingest: prepared, then a ledger row."""

from __future__ import annotations

from dataclasses import dataclass, field

import pyarrow as pa

from pipelines.ingest.batches import Batch
from pipelines.ingest.identities import LatestRows
from pipelines.ingest.pseudonym import ChildIds
from pipelines.sources.discovery import RawFile


@dataclass
class FileResult:
    """What happened to one file: its row of the ingest_files ledger."""

    file: str
    sha256: str
    source: str
    status: str
    rows_read: int = 0
    rows_loaded: int = 0
    rows_quarantined: int = 0
    rows_out_of_scope: int = 0
    message: str = ""

    @property
    def quarantine_share(self) -> float:
        return self.rows_quarantined / self.rows_read if self.rows_read else 0.0


@dataclass
class Prepared:
    """A file read and typed, waiting for its checks."""

    raw: RawFile
    result: FileResult
    text: pa.Table | None = None  # its rows as text, a row's position its row number
    batch: Batch | None = None  # already decided (SSDA903), or after the checks
    ids: ChildIds | None = None  # its children's ids, made before its first run is checked
    repeated: pa.Array | None = None  # its references on more than one row, made with its ids
    # Rows that could not be split into the header's fields: row number -> quarantine reason.
    malformed: dict[int, str] = field(default_factory=dict)
    # Its identity columns as text (pipelines.ingest.identities), kept only when identities
    # are handed out, and which rows hold its loaded children's latest values.
    identity: pa.Table | None = None
    latest: LatestRows | None = None

    @property
    def awaits_checks(self) -> bool:
        return self.batch is None and self.text is not None
