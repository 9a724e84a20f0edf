"""Turn a file's text columns into typed episode fields, keeping what failed to parse.

Dates are ISO 8601 or dd/mm/yyyy, with or without a time; a day-first date is never read
month-first. An ISO time with `Z` or an offset (`+01:00`, `-0500`, `+01`) is converted to the
UK clock time (Europe/London) it was, like every other time stored. Codes are looked up in
the source's declared list, case-insensitively; a code outside it is kept as written so the
batch checks can name it.
"""

from __future__ import annotations

from datetime import date, timedelta

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from pipelines.db import row_aligned
from pipelines.sources.declarations import Source
from pipelines.sources.record import CODES, DATE_FIELDS, DATETIME_FIELDS, canonical_code

# dd/mm/yyyy is rewritten as ISO before one strict ISO parse (hours 00-23: DuckDB would
# otherwise read 24:00 as the next midnight, which pandas, and ISO's calendar dates, refuse).
# The rewrite looks only at where the slashes are: a value shaped so without digits in
# place fails the ISO shape after it exactly as it would unrewritten, and it is about a
# quarter cheaper than a regular expression (seven columns of 500,000 rows: 0.44-0.49 s ->
# 0.32-0.37 s).
DAY_FIRST = "__/__/____%"
ISO_SHAPE = r"\d{4}-\d{2}-\d{2}(?:[ T](?:[01]\d|2[0-3]):\d{2}(?::\d{2}(?:\.\d+)?)?)?"
# The same with a time and its zone: Z, or an offset of hours and minutes up to 23:59.
ZONED_SHAPE = (
    r"\d{4}-\d{2}-\d{2}[ T](?:[01]\d|2[0-3]):\d{2}(?::\d{2}(?:\.\d+)?)?"
    r"(?:Z|[+-](?:[01]\d|2[0-3])(?::?[0-5]\d)?)"
)
UK_ZONE = "Europe/London"
# No episode is dated before this: an earlier date is a typing or default-date error.
EARLIEST_DATE = pd.Timestamp("1990-01-01")


def _timestamp_sql(column: str) -> str:
    value = f'"{column}"'
    iso = (
        f"(case when {value} like '{DAY_FIRST}' then substr({value}, 7, 4) || '-' "
        f"|| substr({value}, 4, 2) || '-' || substr({value}, 1, 2) || substr({value}, 11) "
        f"else {value} end)"
    )
    return (
        f"case when regexp_full_match({iso}, '{ISO_SHAPE}') "
        f"then try_cast({iso} as timestamp) "
        f"when regexp_full_match({iso}, '{ZONED_SHAPE}') "
        f"then timezone('{UK_ZONE}', try_cast({iso} as timestamptz)) end as {value}"
    )


def parse_datetime_columns(text: pd.DataFrame) -> pd.DataFrame:
    """Each text column as timestamps (ISO 8601 or dd/mm/yyyy); NaT where blank or not a
    real date, such as 31/02/2021.

    DuckDB parses every column in one pass on every core: a third of the time pandas'
    to_datetime took for the seven date fields of 500,000 rows (measured: 1.3 -> 0.4 s),
    with the same results (checked on 20,000 random date-shaped strings).
    """
    table = pa.table({c: pa.array(text[c], type=pa.string(), from_pandas=True) for c in text})
    sql = f"select {', '.join(map(_timestamp_sql, text.columns))} from text_columns"
    return row_aligned(sql, {"text_columns": table}).to_pandas().set_axis(text.index)


def parse_datetimes(text: pd.Series) -> pd.Series:
    """Timestamps from ISO 8601 or dd/mm/yyyy text; NaT where blank or not a real date."""
    return parse_datetime_columns(text.to_frame("value"))["value"]


def code_lookup(source: Source, field: str) -> dict[str, str]:
    """This source's codes for a field (upper-cased) -> standard codes."""
    if field in source.codes:
        return source.codes[field]
    return {canonical_code(field, c).upper(): c for c in CODES[field]} | {
        c.upper().replace("_", " "): c for c in CODES[field]
    }


