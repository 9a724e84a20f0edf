"""How each fictional source writes its extracts, for pipelines.synth.

Column names and code labels must agree with schemas/sources/<name>.yaml;
tests/unit/test_synth_small.py checks that, so a declaration and the generator cannot drift
apart silently. Everything here
is vectorised (pyarrow compute for CSV text); only xlsxwriter touches cells one by one.
"""

from __future__ import annotations

import datetime as dt
import io
import os
import unicodedata
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import xlsxwriter

from pipelines.errors import UsageError
from pipelines.sources.record import CODES, DATETIME_FIELDS

# Times are int64 minutes since 1970-01-01 (UK clock time, no zone), dates int64 days.
DAY = 1440
# An event that never happens (or has not happened): larger than any as-of time, so a
# plain `t <= as_of` test hides it.
NEVER = np.int64(2**62)
# Excel's day 0 is 1899-12-30; 25569 days later is 1970-01-01.
EXCEL_DAY_OFFSET = 25569
# xlsxwriter writes "now" into docProps/core.xml unless told otherwise: pin it for byte-identical
# workbooks.
XLSX_CREATED = dt.datetime(2012, 1, 1)
# Share of eastmoor date cells typed in by hand as text instead of real date cells.
EASTMOOR_TEXT_DATE_SHARE = 0.05
# Below this many rows, starting threads to format columns costs more than it saves.
PARALLEL_FROM_ROWS = 50_000
# Excel's sheet limit, less the title block and header.
XLSX_MAX_ROWS = 1_048_576 - 3

# Internal code order shared with pipelines.synth (index -> meaning).
SEX = ("M", "F", "X", "U")
YES_NO = ("N", "Y")
MISSING_FROM = ("home", "foster", "residential", "other")
OUTCOME = ("returned", "found_by_police", "found_by_other", "found_harmed", "found_dead")
GRADE = ("no apparent risk", "low", "medium", "high")
CATEGORY = ("missing", "absent")

# The standard record's own lists: one definition for the pipeline and its test data.
CODED_FIELDS = tuple(CODES)

# Free text as a call handler types it: commas, a pound sign, a typographic apostrophe, double
# quotes and line breaks, so a reader that splits on the wrong character or ignores quoting
# breaks visibly. Wholly fictional.
CIRCUMSTANCES = (
    "Did not return from school, friends think she went into town with about £10.",
    "Left placement after an argument, phone switched off.\nCarer rang at 21:40.",
    "Went to the shop and didn’t come back; last seen near the bus station, grey hoodie.",
    'Said he was "staying at a mate’s", address not known, mother worried.',
    "Failed to return to the home by curfew, staff searched the park, the shops and the "
    "station.\nNo answer from phone.",
    "Out with friends, expected back by 22:00, not answered messages since, £20 missing "
    "from purse.",
    "Left after being told off, took a bag of clothes,\nmay be with an older boyfriend.",
    "Not seen since lunchtime, school confirmed no attendance, bike also missing.",
)


@dataclass(frozen=True)
class PoliceLayout:
    """One police source's file layout: what synth writes and the declaration describes."""

    source: str
    fmt: str  # "csv" or "xlsx"
    # (field, column name) in file order; fields beyond the standard ones are fictional
    # personal or free-text columns the pipeline must ignore.
    columns: tuple[tuple[str, str], ...]
    # field -> label per internal code (see SEX, YES_NO, ...); absent field = not recorded.
    labels: dict[str, tuple]
    datetime_format: str = ""
    date_format: str = ""
    # strftime patterns that give an impossible date in this source's own style.
    bad_datetime_format: str = ""
    bad_grade: str = "SEVERE"
    delimiter: str = ","
    encoding: str = "utf-8"
    bom: bool = False
    eol: str = "\n"
    quoting: str = "needed"
    episode_ref: Callable[[np.ndarray, np.ndarray], pa.Array] | None = None
    person_ref: Callable[[np.ndarray], pa.Array] | None = None
    sheet: str = ""


def _digits(n: np.ndarray, width: int) -> pa.Array:
    return pc.utf8_lpad(pc.cast(pa.array(n), pa.string()), width=width, padding="0")


def _join(*parts: pa.Array | str) -> pa.Array:
    return pc.binary_join_element_wise(*parts, "")


