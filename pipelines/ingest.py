"""Ingest new raw files: read and check them, then store each in one transaction.

Small files are checked together and large ones in pieces, in runs of up to a million rows:
one Great Expectations run costs about a second whatever its size, and a bounded run bounds
memory. Then each file's rows are stored, or held back, on their own.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path

import duckdb
import pandas as pd

from pipelines import settings
from pipelines.batches import Batch, hold, merge, police_batch, prepare_police, ssda903_batch
from pipelines.catalog import RawFile
from pipelines.contracts import load_contract
from pipelines.readers import RejectedFile, read_text
from pipelines.record import CODES
from pipelines.store import EPISODE_COLUMNS, forget_files, insert_frame, next_ingest_seq
from pipelines.validate import ExpectationOutcome, SuiteResult

# "2024_25" or "2024-25" in an SSDA903 file name: the collection year ending 31 March 2025.
COLLECTION_YEAR = re.compile(r"(20\d\d)[_-](\d\d)(?!\d)")
# Rows checked in one Great Expectations run: bounds memory, amortises GX's fixed cost.
CHECK_GROUP_ROWS = 1_000_000


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
    text: pd.DataFrame | None = None
    batch: Batch | None = None  # already decided (SSDA903), or after the checks

    @property
    def awaits_checks(self) -> bool:
        return self.batch is None and self.text is not None


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def collection_year_end(path: Path) -> int:
    """The year an SSDA903 collection year ends in, from the file name."""
    for match in COLLECTION_YEAR.finditer(path.name):
        start, end = int(match.group(1)), int(match.group(2))
        if (start + 1) % 100 == end:
            return start + 1
    raise RejectedFile("the file name has no collection year (name it like missing_2024_25.csv)")


def prepare(
    con: duckdb.DuckDBPyConnection, raw: RawFile, key: bytes, this_run: dict[str, str]
) -> Prepared:
    """Hash, de-duplicate, read and type one file; SSDA903 tables are decided here.

    `this_run` maps the hashes of files already prepared in this run to their names.
    """
    sha = sha256_of(raw.path)
    prepared = Prepared(raw, FileResult(raw.rel, sha, raw.source.name, "loaded"))
    twin = (
        this_run.get(sha)
        or con.execute(
            "select any_value(file) from ingest_files "
            "where sha256 = ? and file <> ? and status = 'loaded'",
            [sha, raw.rel],
        ).fetchone()[0]
    )
    if twin:
        prepared.result.status = "duplicate"
        prepared.result.message = f"same bytes as {twin}; skipped"
        return prepared
    this_run[sha] = raw.rel
    try:
        year_end = collection_year_end(raw.path) if raw.source.is_ssda903 else None
        prepared.text = read_text(raw.path, raw.source)
    except RejectedFile as exc:
        prepared.result.status, prepared.result.message = "rejected", str(exc)
        return prepared
    if raw.source.is_ssda903:
        prepared.batch = ssda903_batch(prepared.text, raw.source, key, year_end)
    return prepared


def pieces(prepared: Prepared) -> list[pd.Index]:
    """A file's rows in pieces of at most CHECK_GROUP_ROWS, split by episode reference.

    Every row of one episode reference lands in the same piece, so the per-file check that
    a reference appears once stays exact however a large file is cut.
    """
    rows = prepared.text.index
    count = -(-len(rows) // CHECK_GROUP_ROWS)
    if count <= 1:
        return [rows]
    bucket = pd.util.hash_pandas_object(prepared.text["episode_ref"], index=False) % count
    return [rows[bucket.to_numpy() == b] for b in range(count)]


def _runs(waiting: list[Prepared]) -> list[list[tuple[Prepared, pd.Index]]]:
    """Pieces packed into Great Expectations runs of at most CHECK_GROUP_ROWS rows each."""
    runs, current, size = [], [], 0
    for prepared in waiting:
        for rows in pieces(prepared):
            if current and size + len(rows) > CHECK_GROUP_ROWS:
                runs.append(current)
                current, size = [], 0
            current.append((prepared, rows))
            size += len(rows)
    return runs + [current] if current else runs


def check_run(run: list[tuple[Prepared, pd.Index]], key: bytes) -> tuple[SuiteResult, list]:
    """Type and check one run of pieces; each piece's sorted rows, as a partial batch."""
    from pipelines.validate import run_suite  # GX loads only when a file needs checking

    typed = []
    for prepared, rows in run:
        checked, out_of_scope = prepare_police(
            prepared.text.loc[rows], prepared.raw.source, prepared.raw.rel
        )
        typed.append((checked, out_of_scope))
    # One frame for the run, with a running index; failures map back by position.
    combined = pd.concat([checked for checked, _ in typed], ignore_index=True)
    # GX filters the whole frame once per expectation; low-cardinality text as categories
    # makes each filter a cheap integer take (measured: ~35% faster at a million rows).
    for column in ("file", *CODES):
        combined[column] = combined[column].astype("category")
    suite = run_suite(combined, load_contract("incoming_episodes"))
    position = suite.failures["row_number"].to_numpy()
    partials, offset = [], 0
    for (prepared, rows), (checked, out_of_scope) in zip(run, typed, strict=True):
        mine = suite.failures[(position >= offset) & (position < offset + len(checked))]
        mine = mine.assign(row_number=checked.index[mine["row_number"] - offset].to_numpy())
        offset += len(checked)
        text = prepared.text.loc[rows]
        partials.append(police_batch(text, checked, out_of_scope, mine, prepared.raw.source, key))
    names = sorted({prepared.raw.rel for prepared, _ in run})
    label = names[0] if len(names) == 1 else f"{names[0]} .. {names[-1]}"
    return replace(suite, suite=f"incoming_episodes ({len(combined)} rows of {label})"), partials


