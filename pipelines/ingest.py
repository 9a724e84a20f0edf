"""Per-file ingest: read, map, check, and store one file's rows in one transaction.

Every row read is accounted for: loaded (an episode version), quarantined (with every
reason), or out of scope (an adult: counted, never stored).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import duckdb
import pandas as pd

from pipelines import settings
from pipelines.catalog import RawFile
from pipelines.contracts import load_contract
from pipelines.parse import age_in_years, typed_episodes
from pipelines.pseudonym import child_id, child_ids
from pipelines.readers import RejectedFile, read_text
from pipelines.record import SSDA903_CODES
from pipelines.sources import Source
from pipelines.store import EPISODE_COLUMNS, forget_files, insert_frame, next_ingest_seq

# "2024_25" or "2024-25" in an SSDA903 file name: the collection year ending 31 March 2025.
COLLECTION_YEAR = re.compile(r"(20\d\d)[_-](\d\d)(?!\d)")


@dataclass
class FileResult:
    """What happened to one file: the row of the ingest_files ledger."""

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
class Batch:
    """A file's rows sorted into what is stored where."""

    versions: pd.DataFrame
    quarantine: pd.DataFrame
    findings: pd.DataFrame
    persons: pd.DataFrame
    rows_read: int
    rows_out_of_scope: int


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


def _reasons(failures: pd.DataFrame) -> pd.Series:
    """One line of reasons per row: 'rule: message; rule: message'."""
    text = failures["rule"].astype("str") + ": " + failures["message"].astype("str")
    return text.groupby(failures["row_number"]).agg("; ".join)


def _raw_json(text: pd.DataFrame, rows: pd.Index) -> pd.Series:
    if len(rows) == 0:
        return pd.Series([], dtype="str")
    return pd.Series(text.loc[rows].to_json(orient="records", lines=True).splitlines(), index=rows)


def _quarantine(text: pd.DataFrame, reasons: pd.Series) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "row_number": reasons.index.astype("int64"),
            "reasons": reasons.to_numpy(),
            "raw_values": _raw_json(text, reasons.index).to_numpy(),
        }
    )


def police_batch(text: pd.DataFrame, source: Source, key: bytes) -> Batch:
    """A police or standard-layout file: out of scope first, then the contract's checks."""
    from pipelines.validate import run_suite  # GX loads only when a file needs checking

    typed = typed_episodes(text, source)
    age = age_in_years(typed["date_of_birth"], typed["reported_at"])
    adult = (age >= settings.AGE_OF_MAJORITY).fillna(False).astype(bool)
    # Adults leave before the checks: not even their quarantined raw values are kept.
    batch = typed[~adult]
    result = run_suite(batch, load_contract("incoming_episodes"))
    failures = result.failures
    errors = failures[failures["severity"] == "error"]
    bad_rows = pd.Index(errors["row_number"].unique())
    good = batch.drop(index=bad_rows)
    warnings = failures[
        (failures["severity"] == "warning") & failures["row_number"].isin(good.index)
    ]
    versions = pd.DataFrame(
        {
            "row_number": good.index.astype("int64"),
            "episode_ref": good["episode_ref"],
            "child_id": child_ids(key, source.name, good["person_ref"]),
            "date_of_birth": good["date_of_birth"].dt.date,
            "recorded_category": good["category"],
        }
    )
    for column in EPISODE_COLUMNS:
        if column not in versions and column in good:
            versions[column] = good[column]
    findings = pd.DataFrame(
        {
            "rule": warnings["rule"],
            "severity": warnings["severity"],
            "row_number": warnings["row_number"].astype("int64"),
            "episode_ref": typed.loc[warnings["row_number"], "episode_ref"].to_numpy(),
            "message": warnings["message"],
        }
    )
    persons = pd.DataFrame(
        {"child_id": versions["child_id"], "person_ref": good["person_ref"]}
    ).drop_duplicates("child_id")
    return Batch(
        versions=versions.reset_index(drop=True),
        quarantine=_quarantine(text, _reasons(errors)),
        findings=findings,
        persons=persons,
        rows_read=len(text),
        rows_out_of_scope=int(adult.sum()),
    )


