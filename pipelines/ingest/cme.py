"""A children-missing-education file's spells off roll: the values beside its identities.

A cme row names a child (its identities go to the identity store, pipelines.ingest.identities)
and one spell off a school roll: the date the child left the roll, the council's reason code,
and the date the spell was resolved (back on a roll, or otherwise educated). Those values are
not identities: they are kept in the working store (table cme_rows), one row per file row,
under the row's child id, and modelled into the curated cme_episodes.
"""

from __future__ import annotations

import pandas as pd

from pipelines.ingest.parse import parse_datetime_columns

# The stored columns of a loaded row, besides source, file and ingest_seq.
CME_ROW_COLUMNS = ("row_number", "child_id", "off_roll_on", "reason", "resolved_on")
# The dates of a spell: the first is required.
CME_DATES = ("off_roll_on", "resolved_on")
# What the quarantine says (rule: message); never the value itself, which may be anything.
NOT_A_DATE = "date_parses: {field} is not a date (use YYYY-MM-DD or dd/mm/yyyy)"
NO_OFF_ROLL_DATE = "required: off_roll_on is blank"


def spell_failures(text: pd.DataFrame) -> dict[int, list[str]]:
    """The reasons each row's spell cannot be kept, by row number (rows with none left out)."""
    parsed = parse_datetime_columns(text[list(CME_DATES)])
    failures: dict[int, list[str]] = {}
    checks = [(text["off_roll_on"].isna(), NO_OFF_ROLL_DATE)]
    checks += [(text[f].notna() & parsed[f].isna(), NOT_A_DATE.format(field=f)) for f in CME_DATES]
    for failing, reason in checks:
        for row in text.index[failing]:
            failures.setdefault(int(row), []).append(reason)
    return failures


def spell_rows(good: pd.DataFrame, child: pd.Series) -> pd.DataFrame:
    """The loaded rows' spells (CME_ROW_COLUMNS), their dates typed; `child` is each row's
    child id, indexed like `good`."""
    parsed = parse_datetime_columns(good[list(CME_DATES)])
    return pd.DataFrame(
        {
            "row_number": good.index.to_numpy(dtype="int64"),
            "child_id": child.to_numpy(),
            "off_roll_on": parsed["off_roll_on"].dt.date.to_numpy(),
            "reason": good["reason"].to_numpy(),
            "resolved_on": parsed["resolved_on"].dt.date.to_numpy(),
        }
    )
