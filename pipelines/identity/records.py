"""Raw identity records (pipelines.synth.identities.person_records' shape) normalised into
the identity store: how training and tests fill a store without the nightly's ingest."""

from __future__ import annotations

from datetime import datetime

import duckdb
import pandas as pd

from pipelines.identity import normalise
from pipelines.sources.record import IDENTITY_FIELDS

# A record: what identifies it, then its identity values in the standard record's order.
RECORD_COLUMNS = ("record_id", "source", "agency", "person_ref", *IDENTITY_FIELDS)
# The identity values of a record (the rest identify it).
VALUES = RECORD_COLUMNS[4:]
# Which normalisation each identity column gets (normalise.py is the one place it happens).
NORMALISERS = {
    "forename": normalise.normalise_name,
    "surname": normalise.normalise_name,
    "sex": normalise.normalise_sex,
    "postcode": normalise.normalise_postcode,
    "upn": normalise.normalise_upn,
    "nhs_number": normalise.normalise_nhs_number,
    "la_child_ref": normalise.normalise_ref,
    "police_ref": normalise.normalise_ref,
}


def normalised(frame: pd.DataFrame) -> pd.DataFrame:
    """The records with every identity value normalised and dates of birth as dates."""
    out = frame.reindex(columns=list(RECORD_COLUMNS)).astype(object)
    for column, clean in NORMALISERS.items():
        out[column] = [clean(v) for v in out[column]]
    out["date_of_birth"] = pd.to_datetime(out["date_of_birth"], errors="coerce").dt.date
    out["date_of_birth"] = (
        out["date_of_birth"].astype(object).where(out["date_of_birth"].notna(), None)
    )
    return out


def upsert_records(
    con: duckdb.DuckDBPyConnection, frame: pd.DataFrame, run_id: str, now: datetime
) -> int:
    """Insert these records or update them (latest non-null values win, as the nightly's
    capture does); returns how many."""
    rows = normalised(frame)
    rows["first_seen_at"] = now
    rows["updated_at"] = now
    rows["updated_run"] = run_id
    con.register("incoming_records", rows)
    try:
        con.execute(
            """
            insert into identity_records by name
            select * from incoming_records
            on conflict (record_id) do update set {kept},
                updated_at = excluded.updated_at, updated_run = excluded.updated_run
            """.format(kept=", ".join(f"{f} = coalesce(excluded.{f}, {f})" for f in VALUES))
        )
    finally:
        con.unregister("incoming_records")
    return len(rows)
