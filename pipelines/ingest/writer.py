"""Store checked files in the working store, in arrival order, each in one transaction.

Storing runs on a thread of its own while the main thread reads and checks the next pieces:
DuckDB lets go of Python's lock while it writes, so the two overlap on a 2-core machine.
"""

from __future__ import annotations

import queue
import threading
from collections import Counter
from collections.abc import Callable
from datetime import datetime
from types import TracebackType

import duckdb

from pipelines import settings
from pipelines.ingest.batches import Batch
from pipelines.ingest.prepared import FileResult, Prepared
from pipelines.ingest.working_store import (
    EPISODE_COLUMNS,
    forget_files,
    insert_frame,
    next_ingest_seq,
    remove_unledgered_versions,
)

# Pieces waiting to be stored while the next is checked: each holds up to 500,000 rows, so
# this bounds the memory the overlap costs.
PIECES_WAITING = 1


# What a file contributes besides its episode versions, staged in temporary tables as its
# pieces are checked.
STAGED = {
    "findings": "findings",
    "quarantine": "quarantine",
    "persons": "person_keys",
    "spells": "cme_rows",
}


class FileStore:
    """Stores files in arrival order, each in one transaction.

    A file's episode versions go into place as its pieces are checked, each insert committed
    at once under the file's new ingest number, which no ledger row names yet: DuckDB keeps
    every DataFrame inserted in an open transaction alive until it commits, so this keeps a
    large file from being held in memory whole, and its rows are written once (moving 5.5
    million staged versions into place was 5-6 s of the file's last transaction). Its other
    rows are staged in temporary tables of this connection. The file's own transaction then
    gates it, moves the staged rows into place and writes its ledger row, which is what makes
    the versions count: until then they are removed if the file is abandoned, and when the
    store is next opened if the process died (working_store.open_work).
    """

    def __init__(self, con: duckdb.DuckDBPyConnection, run_id: str) -> None:
        self.con, self.run_id = con, run_id
        self.quarantine_rules: Counter[str] = Counter()
        self.seq: int | None = None  # the ingest number of the file being staged
        # Rows of the file loaded as identities alone (no episode version): quarantined
        # instead if the file is held.
        self.identity_rows: list[int] = []

    def open(self, prepared: Prepared) -> None:
        """Empty staging tables and a new ingest number for the file."""
        for staged, table in STAGED.items():
            self.con.execute(
                f"create or replace temp table staged_{staged} as from {table} limit 0"
            )
        self.quarantine_rules = Counter()
        self.identity_rows = []
        self.seq = next_ingest_seq(self.con)

    def add(self, prepared: Prepared, batch: Batch) -> None:
        """Store one piece's versions, stage its other rows, count them into the ledger row."""
        result = prepared.result
        tag = {"source": result.source, "file": result.file}
        versions = batch.versions.assign(**tag, ingest_seq=self.seq)
        insert_frame(self.con, "episode_versions", versions.reindex(columns=EPISODE_COLUMNS))
        insert_frame(self.con, "staged_findings", batch.findings.assign(**tag))
        insert_frame(self.con, "staged_quarantine", batch.quarantine.assign(**tag))
        insert_frame(self.con, "staged_persons", batch.persons.assign(source=result.source))
        if batch.spells is not None:
            insert_frame(self.con, "staged_spells", batch.spells.assign(**tag, ingest_seq=self.seq))
        self.quarantine_rules.update(batch.quarantine["reasons"].str.split(":").str[0])
        result.rows_read += batch.rows_read
        result.rows_out_of_scope += batch.rows_out_of_scope
        result.rows_quarantined += len(batch.quarantine)
        result.rows_loaded += batch.rows_loaded
        if batch.identity_rows is not None:
            self.identity_rows += batch.identity_rows["row_number"].tolist()

    def finish(self, prepared: Prepared) -> FileResult:
        """Gate the file and store it with its ledger row in one transaction."""
        result, seq = prepared.result, self.seq
        assert seq is not None  # given out by open() before the file's pieces were added
        self.con.execute("begin transaction")
        try:
            if result.quarantine_share > settings.MAX_QUARANTINE_SHARE:
                self._hold(result)
            # A changed file replaces whatever its earlier bytes contributed.
            forget_files(self.con, [result.file], staged_seq=seq)
            self.con.execute("insert into findings by name from staged_findings")
            self.con.execute("insert into quarantine by name from staged_quarantine")
            self.con.execute("insert into cme_rows by name from staged_spells")
            # person_keys has no key index (working_store.py): children already known are skipped
            # here. A file's staged people are distinct already (pseudonym.ChildIds.persons).
            self.con.execute(
                "insert into person_keys by name select s.* from staged_persons s "
                "anti join person_keys using (child_id)"
            )
            self._ledger(prepared, seq)
            self.con.execute("commit")
        except BaseException:
            self.con.execute("rollback")
            self.abandon()
            raise
        self._drop_staging()
        return result

    def abandon(self) -> None:
        """Remove what the file being staged stored so far, and its staging tables."""
        remove_unledgered_versions(self.con)
        self._drop_staging()

    def _drop_staging(self) -> None:
        for staged in STAGED:
            self.con.execute(f"drop table if exists staged_{staged}")
        self.seq = None

    def _hold(self, result: FileResult) -> None:
        """Held back by the publish gate: every in-scope row is quarantined instead, and
        nothing else of the file is kept (not even its person references)."""
        rule, count = self.quarantine_rules.most_common(1)[0]
        result.status = "held"
        result.message = (
            f"{result.rows_quarantined} of {result.rows_read} rows quarantined "
            f"({result.quarantine_share:.1%} > {settings.MAX_QUARANTINE_SHARE:.0%}); "
            f"most often rule {rule} ({count} rows)"
        )
        self.con.execute(
            "insert into staged_quarantine (source, file, row_number, reasons, raw_values) "
            "select source, file, row_number, ?, null from episode_versions where ingest_seq = ?",
            [f"held: {result.message}", self.seq],
        )
        if self.identity_rows:
            self.con.execute(
                "insert into staged_quarantine (source, file, row_number, reasons, raw_values) "
                "select ?, ?, unnest(?), ?, null",
                [result.source, result.file, self.identity_rows, f"held: {result.message}"],
            )
        self.con.execute("delete from episode_versions where ingest_seq = ?", [self.seq])
        for staged in ("findings", "persons", "spells"):
            self.con.execute(f"delete from staged_{staged}")
        result.rows_quarantined += result.rows_loaded
        result.rows_loaded = 0

    def _ledger(self, prepared: Prepared, seq: int) -> None:
        result, raw = prepared.result, prepared.raw
        self.con.execute(
            "insert into ingest_files values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                result.file,
                result.sha256,
                result.source,
                raw.source.fingerprint,
                raw.size,
                raw.mtime,
                result.status,
                result.rows_read,
                result.rows_loaded,
                result.rows_quarantined,
                result.rows_out_of_scope,
                result.message,
                seq,
                self.run_id,
                datetime.now().replace(microsecond=0),
            ],
        )