def check_group(group: list[Prepared], key: bytes) -> list[SuiteResult]:
    """Run the incoming-batch suite over a group of files and assemble their batches."""
    waiting = [p for p in group if p.awaits_checks]
    suites, partials = [], {id(p): [] for p in waiting}
    for run in _runs(waiting):
        suite, batches = check_run(run, key)
        suites.append(suite)
        for (prepared, _), batch in zip(run, batches, strict=True):
            partials[id(prepared)].append(batch)
    for prepared in waiting:
        prepared.batch = merge(partials[id(prepared)], rows_read=len(prepared.text))
    return suites


def dfe_outcomes(prepared: Prepared) -> SuiteResult:
    """An SSDA903 file's DfE rule findings, as the validation report lists them."""
    from pipelines.dfe_rules import RULES

    counts = prepared.batch.findings["rule"].value_counts()
    outcomes = tuple(
        ExpectationOutcome(
            suite="ssda903", rule=code, severity=severity, column="*",
            expectation=meaning, success=counts.get(code, 0) == 0,
            unexpected_count=int(counts.get(code, 0)), examples=(),
        )
        for code, (severity, meaning) in RULES.items()
    )  # fmt: skip
    errors = any(not o.success and o.severity == "error" for o in outcomes)
    return SuiteResult(f"DfE SSDA903 rules ({prepared.raw.rel})", not errors, outcomes)


def gate(prepared: Prepared) -> FileResult:
    """Count the batch into the ledger row; hold it back if too much was quarantined."""
    result, batch = prepared.result, prepared.batch
    if batch is None:
        return result
    result.rows_read = batch.rows_read
    result.rows_out_of_scope = batch.rows_out_of_scope
    result.rows_quarantined = len(batch.quarantine)
    result.rows_loaded = len(batch.versions)
    if result.quarantine_share > settings.MAX_QUARANTINE_SHARE:
        top = batch.quarantine["reasons"].str.split(":").str[0].value_counts()
        result.status = "held"
        result.message = (
            f"{result.rows_quarantined} of {result.rows_read} rows quarantined "
            f"({result.quarantine_share:.1%} > {settings.MAX_QUARANTINE_SHARE:.0%}); "
            f"most often rule {top.index[0]} ({top.iloc[0]} rows)"
        )
        prepared.batch = hold(batch, result.message)
        result.rows_quarantined = len(prepared.batch.quarantine)
        result.rows_loaded = 0
    return result


def store(con: duckdb.DuckDBPyConnection, prepared: Prepared, run_id: str) -> None:
    """Write a file's ledger row and everything it contributed, in one transaction."""
    result, batch, raw = prepared.result, prepared.batch, prepared.raw
    con.execute("begin transaction")
    try:
        seq = next_ingest_seq(con)
        # A changed file replaces whatever its earlier bytes contributed.
        forget_files(con, [result.file])
        if batch is not None:
            tag = {"source": result.source, "file": result.file}
            if result.status == "loaded":
                versions = batch.versions.assign(**tag, ingest_seq=seq)
                insert_frame(con, "episode_versions", versions.reindex(columns=EPISODE_COLUMNS))
                insert_frame(con, "findings", batch.findings.assign(**tag))
                persons = batch.persons.assign(source=result.source)
                insert_frame(con, "person_keys", persons, or_ignore=True)
            insert_frame(con, "quarantine", batch.quarantine.assign(**tag))
        con.execute(
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
                run_id,
                datetime.now().replace(microsecond=0),
            ],
        )
        con.execute("commit")
    except Exception:
        con.execute("rollback")
        raise


def _groups(prepared: Iterator[Prepared]) -> Iterator[list[Prepared]]:
    group, rows = [], 0
    for p in prepared:
        group.append(p)
        rows += len(p.text) if p.awaits_checks else 0
        if rows >= CHECK_GROUP_ROWS:
            yield group
            group, rows = [], 0
    if group:
        yield group


def ingest_files(
    con: duckdb.DuckDBPyConnection,
    files: list[RawFile],
    key: bytes,
    run_id: str,
    progress: Callable[[int, int], None] = lambda done, total: None,
) -> tuple[list[FileResult], list[SuiteResult]]:
    """Ingest files in arrival order; each file is stored (or not) in one transaction.

    Returns each file's ledger row and the suites that checked them, for the report.
    """
    results: list[FileResult] = []
    suites: list[SuiteResult] = []
    this_run: dict[str, str] = {}
    for group in _groups(prepare(con, raw, key, this_run) for raw in files):
        suites += check_group(group, key)
        for prepared in group:
            if prepared.raw.source.is_ssda903 and prepared.batch is not None:
                suites.append(dfe_outcomes(prepared))
            results.append(gate(prepared))
            store(con, prepared, run_id)
            progress(len(results), len(files))
    return results, suites
