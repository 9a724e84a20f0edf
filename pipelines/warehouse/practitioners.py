"""`whereabouts at-risk`: the restricted practitioners' list, for those entitled to act.

The curated at_risk_children list (its order and reasons), each child's names, date of birth
and every agency's reference resolved from the identity store. The file is written private
(0600) beside its destination and renamed into place only after the export is appended to the
identity store's export_audit. It never goes where published files go: the curated folder
or the reports folders.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

import duckdb
import pandas as pd

from pipelines.db import connect, private_files
from pipelines.errors import MissingInput, UsageError
from pipelines.identity.lookup import Record, audit_export, records_of
from pipelines.sources.declarations import Source
from pipelines.warehouse.as_of import table_as_of
from pipelines.warehouse.export import FORMULA_START
from pipelines.warehouse.restricted import check_destination, export_format

LIST_TABLE = "at_risk_children"
# The list's columns as the curated table has them, and where the identity store's go.
CURATED_COLUMNS = (
    "priority", "person_id", "child_id", "priority_tier", "reasons", "sources",
    "episodes_last_90_days", "last_reported_at", "has_open_episode", "has_open_high_risk",
)  # fmt: skip
IDENTITY_COLUMNS = ("forename", "surname", "date_of_birth", "references")
COLUMNS = ("as_of", *CURATED_COLUMNS[:3], *IDENTITY_COLUMNS, *CURATED_COLUMNS[3:])


@dataclass(frozen=True)
class Exported:
    path: Path
    file_format: str
    as_of: date
    children: int
    records: int

    def line(self) -> str:
        return (
            f"{self.children} children on the list as of {self.as_of} "
            f"({self.records} agency records): {self.path}"
        )


def published_as_of(db: Path) -> date:
    """The run date the published database was built with."""
    con = connect(db, read_only=True)
    try:
        return con.execute("select as_of from build_manifest").fetchall()[0][0]
    finally:
        con.close()


def at_risk_list(
    db: Path, as_of: date | None, work_db: Path, sources: dict[str, Source]
) -> tuple[date, pd.DataFrame]:
    """The run date and at_risk_children on it: as published, or by the models for an
    earlier date (pipelines.warehouse.as_of)."""
    built = published_as_of(db)
    if as_of is None or as_of == built:
        con = connect(db, read_only=True)
        try:
            frame = con.sql(f"select * from {LIST_TABLE} order by priority").df()
        finally:
            con.close()
        return built, frame
    if as_of > built:
        raise UsageError(
            f"--as-of {as_of} is after the published data's run date {built}: run the nightly first"
        )
    if not work_db.exists():
        raise MissingInput(f"{work_db}: no working store (an earlier --as-of reads it)")
    frame = table_as_of(db, work_db, sources, LIST_TABLE, as_of).to_pandas()
    return as_of, frame.sort_values("priority", ignore_index=True)


def with_identities(frame: pd.DataFrame, records: list[Record], as_of: date) -> pd.DataFrame:
    """The list with each child's names, dates of birth and agency references (every
    distinct value, in agency order, joined with '; ')."""
    by_id: dict[str, list[Record]] = {}
    for record in records:
        by_id.setdefault(record[0], []).append(record)
    # Text like the dates of birth beside it, so both formats hold the same cells.
    listed = frame.assign(as_of=as_of.isoformat())
    keys = listed["person_id"].fillna(listed["child_id"])
    for column, pick in (
        ("forename", lambda r: r[6]),
        ("surname", lambda r: r[7]),
        ("date_of_birth", lambda r: r[8].isoformat() if r[8] else None),
        ("references", lambda r: f"{r[1]}: {r[3]}"),
    ):
        listed[column] = [_joined(pick(r) for r in by_id.get(k, [])) for k in keys]
    return listed[list(COLUMNS)]


def _joined(values: object) -> str | None:
    distinct = [v for v in dict.fromkeys(values) if v]  # type: ignore[call-overload]
    return "; ".join(distinct) or None


def spreadsheet_safe(frame: pd.DataFrame) -> pd.DataFrame:
    """Text a spreadsheet would run as a formula, prefixed with a quote (as export does)."""
    safe = frame.copy()
    for column in safe.columns:
        if pd.api.types.is_object_dtype(safe[column]) or pd.api.types.is_string_dtype(safe[column]):
            text = safe[column].astype("string")
            risky = text.str.match(FORMULA_START).fillna(False).astype(bool)
            safe[column] = safe[column].where(~risky, "'" + text)
    return safe


def write_file(frame: pd.DataFrame, path: Path, fmt: str) -> None:
    """The list as .xlsx or .csv at `path`, mode 0600. A spreadsheet file keeps every text as
    a text cell (never a formula or a link); a CSV quotes what a spreadsheet would run."""
    with private_files():
        if fmt == "csv":
            spreadsheet_safe(frame).to_csv(path, index=False)
        else:
            frame.to_excel(
                path,
                index=False,
                sheet_name="at risk",
                engine="xlsxwriter",
                engine_kwargs={"options": {"strings_to_formulas": False, "strings_to_urls": False}},
            )
    path.chmod(0o600)


def export_list(
    db: Path,
    identity: duckdb.DuckDBPyConnection,
    out: Path,
    as_of: date | None,
    work_db: Path,
    sources: dict[str, Source],
    by: str,
    purpose: str | None,
    now: datetime,
) -> Exported:
    """Write the practitioners' list to `out`, audited before it appears there."""
    fmt = export_format(out)
    check_destination(out, db)
    day, frame = at_risk_list(db, as_of, work_db, sources)
    ids = frame["person_id"].fillna(frame["child_id"]).tolist()
    records = records_of(identity, ids)
    listed = with_identities(frame, records, day)
    with private_files():
        out.parent.mkdir(parents=True, exist_ok=True)
    aside = out.with_name(f".{out.name}.writing-{os.getpid()}")
    try:
        write_file(listed, aside, fmt)
        audit_export(
            identity, now, by, purpose, day, str(out.resolve()), fmt, len(listed), len(records)
        )
        os.replace(aside, out)
    finally:
        aside.unlink(missing_ok=True)
    return Exported(out, fmt, day, len(listed), len(records))