class StoreThread:
    """FileStore on a thread of its own: `add` a file's pieces, then `finish` it.

    Files are stored in the order they are handed over. If storing fails, the next hand-over
    raises its error; if the caller fails, the file being staged is abandoned, never stored.
    """

    STOP, ABANDON = "stop", "abandon"

    def __init__(self, store: FileStore, progress: Callable[[int], None]) -> None:
        self.store, self.progress = store, progress
        self.results: list[FileResult] = []
        self.error: BaseException | None = None
        self._queue: queue.Queue = queue.Queue(maxsize=PIECES_WAITING)
        self._thread = threading.Thread(target=self._work, name="whereabouts-store", daemon=True)

    def __enter__(self) -> StoreThread:
        self._thread.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._thread.is_alive():
            self._send(self.STOP if kind is None else self.ABANDON)
            self._thread.join()
        if kind is None and self.error is not None:
            raise self.error

    def add(self, prepared: Prepared, batch: Batch) -> None:
        """Stage one piece of a file."""
        self._send((prepared, batch))

    def finish(self, prepared: Prepared) -> None:
        """Gate and store the file whose pieces have all been added (or that has none)."""
        self._send((prepared, None))

    def _send(self, item: object) -> None:
        while self._thread.is_alive():
            try:
                self._queue.put(item, timeout=0.1)
                return
            except queue.Full:
                continue
        raise self.error or RuntimeError("the store thread has stopped")

    def _work(self) -> None:
        staging = None
        try:
            while (item := self._queue.get()) not in (self.STOP, self.ABANDON):
                prepared, batch = item
                if prepared is not staging:
                    self.store.open(prepared)
                    staging = prepared
                if batch is not None:
                    self.store.add(prepared, batch)
                else:
                    self.results.append(self.store.finish(prepared))
                    staging = None
                    self.progress(len(self.results))
            if staging is not None:
                self.store.abandon()
        except BaseException as exc:
            self.error = exc
            self.store.abandon()