def ssda903_batch(text: pd.DataFrame, source: Source, key: bytes, year_end: int) -> Batch:
    """An SSDA903 Missing table: the DfE rules decide; M is missing, A is away."""
    from pipelines.dfe_rules import check_missing_table, parse_dfe_date

    findings = check_missing_table(text, year_end)
    born = parse_dfe_date(text["DOB"])
    start = parse_dfe_date(text["MIS_START"])
    end = parse_dfe_date(text["MIS_END"])
    adult = (age_in_years(born, start) >= settings.AGE_OF_MAJORITY).fillna(False).astype(bool)
    errors = findings[(findings["severity"] == "error") & ~adult[findings["row_number"]].to_numpy()]
    bad_rows = pd.Index(errors["row_number"].unique())
    good = text[~adult].drop(index=bad_rows)
    child = child_ids(key, source.name, good["CHILD"])
    # SSDA903 has no episode reference: a keyed hash of child and start stands in for one,
    # so the raw child reference never reaches the curated tables.
    refs = [
        "903-" + child_id(key, source.name, f"{c}|{s}")[:16]
        for c, s in zip(good["CHILD"], good["MIS_START"], strict=True)
    ]
    versions = pd.DataFrame(
        {
            "row_number": good.index.astype("int64"),
            "episode_ref": refs,
            "child_id": child,
            "date_of_birth": born[good.index].dt.date,
            "reported_at": start[good.index],
            "returned_at": end[good.index],
            "recorded_category": good["MISSING"].str.strip().str.upper().map(SSDA903_CODES),
            "looked_after": "Y",
            "extracted_at": pd.Timestamp(year=year_end, month=3, day=31, hour=23, minute=59),
        }
    )
    episode_ref_by_row = pd.Series(refs, index=good.index, dtype="str")
    findings = findings.assign(
        episode_ref=findings["row_number"].map(episode_ref_by_row).astype("str")
    )
    persons = pd.DataFrame({"child_id": child, "person_ref": good["CHILD"]}).drop_duplicates(
        "child_id"
    )
    return Batch(
        versions=versions.reset_index(drop=True),
        quarantine=_quarantine(text, _reasons(errors)),
        findings=findings,
        persons=persons,
        rows_read=len(text),
        rows_out_of_scope=int(adult.sum()),
    )


def read_batch(path: Path, source: Source, key: bytes) -> Batch:
    """Read and sort one file's rows; RejectedFile if it cannot be read at all."""
    year_end = collection_year_end(path) if source.is_ssda903 else None
    text = read_text(path, source)
    if source.is_ssda903:
        return ssda903_batch(text, source, key, year_end)
    return police_batch(text, source, key)


def store_batch(
    con: duckdb.DuckDBPyConnection,
    result: FileResult,
    batch: Batch | None,
    meta: dict,
) -> None:
    """Write a file's ledger row and everything it contributed, in one transaction."""
    con.execute("begin transaction")
    try:
        # A changed file replaces whatever its earlier bytes contributed.
        forget_files(con, [result.file])
        if batch is not None and result.status in ("loaded", "held"):
            tag = {"source": result.source, "file": result.file}
            if result.status == "loaded":
                versions = batch.versions.assign(**tag, ingest_seq=meta["ingest_seq"])
                insert_frame(con, "episode_versions", versions.reindex(columns=EPISODE_COLUMNS))
                insert_frame(con, "findings", batch.findings.assign(**tag))
                con.register("new_persons", batch.persons.assign(source=result.source))
                con.execute(
                    "insert or ignore into person_keys (child_id, source, person_ref) "
                    "select child_id, source, person_ref from new_persons"
                )
                con.unregister("new_persons")
            insert_frame(con, "quarantine", batch.quarantine.assign(**tag))
        con.execute(
            """
            insert or replace into ingest_files values
            (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """,
            [
                result.file,
                result.sha256,
                result.source,
                meta["fingerprint"],
                meta["size"],
                meta["mtime"],
                result.status,
                result.rows_read,
                result.rows_loaded,
                result.rows_quarantined,
                result.rows_out_of_scope,
                result.message,
                meta["ingest_seq"],
                meta["run_id"],
                datetime.now().replace(microsecond=0),
            ],
        )
        con.execute("commit")
    except Exception:
        con.execute("rollback")
        raise


def hold_batch(text_rows: int, batch: Batch, reason: str) -> Batch:
    """A batch held back by the publish gate: every in-scope row is quarantined."""
    held = batch.quarantine.set_index("row_number")
    clean = batch.versions["row_number"]
    extra = pd.DataFrame(
        {"row_number": clean, "reasons": f"held: {reason}", "raw_values": None}
    ).set_index("row_number")
    quarantine = pd.concat([held, extra]).sort_index().reset_index()
    empty = batch.versions.iloc[0:0]
    return Batch(
        empty,
        quarantine,
        batch.findings.iloc[0:0],
        batch.persons.iloc[0:0],
        text_rows,
        batch.rows_out_of_scope,
    )


def ingest_file(
    con: duckdb.DuckDBPyConnection, raw: RawFile, key: bytes, run_id: str
) -> FileResult:
    """Ingest one raw file: ledger row, versions, quarantine and findings, all or nothing."""
    sha = sha256_of(raw.path)
    meta = {
        "fingerprint": raw.source.fingerprint,
        "size": raw.size,
        "mtime": raw.mtime,
        "ingest_seq": next_ingest_seq(con),
        "run_id": run_id,
    }
    twin = con.execute(
        "select file from ingest_files where sha256 = ? and file <> ? and status <> 'rejected'",
        [sha, raw.rel],
    ).fetchone()
    result = FileResult(raw.rel, sha, raw.source.name, "duplicate")
    batch = None
    if twin:
        result.message = f"same bytes as {twin[0]}; skipped"
    else:
        try:
            batch = read_batch(raw.path, raw.source, key)
        except RejectedFile as exc:
            result.status, result.message = "rejected", str(exc)
        else:
            result.status = "loaded"
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
                batch = hold_batch(batch.rows_read, batch, result.message)
                result.rows_quarantined = len(batch.quarantine)
                result.rows_loaded = 0
    store_batch(con, result, batch, meta)
    return result
