"""Ingest new raw files: read and check them, then store each in one transaction.

Small files are checked together and large ones in pieces, in runs of about 500,000 rows:
one Great Expectations run costs about a second whatever its size, and a bounded run bounds
memory. Each run is taken out of its file and typed on a thread while the run before it is
checked. Then each file's rows are stored, or held back, on their own (pipelines.ingest.writer,
on a thread of its own while the next pieces are checked).
"""

from __future__ import annotations

import hashlib
import itertools
import re
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from dataclasses import replace
from pathlib import Path

import duckdb
import pandas as pd
import pyarrow as pa

from pipelines.db import private_files
from pipelines.ingest.batches import (
    Batch,
    police_batch,
    prepare_police,
    repeated_refs,
    ssda903_batch,
    with_repeats,
)
from pipelines.ingest.identities import (
    LatestRows,
    identity_batch,
    split_identities,
    ssda903_identities,
)
from pipelines.ingest.prepared import FileResult, Prepared
from pipelines.ingest.pseudonym import ChildIds
from pipelines.ingest.readers import RejectedFile, read_text_file, text_frame
from pipelines.ingest.writer import FileStore, StoreThread
from pipelines.progress import counting
from pipelines.quality.contracts import load_contract
from pipelines.quality.suites import ExpectationOutcome, SuiteResult
from pipelines.sources.discovery import OUTSIDE, RawFile, outside
from pipelines.sources.record import LAYOUT_VALUES

# "2024_25" or "2024-25" in an SSDA903 file name: the collection year ending 31 March 2025.
COLLECTION_YEAR = re.compile(r"(20\d\d)[_-](\d\d)(?!\d)")
# Rows checked in one Great Expectations run: bounds memory, amortises GX's fixed cost.
# (A million rows a run peaked at 5 GB in a full nightly of 5.4M episodes; half that, at
# 3.8 GB, costs a few seconds more.)
CHECK_GROUP_ROWS = 500_000


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
    con: duckdb.DuckDBPyConnection,
    raw: RawFile,
    key: bytes,
    this_run: dict[str, str],
    reading: list[str],
    collect: bool = False,
) -> Prepared:
    """Hash, de-duplicate, read and type one file; SSDA903 tables and files of identities
    alone are decided here. Identity columns are split off the text at once, and kept only
    where `collect`.

    `this_run` maps the hashes of files already prepared in this run to their names;
    `reading` names every file this run reads, whose bytes in the ledger are about to change.
    """
    # Asked again as it is opened: a file may have been swapped for a link since discovery.
    # raw.path is <raw folder>/<source>/<name>.
    if raw.refused or outside(raw.path, raw.path.parent.parent):
        # Nothing of it is read, not even to hash it: its sha256 stays blank.
        result = FileResult(raw.rel, "", raw.source.name, "rejected", message=OUTSIDE)
        return Prepared(raw, result)
    sha = sha256_of(raw.path)
    prepared = Prepared(raw, FileResult(raw.rel, sha, raw.source.name, "loaded"))
    twin = (
        this_run.get(sha)
        or con.execute(
            "select any_value(file) from ingest_files where sha256 = ? and status = 'loaded' "
            "and file not in (select unnest(?))",
            [sha, reading],
        ).fetchall()[0][0]
    )
    if twin:
        prepared.result.status = "duplicate"
        prepared.result.message = f"same bytes as {twin}; skipped"
        return prepared
    try:
        year_end = collection_year_end(raw.path) if raw.source.is_ssda903 else None
        read = read_text_file(raw.path, raw.source)
    except RejectedFile as exc:
        # The file's own ledger row (which names it) says why; the other files go on loading.
        prepared.result.status = "rejected"
        prepared.result.message = str(exc)
        return prepared
    prepared.text, prepared.malformed = read.table, read.malformed
    if read.sheets_not_read:
        names = ", ".join(f"'{name}'" for name in read.sheets_not_read)
        prepared.result.message = (
            f"sheets not read (no header row with the required columns): {names}"
        )
    if raw.source.is_ssda903:
        identity = ssda903_identities(read.table)
    elif raw.source.is_identity_only:
        # A cme file's spell off roll stays in the working store (batch.spells), never
        # reaching the identity store.
        spell = [c for c in LAYOUT_VALUES.get(raw.source.kind, {}) if c in read.table.column_names]
        identity = read.table.drop_columns(spell)
    else:
        prepared.text, identity = split_identities(read.table)
    prepared.identity = identity if collect else None
    # Only a file that was read can be the original a later copy is skipped for.
    this_run[sha] = raw.rel
    if raw.source.is_identity_only:
        prepared.batch = identity_batch(
            text_frame(prepared.text), raw.source, key, prepared.malformed
        )
    elif raw.source.is_ssda903:
        assert year_end is not None  # read above for every SSDA903 file
        prepared.batch = ssda903_batch(
            text_frame(prepared.text), raw.source, key, year_end, prepared.malformed
        )
    return prepared