NORTHSHIRE = PoliceLayout(
    source="northshire",
    fmt="csv",
    columns=(
        ("episode_ref", "Occurrence Ref"),
        ("person_ref", "Subject ID"),
        ("forename", "Forename"),
        ("surname", "Surname"),
        ("date_of_birth", "DOB"),
        ("postcode", "Postcode"),
        ("la_child_ref", "LA Child ID"),
        ("sex", "Gender"),
        ("address", "Home Address"),
        ("looked_after", "LAC"),
        ("missing_from", "Missing From"),
        ("category", "Report Type"),
        ("last_seen_at", "Last Seen"),
        ("reported_at", "Date Reported"),
        ("initial_risk_grade", "Initial Risk"),
        ("risk_grade", "Highest Risk"),
        ("cse_flag", "CSE Marker"),
        ("circumstances", "Circumstances"),
        ("returned_at", "Date Traced"),
        ("outcome", "How Ended"),
        ("rhi_offered_at", "RHI Offered"),
        ("rhi_completed_at", "RHI Completed"),
        ("extracted_at", "Extract Time"),
    ),
    labels={
        "category": ("MISSING", "ABSENT"),
        "initial_risk_grade": ("NO APPARENT RISK", "LOW", "MEDIUM", "HIGH"),
        "risk_grade": ("NO APPARENT RISK", "LOW", "MEDIUM", "HIGH"),
        "sex": ("MALE", "FEMALE", "OTHER", "NOT KNOWN"),
        "looked_after": ("NO", "YES"),
        "missing_from": ("HOME ADDRESS", "FOSTER PLACEMENT", "CHILDRENS HOME", "OTHER"),
        "cse_flag": ("NO", "YES"),
        "outcome": (
            "RETURNED",
            "TRACED BY POLICE",
            "TRACED BY OTHER",
            "FOUND HARMED",
            "FOUND DECEASED",
        ),
    },
    datetime_format="%d/%m/%Y %H:%M",
    date_format="%d/%m/%Y",
    bad_datetime_format="31/02/%Y %H:%M",
    delimiter=";",
    encoding="cp1252",
    eol="\r\n",
    episode_ref=lambda n, year: _join(
        "NS/MP/", pc.cast(pa.array(year), pa.string()), "/", _digits(n, 7)
    ),
    person_ref=lambda n: _join("NS-P", _digits(n, 7)),
)
# Northshire's label for the lowest grade during 2017, before it settled on the APP wording.
NORTHSHIRE_OLD_NAR_LABEL = "ABSENT"

EASTMOOR = PoliceLayout(
    source="eastmoor",
    fmt="xlsx",
    sheet="Missing Episodes",
    columns=(
        ("episode_ref", "OCC_NO"),
        ("person_ref", "NOMINAL_ID"),
        ("forename", "FORENAME"),
        ("surname", "SURNAME"),
        ("date_of_birth", "BIRTH_DATE"),
        ("postcode", "POSTCODE"),
        ("la_child_ref", "LA_CHILD_ID"),
        ("sex", "SEX"),
        ("looked_after", "IN_CARE"),
        ("missing_from", "LOCATION_TYPE"),
        ("reported_at", "REPORT_DTTM"),
        ("last_seen_at", "LAST_SEEN_DTTM"),
        ("initial_risk_grade", "RISK_AT_REPORT"),
        ("risk_grade", "RISK_MAX"),
        ("cse_flag", "CSE"),
        ("returned_at", "FOUND_DTTM"),
        ("outcome", "RESOLUTION"),
        ("rhi_offered_at", "RHI_OFFER_DTTM"),
        ("rhi_completed_at", "RHI_DONE_DTTM"),
        ("extracted_at", "EXTRACTED"),
    ),
    labels={
        "initial_risk_grade": ("VERY LOW", "LOW", "MEDIUM", "HIGH"),
        "risk_grade": ("VERY LOW", "LOW", "MEDIUM", "HIGH"),
        "sex": SEX,
        # Niche exports flags as numbers; written as number cells 0/1.
        "looked_after": (0, 1),
        "missing_from": ("HOME", "FOSTER", "RESI", "OTHER"),
        "cse_flag": (0, 1),
        "outcome": ("RET", "FBP", "FBO", "HARM", "DEAD"),
    },
    datetime_format="%d/%m/%Y %H:%M",
    date_format="%d/%m/%Y",
    bad_datetime_format="31/02/%Y %H:%M",
    episode_ref=lambda n, year: _join(
        "EM", pc.utf8_slice_codeunits(pc.cast(pa.array(year), pa.string()), 2), "-", _digits(n, 7)
    ),
    person_ref=lambda n: _join("EM-N", _digits(n, 7)),
)

