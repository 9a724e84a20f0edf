"""DfE SSDA903 validation rules that need the Missing table alone.

A pure pandas re-implementation of the Missing-table rules of the sector's validator
(csc-validator-be-903, package ``lac_validator``), so the pipeline can tell a local authority
which rows of its return DfE would reject, without that package's pandas<2 pin.

Parity with the validator is the goal (see tests/fixtures/ssda903/), so its reading quirks are
mirrored on purpose:

* text is upper-cased as it is read (``c0001`` and ``C0001`` are one child, ``m`` is ``M``);
* only an empty field is blank: whitespace and strings such as ``NA`` count as present;
* dates are parsed like ``pd.to_datetime(format="%d/%m/%Y")`` under pandas 1.5: day and month
  may have one digit (``1/4/2024``), ISO ``2024-04-01`` is invalid, and dates outside pandas'
  nanosecond range (before 22/09/1677 or after 11/04/2262) are invalid;
* the collection year ``collection_year_end`` = Y runs from 01/04/(Y-1) to 31/03/Y.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from pipelines.sources.record import SSDA903_COLUMNS

COLUMNS = SSDA903_COLUMNS

#: DfE rule code -> (severity, short description). Errors stop a row becoming an episode.
RULES: dict[str, tuple[str, str]] = {
    "1004": ("error", "MIS_START is blank or not a valid dd/mm/yyyy date"),
    "1005": ("error", "MIS_END is present and not a valid dd/mm/yyyy date"),
    "1006": ("error", "MISSING is present and not M or A"),
    "564": ("error", "MISSING is M or A but MIS_START is blank"),
    "565": ("error", "MIS_START is present but MISSING is blank"),
    "566": ("error", "MIS_END is present but MISSING is blank"),
    "567": ("error", "MIS_END is before MIS_START"),
    "570": ("warning", "MIS_START is after the end of the collection year"),
    "571": ("warning", "MIS_END is outside the collection year"),
    "574": ("warning", "period starts while the child's previous period is open or overlaps it"),
    "586": ("error", "MIS_START is on or before the date of birth"),
}

# The pattern Python's strptime (and so pandas 1.5) builds for "%d/%m/%Y": one-digit day and
# month are allowed, as is a space-padded day; \d in the year also takes non-ASCII digits.
# \Z rather than $ because $ would accept a trailing newline, which strptime rejects.
_DATE_PATTERN = r"^(3[01]|[12]\d|0[1-9]|[1-9]| [1-9])/(1[0-2]|0[1-9]|[1-9])/(\d\d\d\d)\Z"
# datetime64[ns] limits, as whole days: the validator's pandas turns anything outside into NaT.
_FIRST_DAY, _LAST_DAY = 1677_09_22, 2262_04_11


def parse_dfe_date(values: pd.Series) -> pd.Series:
    """Parse dd/mm/yyyy text into datetime64[ns], NaT where blank or invalid.

    Each distinct value is parsed once and the results are mapped back, since a return holds
    few distinct dates; this keeps 100k-row tables fast.
    """
    codes, uniques = pd.factorize(pd.Series(values, dtype=object), use_na_sentinel=True)
    text = pd.Series(uniques, dtype=object).map(str)
    parts = text.str.extract(_DATE_PATTERN).dropna()
    parsed = pd.Series(pd.NaT, index=text.index, dtype="datetime64[ns]")
    if not parts.empty:
        # int() rather than a numeric cast: it accepts the non-ASCII digits \d lets through.
        day, month, year = (parts[i].map(lambda v: int(v.strip())) for i in range(3))
        stamp = year * 10_000 + month * 100 + day
        ok = (stamp >= _FIRST_DAY) & (stamp <= _LAST_DAY)
        if ok.any():
            ymd = pd.DataFrame({"year": year[ok], "month": month[ok], "day": day[ok]})
            # errors="coerce" makes impossible days such as 31/02 NaT, as strptime does.
            parsed[ymd.index] = pd.to_datetime(ymd, errors="coerce").astype("datetime64[ns]")
    # Index -1 (blank) picks the NaT appended at the end.
    lookup = np.append(parsed.to_numpy(), np.datetime64("NaT", "ns"))
    return pd.Series(lookup[codes], index=values.index, name=values.name)


def read_missing_csv(path: str | Path) -> pd.DataFrame:
    """Read an SSDA903 Missing CSV the way the validator does, keeping the raw text.

    Only an empty field is blank (no ``NA``/``null`` guessing) and nothing is stripped;
    wholly blank lines are skipped, so row numbers count data rows only.
    """
    table = pd.read_csv(path, dtype=str, keep_default_na=False)
    if set(table.columns) != set(COLUMNS):
        # The header found is not quoted: in a file without one it is the first data row.
        raise ValueError(
            f"{path}: expected columns {', '.join(COLUMNS)}; the first line has "
            f"{len(table.columns)} other or missing names"
        )
    return table[list(COLUMNS)].mask(table[list(COLUMNS)] == "")


def _text(values: pd.Series) -> pd.Series:
    """Upper-cased text as object dtype, NaN where blank (None, NaN or "").

    Works on distinct values only (codes and dates repeat a lot), then maps back.
    """
    codes, uniques = pd.factorize(pd.Series(values, dtype=object), use_na_sentinel=True)
    upper = np.array([str(v).upper() or np.nan for v in uniques] + [np.nan], dtype=object)
    return pd.Series(upper[codes], index=values.index, dtype=object)


def _overlaps(child: pd.Series, start: pd.Series, end: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Rule 574: which periods clash with the same child's previous one.

    Periods are ordered per child by end (start where there is no valid end), then start, then
    file order; unparseable dates sort last. A period fails when the one before it has no valid
    end (still open) or ends after this one starts, so only the later of a clash is flagged and
    back-to-back (starting on the previous end date) is fine. Inputs have a RangeIndex; returns
    the mask and, per row, the position of the previous period (-1 where none is flagged).
    """
    frame = pd.DataFrame(
        {"child": child, "start": start, "end": end, "pos": np.arange(len(child))}
    ).dropna(subset=["child"])  # the validator never pairs a blank CHILD with anything
    frame["key"] = frame["end"].fillna(frame["start"])
    frame = frame.sort_values(["child", "key", "start", "pos"], kind="stable")
    groups = frame.groupby("child", sort=False)
    previous = groups[["end", "pos"]].shift()
    clash = (groups.cumcount() > 0) & (previous["end"].isna() | (frame["start"] < previous["end"]))
    flagged = frame["pos"][clash].to_numpy()
    prev_pos = np.full(len(child), -1, dtype="int64")
    prev_pos[flagged] = previous["pos"][clash].to_numpy(dtype="int64")
    return prev_pos >= 0, prev_pos


