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
import pyarrow.compute as pc

from pipelines.ingest.batches import Batch
from pipelines.ingest.cme import spell_failures, spell_rows
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
    (as an identity), one without is quarantined, as is one `malformed` and (cme) one whose
    spell off roll has no valid start date. The quarantine keeps no raw values: they are
    identities."""
    malformed = malformed or {}
    unread = text.index.isin(list(malformed))
    failures: dict[int, list[str]] = {row: [why] for row, why in malformed.items()}
    for row in text.index[text["person_ref"].isna() & ~unread]:
        failures[int(row)] = [NO_PERSON_REF]
    is_cme = source.kind == "cme"
    if is_cme:
        for row, spell in spell_failures(text[~unread]).items():
            failures.setdefault(row, []).extend(spell)
    reasons = pd.Series({row: "; ".join(why) for row, why in failures.items()}, dtype="str")
    reasons = reasons.sort_index()
    good = text[~text.index.isin(list(failures))]
    ids = ChildIds(key, source.name, pa.array(good["person_ref"], type=pa.string()))
    rows = pd.RangeIndex(len(good))
    child = ids.of_rows(rows)
    loaded = pd.DataFrame(
        {"row_number": good.index.to_numpy(dtype="int64"), "child_id": child.to_numpy()}
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
        spells=spell_rows(good, child) if is_cme else None,
    )


class LatestRows:
    """Which row of a file holds each loaded child's latest value of each identity field.

    Children are their places among the file's distinct references (pseudonym.ChildIds);
    rows are the file's row numbers. Pieces arrive in file order, so the latest row is the
    largest. Numpy keeps a row number per child and field instead of grouping the rows: a
    DuckDB group-by took 0.5 s a piece of 500,000 rows, several seconds of a large nightly.
    """

    def __init__(self, identity: pa.Table, ids: ChildIds) -> None:
        self.identity, self.ids = identity, ids
        self.fields = [c for c in identity.column_names if c != "person_ref"]
        # Each row's child (a blank reference, never loaded, is no child: -1).
        self.place = pc.fill_null(ids.place, -1).to_numpy(zero_copy_only=False)
        self.given = {
            f: pc.is_valid(identity[f]).to_numpy(zero_copy_only=False) for f in self.fields
        }
        self.latest = {f: np.full(len(ids.refs), -1, dtype=np.int64) for f in self.fields}
        self.loaded = np.zeros(len(ids.refs), dtype=bool)

    def add(self, batch: Batch) -> None:
        """Note the rows one piece loaded."""
        rows = batch.loaded["row_number"].to_numpy(dtype=np.int64)
        places = self.place[rows]
        rows, places = rows[places >= 0], places[places >= 0]
        self.loaded[places] = True
        for f in self.fields:
            keep = self.given[f][rows]
            np.maximum.at(self.latest[f], places[keep], rows[keep])

    def table(self, source: Source) -> pa.Table:
        """The file's loaded children, one row each, in the CAPTURED columns (absent fields
        blank)."""
        children = pa.array(np.flatnonzero(self.loaded))
        count = len(children)
        columns: dict[str, pa.Array] = {
            "source": pa.array([source.name] * count, type=pa.string()),
            "agency": pa.array([source.agency] * count, type=pa.string()),
            "person_ref": self.ids.refs.take(children).cast(pa.string()),
            "record_id": self.ids.ids.take(children).cast(pa.string()),
        }
        for name in CAPTURED[4:]:
            if name not in self.latest:
                columns[name] = pa.nulls(count, pa.string())
                continue
            rows = self.latest[name][np.flatnonzero(self.loaded)]
            at = pa.array(rows, mask=rows < 0)
            columns[name] = self.identity[name].take(at).cast(pa.string()).combine_chunks()
        return pa.table(columns)