WESTVALE = PoliceLayout(
    source="westvale",
    fmt="csv",
    columns=(
        ("episode_ref", "incident_id"),
        ("person_ref", "person_urn"),
        ("forename", "first_name"),
        ("surname", "family_name"),
        ("date_of_birth", "dob"),
        ("postcode", "home_postcode"),
        ("la_child_ref", "la_child_id"),
        ("sex", "sex"),
        ("looked_after", "looked_after"),
        ("missing_from", "from_type"),
        ("category", "mis_abs"),
        ("last_seen_at", "last_seen_ts"),
        ("reported_at", "reported_ts"),
        ("initial_risk_grade", "risk_initial"),
        ("risk_grade", "risk_highest"),
        ("cse_flag", "cse"),
        ("returned_at", "returned_ts"),
        ("outcome", "outcome"),
        ("rhi_offered_at", "rhi_offered_ts"),
        ("rhi_completed_at", "rhi_completed_ts"),
        ("extracted_at", "extract_ts"),
    ),
    labels={
        "category": ("M", "A"),
        "initial_risk_grade": ("NAR", "L", "M", "H"),
        "risk_grade": ("NAR", "L", "M", "H"),
        "sex": SEX,
        "looked_after": ("N", "Y"),
        "missing_from": ("H", "F", "R", "O"),
        "cse_flag": ("N", "Y"),
        "outcome": ("R", "FP", "FO", "FH", "FD"),
    },
    datetime_format="%Y-%m-%dT%H:%M:%S",
    date_format="%Y-%m-%d",
    bad_datetime_format="%Y-02-31T%H:%M:%S",
    delimiter="|",
    bom=True,
    quoting="none",
    episode_ref=lambda n, year: _join("WV-INC-", _digits(n, 8)),
    person_ref=lambda n: _join("WV-URN-", _digits(n, 7)),
)

SOUTHBAY = PoliceLayout(
    source="southbay",
    fmt="csv",
    columns=(
        ("episode_ref", "episode_ref"),
        ("person_ref", "person_ref"),
        ("forename", "forename"),
        ("surname", "surname"),
        ("address", "address"),
        ("postcode", "postcode"),
        ("la_child_ref", "la_child_ref"),
        ("date_of_birth", "date_of_birth"),
        ("sex", "sex"),
        ("looked_after", "looked_after"),
        ("missing_from", "missing_from"),
        ("category", "category"),
        ("last_seen_at", "last_seen_at"),
        ("reported_at", "reported_at"),
        ("initial_risk_grade", "initial_risk_grade"),
        ("risk_grade", "risk_grade"),
        ("cse_flag", "cse_flag"),
        ("returned_at", "returned_at"),
        ("outcome", "outcome"),
        ("rhi_offered_at", "rhi_offered_at"),
        ("rhi_completed_at", "rhi_completed_at"),
        ("extracted_at", "extracted_at"),
    ),
    labels={
        "category": CATEGORY,
        "initial_risk_grade": GRADE,
        "risk_grade": GRADE,
        "sex": SEX,
        "looked_after": YES_NO,
        "missing_from": MISSING_FROM,
        "cse_flag": YES_NO,
        "outcome": OUTCOME,
    },
    datetime_format="%Y-%m-%d %H:%M",
    date_format="%Y-%m-%d",
    bad_datetime_format="%Y-02-30 %H:%M",
    bad_grade="severe",
    episode_ref=lambda n, year: _join("SB-E", _digits(n, 8)),
    person_ref=lambda n: _join("SB-P", _digits(n, 8)),
)

POLICE_LAYOUTS = {x.source: x for x in (NORTHSHIRE, EASTMOOR, WESTVALE, SOUTHBAY)}
SSDA903_COLUMNS = ("CHILD", "DOB", "MISSING", "MIS_START", "MIS_END")
TOWN = {"northshire": "Northtown", "southbay": "Southtown"}


def riverton_child(n: np.ndarray) -> pa.Array:
    return _join("RV", _digits(n, 6))


