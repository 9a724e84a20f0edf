"""Turn a file's text columns into typed episode fields, keeping what failed to parse.

Dates are ISO 8601 or dd/mm/yyyy, with or without a time; a day-first date is never read
month-first. Codes are looked up in the source's declared list, case-insensitively; a code
outside it is kept as written so the batch checks can name it.
"""

from __future__ import annotations

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from pipelines.record import CODES, DATE_FIELDS, DATETIME_FIELDS, canonical_code
from pipelines.sources import Source

# dd/mm/yyyy is rewritten as ISO (in Arrow, vectorised) before one strict ISO parse.
DAY_FIRST = r"^(\d{2})/(\d{2})/(\d{4})"
ISO_SHAPE = r"^\d{4}-\d{2}-\d{2}(?:[ T]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?)?$"


def parse_datetimes(text: pd.Series) -> pd.Series:
    """Timestamps from ISO 8601 or dd/mm/yyyy text; NaT where blank or not a real date."""
    values = pa.array(text.astype("str"), type=pa.string(), from_pandas=True)
    iso = pc.replace_substring_regex(values, pattern=DAY_FIRST, replacement=r"\3-\2-\1")
    iso = pc.if_else(pc.match_substring_regex(iso, ISO_SHAPE), iso, None)
    iso = pd.Series(pd.arrays.ArrowExtensionArray(iso), index=text.index).astype("str")
    return pd.to_datetime(iso, format="ISO8601", errors="coerce")


def code_lookup(source: Source, field: str) -> dict[str, str]:
    """This source's codes for a field (upper-cased) -> standard codes."""
    if field in source.codes:
        return source.codes[field]
    return {canonical_code(field, c).upper(): c for c in CODES[field]} | {
        c.upper().replace("_", " "): c for c in CODES[field]
    }


def parse_codes(text: pd.Series, lookup: dict[str, str]) -> pd.Series:
    """Standard codes; a value outside the list is kept as written (the checks reject it)."""
    keys = text.astype("str").str.strip().str.upper()
    mapped = keys.map(lookup)
    return mapped.where(mapped.notna() | text.isna(), text).astype("str")


def typed_episodes(text: pd.DataFrame, source: Source) -> pd.DataFrame:
    """Typed standard fields, plus `<field>__unparsed` for each date that did not parse."""
    out = pd.DataFrame(index=text.index)
    out["episode_ref"] = text["episode_ref"].astype("str")
    out["person_ref"] = text["person_ref"].astype("str")
    for field in DATE_FIELDS + DATETIME_FIELDS:
        parsed = parse_datetimes(text[field])
        out[field] = parsed
        out[f"{field}__unparsed"] = text[field].where(parsed.isna() & text[field].notna())
    for field in ("date_of_birth", "reported_at"):
        # Kept so that "blank" and "not a date" stay two different reasons.
        out[f"{field}__text"] = text[field].astype("str")
    for field in CODES:
        out[field] = parse_codes(text[field], code_lookup(source, field))
    return out


def age_in_years(born: pd.Series, at: pd.Series) -> pd.Series:
    """Whole years of age at a moment (birthdays counted on the day)."""
    years = at.dt.year - born.dt.year
    before_birthday = (at.dt.month < born.dt.month) | (
        (at.dt.month == born.dt.month) & (at.dt.day < born.dt.day)
    )
    return (years - before_birthday.astype("int64")).astype("Int64")