def parse_codes(text: pd.Series, lookup: dict[str, str]) -> pd.Series:
    """Standard codes; a value outside the list is kept as written (the checks reject it)."""
    # In Arrow, vectorised: pandas' map over eight code columns was 6 s of a 5.4M-row nightly.
    # Each distinct value is looked up once and the answers spread back over the rows: a
    # column of codes has a handful of values (0.24 -> 0.15 s for eight columns of 500,000).
    values = pa.array(text, type=pa.string(), from_pandas=True)
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    encoded = pc.dictionary_encode(values)
    words = encoded.dictionary
    keys = pc.utf8_upper(pc.utf8_trim_whitespace(words))
    found = pc.index_in(keys, value_set=pa.array(list(lookup), type=pa.string()))
    mapped = pc.coalesce(pc.take(pa.array(list(lookup.values()), type=pa.string()), found), words)
    return pd.Series(pc.take(mapped, encoded.indices), index=text.index, dtype="str")


def _out_of_range(typed: pd.DataFrame, today: date) -> dict[str, pd.Series]:
    """`<field>__too_late` and `<field>__too_early` for each datetime: marked ("Y") where the
    moment cannot be right, for the contract's date_in_range checks.

    Too late is after the row's extracted_at (nothing after the extract can be in it), or,
    where the row has none, after tomorrow (a day's grace for clocks and time zones); the
    extract's own time is too late after tomorrow. Too early is before EARLIEST_DATE.
    """
    after_tomorrow = pd.Timestamp(today + timedelta(days=2))
    extracted = typed["extracted_at"]
    marks = {}
    for name in DATETIME_FIELDS:
        value = typed[name]
        if name == "extracted_at":
            late = value >= after_tomorrow
        else:
            late = (value > extracted) | (extracted.isna() & (value >= after_tomorrow))
        for suffix, wrong in (("too_late", late), ("too_early", value < EARLIEST_DATE)):
            mark = pd.Series(pd.NA, index=typed.index, dtype="str")
            marks[f"{name}__{suffix}"] = mark.mask(wrong.fillna(False).astype(bool), "Y")
    return marks


def typed_episodes(text: pd.DataFrame, source: Source, today: date | None = None) -> pd.DataFrame:
    """Typed standard fields, plus what the incoming checks read besides: `<field>__unparsed`
    for each date that did not parse, `<field>__too_late` / `__too_early` for each datetime
    that cannot be right (`today`: the day the file is read, unless given), and
    `returned_at__no_last_seen`."""
    out = pd.DataFrame(index=text.index)
    out["episode_ref"] = text["episode_ref"].astype("str")
    out["person_ref"] = text["person_ref"].astype("str")
    dates = parse_datetime_columns(text[[*DATE_FIELDS, *DATETIME_FIELDS]])
    for field in DATE_FIELDS + DATETIME_FIELDS:
        out[field] = dates[field]
        out[f"{field}__unparsed"] = text[field].where(dates[field].isna() & text[field].notna())
    for field in ("date_of_birth", "reported_at"):
        # Kept so that "blank" and "not a date" stay two different reasons.
        out[f"{field}__text"] = text[field].astype("str")
    for field in CODES:
        out[field] = parse_codes(text[field], code_lookup(source, field))
    out = out.assign(**_out_of_range(out, today or date.today()))
    # A return before the report can be explained by a last-seen time before both; without
    # one it is a negative duration (returned_after_reported).
    return out.assign(
        returned_at__no_last_seen=out["returned_at"].where(out["last_seen_at"].isna())
    )


def age_in_years(born: pd.Series, at: pd.Series) -> pd.Series:
    """Whole years of age at a moment (birthdays counted on the day)."""
    years = at.dt.year - born.dt.year
    before_birthday = (at.dt.month < born.dt.month) | (
        (at.dt.month == born.dt.month) & (at.dt.day < born.dt.day)
    )
    return (years - before_birthday.astype("int64")).astype("Int64")