def _timestamps(minutes: np.ndarray) -> pa.Array:
    blank = minutes >= NEVER
    return pa.array(np.where(blank, 0, minutes) * 60, type=pa.timestamp("s"), mask=blank)


def _part(iso: pa.Array, start: int, stop: int) -> pa.Array:
    return pc.utf8_slice_codeunits(iso, start, stop)


# Rearranging the ISO text pyarrow casts to is ~5x faster than strftime, which matters at
# five million rows; other patterns (the few impossible dates) fall back to strftime.
_FAST_FORMATS: dict[str, Callable[[pa.Array], pa.Array]] = {
    "%Y-%m-%d %H:%M": lambda iso: _part(iso, 0, 16),
    "%Y-%m-%dT%H:%M:%S": lambda iso: pc.replace_substring(iso, " ", "T", max_replacements=1),
    "%Y-%m-%d": lambda iso: _part(iso, 0, 10),
    "%d/%m/%Y %H:%M": lambda iso: _join(
        _part(iso, 8, 10), "/", _part(iso, 5, 7), "/", _part(iso, 0, 4), " ", _part(iso, 11, 16)
    ),
    "%d/%m/%Y": lambda iso: _join(_part(iso, 8, 10), "/", _part(iso, 5, 7), "/", _part(iso, 0, 4)),
}


def format_datetime(minutes: np.ndarray, fmt: str) -> pa.Array:
    """Text in the source's style; NEVER (not happened, not recorded) becomes blank."""
    stamps = _timestamps(minutes)
    if fmt in _FAST_FORMATS:
        return _FAST_FORMATS[fmt](pc.cast(stamps, pa.string()))
    return pc.strftime(stamps, format=fmt)


def format_date(days: np.ndarray, fmt: str) -> pa.Array:
    blank = days >= NEVER // DAY
    minutes = np.where(blank, 0, days).astype(np.int64) * DAY
    minutes[blank] = NEVER
    return format_datetime(minutes, fmt)


def labels(codes: np.ndarray, values: tuple) -> pa.Array:
    """Code labels by internal code; a negative code is a blank cell."""
    blank = codes < 0
    return pa.array(list(values)).take(pa.array(np.where(blank, 0, codes), mask=blank))


# Identity columns a police extract may carry (pipelines.synth.agencies fills them).
IDENTITY_TEXT = ("forename", "surname", "postcode", "la_child_ref")
# Letters with no decomposition to a base letter, as a system without them stores them.
ASCII_FOR = str.maketrans({"Ł": "L", "ł": "l", "ø": "o", "Ø": "O", "ß": "ss"})


def encodable(values: np.ndarray, encoding: str) -> np.ndarray:
    """Text a source's encoding can hold: a name with letters it lacks (Ł in Windows-1252)
    is stored without their accents, as such a system would."""
    if encoding == "utf-8":
        return values
    out = values.copy()
    for value in set(v for v in values.tolist() if v is not None):
        try:
            value.encode(encoding)
        except UnicodeEncodeError:
            plain = unicodedata.normalize("NFKD", value.translate(ASCII_FOR))
            plain = "".join(c for c in plain if not unicodedata.combining(c))
            out[values == value] = plain.encode(encoding, "replace").decode(encoding)
    return out


def police_columns(layout: PoliceLayout, rows: dict[str, np.ndarray]) -> dict[str, pa.Array]:
    """Every column of one file as text, keyed by field."""

    def column(field: str) -> pa.Array:
        # Every police layout declares how its references are written.
        if field == "episode_ref":
            assert layout.episode_ref is not None
            return layout.episode_ref(rows["episode_no"], rows["report_year"])
        if field == "person_ref":
            assert layout.person_ref is not None
            return layout.person_ref(rows["person_no"])
        if field in IDENTITY_TEXT:
            return pa.array(encodable(rows[field], layout.encoding), pa.string())
        if field == "address":
            house = pc.cast(pa.array(rows["person_no"] % 200 + 1), pa.string())
            return _join(house, f" Testaddress Road, {TOWN[layout.source]}")
        if field == "circumstances":
            return labels(rows["circumstances"], CIRCUMSTANCES)
        if field == "date_of_birth":
            return format_date(rows["date_of_birth"], layout.date_format)
        if field in DATETIME_FIELDS:
            return format_datetime(rows[field], layout.datetime_format)
        return labels(rows[field], layout.labels[field])

    fields = [field for field, _ in layout.columns]
    if len(rows["episode_no"]) < PARALLEL_FROM_ROWS:
        out = {field: column(field) for field in fields}
    else:
        # pyarrow kernels release the GIL: format columns side by side (each column's text is
        # independent of the others, so the output stays deterministic).
        with ThreadPoolExecutor(max_workers=min(4, os.cpu_count() or 1)) as pool:
            out = dict(zip(fields, pool.map(column, fields), strict=True))
    if layout.source == "northshire":
        # Northshire typed "ABSENT" for the lowest grade through 2017 on some reports.
        old = rows["old_nar_label"] & (rows["report_year"] == 2017)
        for field in ("initial_risk_grade", "risk_grade"):
            use = pa.array(old & (rows[field] == 0))
            out[field] = pc.if_else(use, NORTHSHIRE_OLD_NAR_LABEL, out[field])
    return out