def check_missing_table(table: pd.DataFrame, collection_year_end: int) -> pd.DataFrame:
    """Run the Missing-table rules on one SSDA903 return.

    ``table`` has columns CHILD, DOB, MISSING, MIS_START, MIS_END as raw text (blank as None,
    NaN or ""), indexed by data row number from 0. ``collection_year_end`` is the year the
    collection year ends (2025 for 1 April 2024 to 31 March 2025).

    Returns one row per (row, rule) with columns rule, row_number, severity, message, sorted
    by row_number then rule (compared as text, so "1004" comes before "564").
    """
    absent = [c for c in COLUMNS if c not in table.columns]
    if absent:
        raise ValueError(f"Missing table lacks columns: {', '.join(absent)}")
    # Work by position; the caller's index labels only name rows in the output.
    labels = np.asarray(table.index)
    work = table[list(COLUMNS)].reset_index(drop=True)
    child, missing = _text(work["CHILD"]), _text(work["MISSING"])
    start_text, end_text = _text(work["MIS_START"]), _text(work["MIS_END"])
    start, end = parse_dfe_date(start_text), parse_dfe_date(end_text)
    dob = parse_dfe_date(_text(work["DOB"]))
    year_start = pd.Timestamp(collection_year_end - 1, 4, 1)
    year_end = pd.Timestamp(collection_year_end, 3, 31)
    has_missing, has_start, has_end = missing.notna(), start_text.notna(), end_text.notna()
    overlap, prev_pos = _overlaps(child, start, end)
    season = f"collection year {collection_year_end - 1}_{collection_year_end % 100:02d}"
    span = f"{year_start:%d/%m/%Y} to {year_end:%d/%m/%Y}"

    def said(text: str) -> Callable[[np.ndarray], pd.Series]:
        """The same message for every row: findings are published, so a message names the
        columns and the rule, never a value of the row (the row number says where)."""
        return lambda rows: pd.Series(text, index=range(len(rows)), dtype=object)

    def msg_1004(rows: np.ndarray) -> pd.Series:
        present = pd.Series(has_start.to_numpy()[rows])
        return pd.Series("MIS_START is not a valid dd/mm/yyyy date", index=present.index).where(
            present, "MIS_START is blank"
        )

    def msg_574(rows: np.ndarray) -> pd.Series:
        before = prev_pos[rows]
        open_before = pd.Series(end.to_numpy()[before]).isna()
        state = pd.Series("which ends after this MIS_START", index=open_before.index).where(
            ~open_before, "which has no valid MIS_END"
        )
        row = pd.Series(labels[before]).map(str)
        # No dates and no child reference: the previous row's number says where to look.
        return "MIS_START clashes with the child's previous period (row " + row + "), " + state

    # NaT comparisons are False, so date rules stay silent where a date is blank or invalid
    # (1004/1005 report those), exactly as in the validator.
    checks: dict[str, tuple[pd.Series | np.ndarray, Callable[[np.ndarray], pd.Series]]] = {
        "1004": (start.isna(), msg_1004),
        "1005": (has_end & end.isna(), said("MIS_END is not a valid dd/mm/yyyy date")),
        "1006": (has_missing & ~missing.isin(["M", "A"]), said("MISSING is not M or A")),
        "564": (
            missing.isin(["M", "A"]) & ~has_start,
            said("MISSING is M or A but MIS_START is blank"),
        ),
        "565": (has_start & ~has_missing, said("MIS_START is given but MISSING is blank")),
        "566": (has_end & ~has_missing, said("MIS_END is given but MISSING is blank")),
        "567": (start > end, said("MIS_END is before MIS_START")),
        "570": (
            start > year_end,
            said(f"MIS_START is after {year_end:%d/%m/%Y}, the end of {season}"),
        ),
        "571": (
            (end < year_start) | (end > year_end),
            said(f"MIS_END is outside {season} ({span})"),
        ),
        "574": (overlap, msg_574),
        "586": (start <= dob, said("MIS_START is on or before the date of birth")),
    }
    found = []
    for code, (mask, message) in checks.items():
        rows = np.flatnonzero(np.asarray(mask, dtype=bool))
        if not len(rows):
            continue
        found.append(
            pd.DataFrame(
                {
                    "rule": pd.Series(code, index=range(len(rows)), dtype=object),
                    "row_number": labels[rows].astype("int64"),
                    "severity": RULES[code][0],
                    "message": message(rows).to_numpy(dtype=object),
                }
            )
        )
    empty = pd.DataFrame({"rule": [], "row_number": np.array([], "int64"), "severity": []})
    result = pd.concat([empty.assign(message=[]), *found], ignore_index=True)
    result = result.astype({"rule": str, "severity": str, "message": str, "row_number": "int64"})
    return result.sort_values(["row_number", "rule"], kind="stable", ignore_index=True)