def piece_count(prepared: Prepared) -> int:
    assert prepared.text is not None  # only files that were read are cut into pieces
    return max(1, -(-prepared.text.num_rows // CHECK_GROUP_ROWS))


def pieces(prepared: Prepared) -> list[pd.RangeIndex]:
    """A file's rows in consecutive pieces of about CHECK_GROUP_ROWS.

    Consecutive rows are a slice of the file's text, not a copy. Picking pieces by a hash of
    their reference, so that a reference's rows meet in one run, copies every column: at 5.5M
    rows that was 8 s of the typing thread's samples, and the ingest alone took 34-35 s
    against 31-33 s with slices, its peak 300 MB higher (measured). The check that a
    reference is on one row reads the whole file's repeats instead (`repeated`).
    """
    assert prepared.text is not None  # only files that were read are cut into pieces
    total, count = prepared.text.num_rows, piece_count(prepared)
    bounds = [total * n // count for n in range(count + 1)]  # exactly `count` pieces
    return [
        pd.RangeIndex(start, end, name="row_number") for start, end in itertools.pairwise(bounds)
    ]


def _runs(waiting: list[Prepared]) -> list[list[tuple[Prepared, pd.RangeIndex]]]:
    """Pieces packed into Great Expectations runs of at most CHECK_GROUP_ROWS rows each."""
    runs: list[list[tuple[Prepared, pd.RangeIndex]]] = []
    current: list[tuple[Prepared, pd.RangeIndex]] = []
    size = 0
    for prepared in waiting:
        for rows in pieces(prepared):
            if current and size + len(rows) > CHECK_GROUP_ROWS:
                runs.append(current)
                current, size = [], 0
            current.append((prepared, rows))
            size += len(rows)
    return runs + [current] if current else runs


def typed_run(
    run: list[tuple[Prepared, pd.RangeIndex]],
) -> list[tuple[pd.DataFrame, pd.DataFrame, int]]:
    """Each piece of a run as text, typed, and its count of adults."""
    typed = []
    for prepared, rows in run:
        assert prepared.text is not None  # only files that were read are cut into pieces
        text = text_frame(prepared.text.slice(rows.start, len(rows)), rows)
        malformed = [row for row in prepared.malformed if rows.start <= row < rows.stop]
        checked, out_of_scope = prepare_police(
            text.drop(index=malformed), prepared.raw.source, prepared.raw.rel
        )
        typed.append((text, checked, out_of_scope))
    return typed


def check_run(
    run: list[tuple[Prepared, pd.RangeIndex]],
    typed: list[tuple[pd.DataFrame, pd.DataFrame, int]],
) -> tuple[SuiteResult, list[Batch]]:
    """Check one typed run of pieces; each piece's sorted rows, as a partial batch."""
    from pipelines.quality.suites import run_suite

    # One frame for the run, with a running index; failures map back by position.
    combined = pd.concat(
        [
            with_repeats(checked, prepared.repeated)
            for (prepared, _), (_, checked, _) in zip(run, typed, strict=True)
        ],
        ignore_index=True,
    )
    suite = run_suite(combined, load_contract("incoming_episodes"))
    failures = suite.failures
    assert failures is not None  # a row-level suite always lists its failing rows
    position = failures["row_number"].to_numpy()
    partials, offset = [], 0
    for (prepared, _), (text, checked, out_of_scope) in zip(run, typed, strict=True):
        assert prepared.ids is not None  # made before the run is checked (checked_pieces)
        mine = failures[(position >= offset) & (position < offset + len(checked))]
        mine = mine.assign(row_number=checked.index[mine["row_number"] - offset].to_numpy())
        offset += len(checked)
        malformed = {r: why for r, why in prepared.malformed.items() if r in text.index}
        partials.append(police_batch(text, checked, out_of_scope, mine, prepared.ids, malformed))
    names = sorted({prepared.raw.rel for prepared, _ in run})
    label = names[0] if len(names) == 1 else f"{names[0]} .. {names[-1]}"
    return replace(suite, suite=f"incoming_episodes ({len(combined)} rows of {label})"), partials


def checked_pieces(
    waiting: list[Prepared], key: bytes, suites: list[SuiteResult]
) -> Iterator[tuple[Prepared, Batch]]:
    """Each piece of the waiting files as a partial batch, in file order, one Great
    Expectations run at a time; each run's suite is appended to `suites`.

    The next run is taken out and typed on a thread of its own while this one is checked.
    """
    runs = _runs(waiting)
    rows = sum(len(r) for run in runs for _, r in run)
    with (
        ThreadPoolExecutor(1, thread_name_prefix="whereabouts-type") as typing,
        counting("rows checked", rows) as bar,
    ):
        upcoming = typing.submit(typed_run, runs[0]) if runs else None
        for n, run in enumerate(runs):
            for prepared, _ in run:  # made while the run is being typed
                assert prepared.text is not None  # only files that were read are checked
                if prepared.ids is None:
                    source, refs = prepared.raw.source.name, prepared.text["person_ref"]
                    prepared.ids = ChildIds(key, source, refs)
                    prepared.repeated = repeated_refs(prepared.text["episode_ref"])
            assert upcoming is not None  # submitted for every run, this one included
            typed = upcoming.result()
            upcoming = typing.submit(typed_run, runs[n + 1]) if n + 1 < len(runs) else None
            suite, batches = check_run(run, typed)
            del typed
            suites.append(suite)
            bar.advance(sum(len(r) for _, r in run))
            yield from zip((prepared for prepared, _ in run), batches, strict=True)


def dfe_outcomes(prepared: Prepared) -> SuiteResult:
    """An SSDA903 file's DfE rule findings, as the validation report lists them."""
    from pipelines.ingest.dfe_rules import RULES

    assert prepared.batch is not None  # an SSDA903 file's batch is made when it is prepared
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
    return SuiteResult(
        f"DfE SSDA903 rules ({prepared.raw.rel})", not errors, outcomes, quarantines=True
    )


def _groups(prepared: Iterator[Prepared]) -> Iterator[list[Prepared]]:
    group: list[Prepared] = []
    rows = 0
    for p in prepared:
        group.append(p)
        rows += p.text.num_rows if p.text is not None and p.awaits_checks else 0
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
    identities: list[pa.Table] | None = None,
) -> tuple[list[FileResult], list[SuiteResult]]:
    """Ingest files in arrival order; each file is stored (or not) in one transaction.

    Returns each file's ledger row and the suites that checked them, for the report. Given
    `identities`, each file loaded appends its children's identities to it, one row per
    child (pipelines.ingest.identities.CAPTURED), for the identity store: they are never
    written to the working store.
    """
    # Every write to the private store, its write-ahead log made afresh after checkpoints.
    with private_files():
        return _ingest_files(con, files, key, run_id, progress, identities)


def _keep_identities(prepared: Prepared, batch: Batch, key: bytes) -> None:
    """Note which rows hold the latest identity values of the children a piece loaded."""
    if prepared.identity is None:
        return
    if prepared.latest is None:
        # A police file's children's ids are made for its checks; other files' here.
        refs = prepared.identity["person_ref"]
        ids = prepared.ids or ChildIds(key, prepared.raw.source.name, refs)
        prepared.latest = LatestRows(prepared.identity, ids)
    prepared.latest.add(batch)


def _hand_identities(prepared: Prepared, handed: list[tuple[FileResult, pa.Table]]) -> None:
    """The file's loaded children with their identities, to hand out once it is stored."""
    if prepared.latest is not None:
        handed.append((prepared.result, prepared.latest.table(prepared.raw.source)))
    prepared.identity = prepared.latest = None


def _ingest_files(
    con: duckdb.DuckDBPyConnection,
    files: list[RawFile],
    key: bytes,
    run_id: str,
    progress: Callable[[int, int], None],
    identities: list[pa.Table] | None,
) -> tuple[list[FileResult], list[SuiteResult]]:
    suites: list[SuiteResult] = []
    this_run: dict[str, str] = {}
    reading = [raw.rel for raw in files]
    collect = identities is not None
    # Each file's identities, handed out once its ledger row says it was loaded.
    handed: list[tuple[FileResult, pa.Table]] = []
    # Storing has a connection (and so temporary tables and transactions) of its own.
    store = FileStore(con.cursor(), run_id)
    with closing(store.con), StoreThread(store, lambda done: progress(done, len(files))) as storing:
        for group in _groups(prepare(con, raw, key, this_run, reading, collect) for raw in files):
            waiting = [p for p in group if p.awaits_checks]
            checked = checked_pieces(waiting, key, suites)
            for prepared in group:
                if prepared.awaits_checks:
                    for _ in range(piece_count(prepared)):
                        piece_of, batch = next(checked)
                        assert piece_of is prepared, "pieces arrive in file order"
                        storing.add(prepared, batch)
                        _keep_identities(prepared, batch, key)
                    _hand_identities(prepared, handed)
                    prepared.text = prepared.ids = prepared.repeated = None  # handed over: let go
                elif prepared.batch is not None:
                    if prepared.raw.source.is_ssda903:
                        suites.append(dfe_outcomes(prepared))
                    storing.add(prepared, prepared.batch)
                    _keep_identities(prepared, prepared.batch, key)
                    _hand_identities(prepared, handed)
                storing.finish(prepared)
    if identities is not None:
        # A file held back by the gate (its status set as it was stored) loaded no child.
        identities += [table for result, table in handed if result.status == "loaded"]
    return storing.results, suites