def xlsx_cells(
    layout: PoliceLayout,
    rows: dict[str, np.ndarray],
    text: dict[str, pa.Array],
    rng: np.random.Generator,
) -> dict[str, np.ndarray]:
    """Cell values for an XLSX sheet: date cells as Excel serial numbers, about 5% of them
    as typed text instead, flags as numbers, everything else as text."""
    cells: dict[str, np.ndarray] = {}
    for field, _ in layout.columns:
        if field in DATETIME_FIELDS or field == "date_of_birth":
            minutes = rows[field] * (DAY if field == "date_of_birth" else 1)
            col = (minutes / DAY + EXCEL_DAY_OFFSET).astype(object)
            typed = rng.random(len(minutes)) < EASTMOOR_TEXT_DATE_SHARE
            if field != "extracted_at":
                col[typed] = np.asarray(text[field].to_numpy(zero_copy_only=False))[typed]
            col[minutes >= NEVER] = None
        elif field in ("looked_after", "cse_flag"):
            col = rows[field].astype(object)
        else:
            col = np.asarray(text[field].to_numpy(zero_copy_only=False), dtype=object)
        cells[field] = col
    return cells


def write_csv(layout: PoliceLayout | None, path: Path, names: list[str], columns: list) -> None:
    """One CSV the way the source sends it. SSDA903 (layout None) is plain UTF-8 with commas."""
    table = pa.table(columns, names=names)
    delimiter = layout.delimiter if layout else ","
    options = pacsv.WriteOptions(
        delimiter=delimiter,
        eol=layout.eol if layout else "\n",
        quoting_style=layout.quoting if layout else "none",
        quoting_header="none",
    )
    if layout is None or (layout.encoding == "utf-8" and not layout.bom):
        pacsv.write_csv(table, str(path), options)
        return
    buffer = io.BytesIO()
    pacsv.write_csv(table, buffer, options)
    data = buffer.getvalue()
    if layout.encoding != "utf-8":
        data = data.decode("utf-8").encode(layout.encoding)
    path.write_bytes((b"\xef\xbb\xbf" if layout.bom else b"") + data)


def write_xlsx(
    layout: PoliceLayout, path: Path, cells: dict[str, np.ndarray], extracted: str
) -> None:
    n = len(next(iter(cells.values())))
    if n > XLSX_MAX_ROWS:
        raise UsageError(f"{path.name}: {n} rows do not fit one Excel sheet; use a smaller scale")
    workbook = xlsxwriter.Workbook(
        str(path),
        {"strings_to_numbers": False, "strings_to_formulas": False, "strings_to_urls": False},
    )
    workbook.set_properties(
        {"title": "Missing Episodes", "author": "Eastmoor Constabulary", "created": XLSX_CREATED}
    )
    sheet = workbook.add_worksheet(layout.sheet)
    bold = workbook.add_format({"bold": True})
    stamp = workbook.add_format({"num_format": "dd/mm/yyyy hh:mm"})
    day = workbook.add_format({"num_format": "dd/mm/yyyy"})
    sheet.write_string(0, 0, "Eastmoor Constabulary - Missing Episodes (fictional data)", bold)
    sheet.write_string(1, 0, f"Report run {extracted}")
    sheet.write_row(2, 0, [name for _, name in layout.columns], bold)
    for j, (field, _) in enumerate(layout.columns):
        fmt = day if field == "date_of_birth" else stamp if field in DATETIME_FIELDS else None
        sheet.write_column(3, j, cells[field].tolist(), fmt)
    workbook.close()
