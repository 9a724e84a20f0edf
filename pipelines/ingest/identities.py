"""Identity values read from a file: split off at once, handed out, never stored by the ingest.

A police file's identity columns (names, postcode, UPN, NHS number, cross-references) leave
its text as soon as it is read, so they never reach its checks, its quarantined raw values
or the working store. Files of the identity layouts (ssda903_header, la_children, cme) make
no episodes: a row with a person reference is loaded (as an identity), one without is
quarantined. What the ingest hands out, for the identity store (pipelines.identity.capture),
is one row per child of each loaded file: source, agency, person_ref, record_id (the child's
child_id) and the raw identity values of the child's latest row that has each.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa

from pipelines.db import row_aligned
from pipelines.ingest.batches import Batch
from pipelines.ingest.pseudonym import ChildIds
from pipelines.sources.declarations import Source
from pipelines.sources.record import IDENTITY_FIELDS, IDENTITY_ONLY

# The columns of every table handed out, all text (date_of_birth as written in the file).
CAPTURED: tuple[str, ...] = ("source", "agency", "person_ref", "record_id", *IDENTITY_FIELDS)
# The quarantine reason of an identity row without a person reference.
NO_PERSON_REF = "required: person_ref is blank"
# Where an SSDA903 Missing table keeps the identity values it has.
SSDA903_IDENTITY = {"CHILD": "person_ref", "DOB": "date_of_birth"}


def split_identities(table: pa.Table) -> tuple[pa.Table, pa.Table]:
    """A police file's text without its identity-only columns, and its identity columns
    (person_ref, date_of_birth and sex, with whichever identity-only columns it has)."""
    present = [c for c in IDENTITY_ONLY if c in table.column_names]
    identity = table.select(["person_ref", "date_of_birth", "sex", *present])
    return table.drop_columns(present), identity


def ssda903_identities(table: pa.Table) -> pa.Table:
    """An SSDA903 Missing table's identity columns, named as the identity fields."""
    return table.select(list(SSDA903_IDENTITY)).rename_columns(list(SSDA903_IDENTITY.values()))


def identity_batch(
    text: pd.DataFrame, source: Source, key: bytes, malformed: dict[int, str] | None = None
) -> Batch:
    """A file of an identity layout: no episodes; a row with a person reference is loaded
    (as an identity), one without is quarantined, as is one `malformed`. The quarantine
    keeps no raw values: they are identities."""
    malformed = malformed or {}
    blank = text["person_ref"].isna() & ~text.index.isin(list(malformed))
    reasons = pd.concat(
        [
            pd.Series(NO_PERSON_REF, index=text.index[blank], dtype="str"),
            pd.Series(malformed, dtype="str"),
        ]
    ).sort_index()
    good = text[~blank & ~text.index.isin(list(malformed))]
    ids = ChildIds(key, source.name, pa.array(good["person_ref"], type=pa.string()))
    rows = pd.RangeIndex(len(good))
    loaded = pd.DataFrame(
        {
            "row_number": good.index.to_numpy(dtype="int64"),
            "child_id": ids.of_rows(rows).to_numpy(),
        }
    )
    empty = pd.DataFrame(columns=["row_number", "child_id"]).astype({"row_number": "int64"})
    return Batch(
        versions=empty,
        quarantine=pd.DataFrame(
            {
                "row_number": reasons.index.to_numpy(dtype="int64"),
                "reasons": reasons.to_numpy(),
                "raw_values": pd.Series([None] * len(reasons), dtype="object"),
            }
        ),
        findings=pd.DataFrame(columns=["rule", "severity", "row_number", "episode_ref", "message"]),
        persons=ids.persons(rows),
        rows_read=len(text),
        rows_out_of_scope=0,
        identity_rows=loaded,
    )


def latest_per_child(table: pa.Table) -> pa.Table:
    """One row per record_id: each field's value from its latest row (by row_number) where
    it is not blank, and the latest row_number (so pieces can be reduced again)."""
    fields = [c for c in table.column_names if c not in ("record_id", "person_ref", "row_number")]
    picks = "".join(
        f', arg_max("{f}", row_number) filter (where "{f}" is not null) as "{f}"' for f in fields
    )
    sql = (
        "select record_id, any_value(person_ref) as person_ref, max(row_number) as row_number"
        f"{picks} from identity_rows group by record_id"
    )
    return row_aligned(sql, {"identity_rows": table})


def piece_identities(identity: pa.Table, batch: Batch) -> pa.Table:
    """The children loaded from one piece of a file, one row each (latest_per_child)."""
    loaded = batch.loaded
    rows = loaded["row_number"].to_numpy(dtype=np.int64)
    taken = identity.take(pa.array(rows))
    return latest_per_child(
        taken.append_column("row_number", pa.array(rows)).append_column(
            "record_id", pa.array(loaded["child_id"].to_numpy(dtype=object), type=pa.string())
        )
    )


def file_identities(pieces: list[pa.Table], source: Source) -> pa.Table:
    """A file's children, one row each, in the CAPTURED columns (absent fields blank)."""
    merged = latest_per_child(pa.concat_tables(pieces)) if len(pieces) > 1 else pieces[0]
    rows = merged.num_rows
    columns = {
        "source": pa.array([source.name] * rows, type=pa.string()),
        "agency": pa.array([source.agency] * rows, type=pa.string()),
    }
    for name in CAPTURED[2:]:
        columns[name] = (
            merged[name].cast(pa.string())
            if name in merged.column_names
            else pa.nulls(rows, pa.string())
        )
    return pa.table(columns)
