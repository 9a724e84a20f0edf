"""Ingest: reading every supported file shape, parsing dates, and accounting for every row.

Fixtures are tiny files written in code with synthetic values; the real readers, checks and
working store run on them.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
from datetime import datetime
from pathlib import Path

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import xlsxwriter

from pipelines import settings
from pipelines.ingest import pipeline as ingest_module
from pipelines.ingest import writer as storing_module
from pipelines.ingest.batches import repeated_refs
from pipelines.ingest.ledger import to_ingest
from pipelines.ingest.parse import code_lookup, parse_codes, parse_datetime_columns, parse_datetimes
from pipelines.ingest.pipeline import FileResult, collection_year_end, ingest_files
from pipelines.ingest.pseudonym import ChildIds, child_id, child_ids, keyed_hashes, load_key
from pipelines.ingest.readers import RejectedFile, read_csv_text, read_text
from pipelines.ingest.working_store import open_work
from pipelines.sources.declarations import Source, load_source
from pipelines.sources.discovery import discover
from pipelines.sources.record import FIELDS, IDENTITY_ONLY

KEY = b"0123456789abcdef" * 4
HEADER = "episode_ref,person_ref,date_of_birth,reported_at"
STANDARD = "layout: standard\n"


# --- helpers -----------------------------------------------------------------------------


def declare(folder: Path, name: str, layout: str = STANDARD) -> Source:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.yaml"
    path.write_text(f"name: {name}\n{layout}", encoding="utf-8")
    return load_source(path)


def records(frame: pd.DataFrame) -> list[dict]:
    """Rows as plain dicts, every blank as None."""
    return frame.astype(object).where(frame.notna(), None).to_dict("records")


def full(**values: str | None) -> dict:
    """A standard-record row: the given fields, every other one blank."""
    return dict.fromkeys(FIELDS) | values


def ingest(con: duckdb.DuckDBPyConnection, files: list, run_id: str) -> list[FileResult]:
    """Each file's ledger row (the suites that checked them go to the report)."""
    results, _suites = ingest_files(con, files, KEY, run_id)
    return results


class Drop:
    """A raw folder, its declarations and a working store, as the nightly job sees them."""

    def __init__(self, base: Path) -> None:
        self.raw, self.decl = base / "raw", base / "sources"
        self.sources: dict[str, Source] = {}
        self.results: dict[str, FileResult] = {}
        self.con = open_work(base / "work.duckdb")

    def declare(self, name: str, layout: str = STANDARD) -> None:
        self.sources[name] = declare(self.decl, name, layout)
        (self.raw / name).mkdir(parents=True, exist_ok=True)

    def write(self, rel: str, data: str | bytes) -> Path:
        path = self.raw / rel
        if isinstance(data, str):
            data = data.encode("utf-8")
        path.write_bytes(data)
        return path

    def run(self, run_id: str = "r1") -> dict[str, FileResult]:
        files, _ = discover(self.raw, self.sources)
        return {r.file: r for r in ingest(self.con, to_ingest(self.con, files), run_id)}

    def rows(self, sql: str) -> list[tuple]:
        return self.con.execute(sql).fetchall()


@pytest.fixture
def drop(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Drop:
    # Tiny files quarantine large shares on purpose: the publish gate is tested elsewhere.
    monkeypatch.setattr(settings, "MAX_QUARANTINE_SHARE", 1.0)
    return Drop(tmp_path)


# --- CSV ---------------------------------------------------------------------------------

ROW = full(
    episode_ref="E1", person_ref="P1", date_of_birth="2010-01-01", reported_at="2024-05-01 10:00"
)
CSV_CASES = [
    pytest.param(
        (HEADER + ",forename\nE1,P1,2010-01-01,2024-05-01 10:00,Zoë\n").encode("utf-8"),
        [ROW],
        id="utf8",
    ),
    pytest.param(
        b"\xef\xbb\xbf" + (HEADER + ",forename\nE1,P1,2010-01-01,2024-05-01 10:00,Zoë\n").encode(),
        [ROW],
        id="utf8_with_bom",
    ),
    pytest.param(
        (HEADER + ",forename\nE’1,P£1,2010-01-01,2024-05-01 10:00,O’Neill £5\n").encode("cp1252"),
        [ROW | {"episode_ref": "E’1", "person_ref": "P£1"}],
        id="windows_1252",
    ),
    pytest.param(
        b"episode_ref;person_ref;date_of_birth;reported_at\nE1;P1;2010-01-01;2024-05-01 10:00\n",
        [ROW],
        id="semicolon",
    ),
    pytest.param(
        b"episode_ref|person_ref|date_of_birth|reported_at\nE1|P1|2010-01-01|2024-05-01 10:00\n",
        [ROW],
        id="pipe",
    ),
    pytest.param(
        HEADER.replace(",", "\t").encode() + b"\nE1\tP1\t2010-01-01\t2024-05-01 10:00\n",
        [ROW],
        id="tab",
    ),
    pytest.param(
        (HEADER + ",address\r\nE1,P1,2010-01-01,2024-05-01 10:00,1 Lane\r\n").encode(),
        [ROW],
        id="crlf_line_ends",
    ),
    pytest.param(
        (
            HEADER + ",address\n"
            '"E1, part 2",P1,2010-01-01,2024-05-01 10:00,"1 High St, Town\nSecond line"\n'
            "E2,P2,2011-02-02,2024-06-01 11:00,\n"
        ).encode(),
        [
            ROW | {"episode_ref": "E1, part 2"},
            full(
                episode_ref="E2",
                person_ref="P2",
                date_of_birth="2011-02-02",
                reported_at="2024-06-01 11:00",
            ),
        ],
        id="quoted_comma_and_line_break",
    ),
    pytest.param(
        b"Reported_At,FORENAME,Date_Of_Birth,EPISODE_REF,Sex,Person_Ref\n"
        b"2024-05-01 10:00,Ann,2010-01-01,E1,f,P1\n",
        [ROW | {"sex": "f"}],
        id="header_any_case_any_order",
    ),
    pytest.param(
        (HEADER + ",sex,returned_at,category\nE1,P1,2010-01-01,2024-05-01 10:00,, ,\n").encode(),
        [ROW],
        id="blank_cells_are_none",
    ),
    pytest.param(
        (HEADER + ",risk_grade\n E1 ,P1,2010-01-01,2024-05-01 10:00, High \n").encode(),
        [ROW | {"risk_grade": "High"}],
        id="values_trimmed",
    ),
]


@pytest.mark.parametrize(("data", "expected"), CSV_CASES)
def test_read_csv(tmp_path: Path, data: bytes, expected: list[dict]) -> None:
    path = tmp_path / "extract.csv"
    path.write_bytes(data)
    frame = read_text(path, declare(tmp_path, "bay"))
    # Address: dropped; forename kept for the identity store (split off in ingest.identities).
    header = data.split(b"\n", 1)[0].decode().lower().split(",")
    identity = [f for f in IDENTITY_ONLY if f in header]
    assert list(frame.columns) == list(FIELDS) + identity
    assert frame.index.name == "row_number"
    assert records(frame.drop(columns=identity)) == expected


def test_a_csv_column_not_kept_is_never_made_into_values(tmp_path: Path) -> None:
    path = tmp_path / "extract.csv"
    path.write_text("Episode_Ref,address,person_ref\nE1,1 High St,P1\nE2,2 Low Rd,P2\n")
    table = read_csv_text(path, keep={"episode_ref", "person_ref", "reported_at"})
    assert table.to_pydict() == {"Episode_Ref": ["E1", "E2"], "person_ref": ["P1", "P2"]}
    assert read_csv_text(path).column_names == ["Episode_Ref", "address", "person_ref"]


# --- XLSX and Parquet --------------------------------------------------------------------


def workbook(path: Path, sheet: str, title: bool, dates: str) -> None:
    """One episode on `sheet` (after a decoy sheet when named), dates written as `dates`."""
    book = xlsxwriter.Workbook(path)
    if sheet != "Sheet1":
        book.add_worksheet("Notes").write(0, 0, "episode_ref")
    ws = book.add_worksheet(sheet)
    top = 0
    if title:
        ws.write(0, 0, "Missing episodes: weekly export")
        ws.write(1, 0, "Produced by the records team")
        top = 3
    ws.write_row(top, 0, ["Episode_Ref", "PERSON_REF", "date_of_birth", "reported_at", "forename"])
    ws.write_row(top + 1, 0, ["E1", 101])
    born, reported = datetime(2010, 3, 4), datetime(2024, 5, 6, 7, 8)
    if dates == "cells":
        fmt = book.add_format({"num_format": "dd/mm/yyyy hh:mm"})
        ws.write_datetime(top + 1, 2, born, fmt)
        ws.write_datetime(top + 1, 3, reported, fmt)
    elif dates == "serials":
        ws.write_number(top + 1, 2, 40241)
        ws.write_number(top + 1, 3, 45418 + (7 * 60 + 8) / 1440)
    else:
        ws.write_string(top + 1, 2, "04/03/2010")
        ws.write_string(top + 1, 3, "06/05/2024 07:08")
    ws.write(top + 1, 4, "Ann")
    ws.write_row(top + 3, 0, ["E2", "P2", "05/06/2011", "2024-06-01T09:00"])  # after a blank row
    book.close()


AS_CELLS = ("2010-03-04 00:00:00", "2024-05-06 07:08:00")
XLSX_CASES = [
    pytest.param("Sheet1", False, "cells", AS_CELLS, id="first_sheet_line_1_date_cells"),
    pytest.param("Episodes", True, "cells", AS_CELLS, id="named_sheet_below_title_date_cells"),
    pytest.param("Episodes", False, "serials", AS_CELLS, id="named_sheet_serial_numbers"),
    pytest.param(
        "Sheet1", True, "text", ("04/03/2010", "06/05/2024 07:08"), id="below_title_ddmmyyyy_text"
    ),
]


@pytest.mark.parametrize(("sheet", "title", "dates", "text"), XLSX_CASES)
def test_read_xlsx(tmp_path: Path, sheet: str, title: bool, dates: str, text: tuple) -> None:
    path = tmp_path / "extract.xlsx"
    workbook(path, sheet, title, dates)
    layout = STANDARD
    if sheet != "Sheet1":
        columns = ", ".join(f"{f}: {f}" for f in FIELDS[:4])
        layout = f"layout:\n  sheet: {sheet}\n  columns: {{{columns}}}\n"
    frame = read_text(path, declare(tmp_path, "cove", layout))
    # The standard layout keeps forename for the identity store; the mapping does not map it.
    if sheet == "Sheet1":
        assert records(frame.pop("forename").to_frame()) == [
            {"forename": "Ann"},
            {"forename": None},
        ]
    assert records(frame) == [
        full(episode_ref="E1", person_ref="101", date_of_birth=text[0], reported_at=text[1]),
        full(
            episode_ref="E2",
            person_ref="P2",
            date_of_birth="05/06/2011",
            reported_at="2024-06-01T09:00",
        ),
    ]
    assert list(parse_datetimes(frame["date_of_birth"])) == [
        pd.Timestamp("2010-03-04"),
        pd.Timestamp("2011-06-05"),
    ]
    assert list(parse_datetimes(frame["reported_at"])) == [
        pd.Timestamp("2024-05-06 07:08"),
        pd.Timestamp("2024-06-01 09:00"),
    ]


def test_read_xlsx_keeps_na_text_and_non_dates_as_text(tmp_path: Path) -> None:
    path = tmp_path / "extract.xlsx"
    book = xlsxwriter.Workbook(path)
    ws = book.add_worksheet()
    ws.write_row(0, 0, [*FIELDS[:4], "returned_at", "risk_grade"])
    ws.write_row(1, 0, ["E1", "P1", "20100304", "2024-05-01 10:00", "N/A", "NA"])
    book.close()
    assert records(read_text(path, declare(tmp_path, "cove"))) == [
        full(
            episode_ref="E1",
            person_ref="P1",
            date_of_birth="20100304",
            reported_at="2024-05-01 10:00",
            returned_at="N/A",
            risk_grade="NA",
        )
    ]


def test_read_parquet_timestamps_and_strings(tmp_path: Path) -> None:
    path = tmp_path / "extract.parquet"
    table = pa.table(
        {
            "Episode_Ref": ["E1", "E2"],
            "person_ref": pa.array([101, 102], pa.int64()),
            "date_of_birth": pa.array([datetime(2010, 3, 4), None], pa.timestamp("us")),
            "reported_at": ["2024-05-01T10:00", "01/06/2024 11:30"],
            "returned_at": pa.array(
                [datetime(2024, 7, 1, 6, 8, 9), None], pa.timestamp("ms", tz="Europe/London")
            ),
            "sex": ["F", None],
            "forename": ["Ann", "Bo"],
        }
    )
    pq.write_table(table, path)
    frame = read_text(path, declare(tmp_path, "bay"))
    assert list(frame.columns) == [*FIELDS, "forename"]
    assert records(frame[["episode_ref", "person_ref", "reported_at", "sex"]]) == [
        {"episode_ref": "E1", "person_ref": "101", "reported_at": "2024-05-01T10:00", "sex": "F"},
        {"episode_ref": "E2", "person_ref": "102", "reported_at": "01/06/2024 11:30", "sex": None},
    ]
    parsed = {f: list(parse_datetimes(frame[f])) for f in ("date_of_birth", "returned_at")}
    assert parsed["date_of_birth"][0] == pd.Timestamp("2010-03-04")
    # A zoned timestamp is kept as the UK clock time (06:08 UTC is 07:08 BST).
    assert parsed["returned_at"][0] == pd.Timestamp("2024-07-01 07:08:09")
    assert pd.isna(parsed["date_of_birth"][1]) and pd.isna(parsed["returned_at"][1])


# --- dates -------------------------------------------------------------------------------

DATE_CASES = [
    pytest.param("2024-05-01T10:15:30", "2024-05-01 10:15:30", id="iso_t_seconds"),
    pytest.param("2024-05-01 10:15:30", "2024-05-01 10:15:30", id="iso_space_seconds"),
    pytest.param("2024-05-01T10:15", "2024-05-01 10:15", id="iso_t_minutes"),
    pytest.param("2024-05-01 10:15", "2024-05-01 10:15", id="iso_space_minutes"),
    pytest.param("2024-05-01", "2024-05-01", id="iso_date_only"),
    pytest.param("05/06/2019", "2019-06-05", id="ddmmyyyy_is_day_first"),
    pytest.param("05/06/2019 14:30", "2019-06-05 14:30", id="ddmmyyyy_minutes"),
    pytest.param("05/06/2019 14:30:15", "2019-06-05 14:30:15", id="ddmmyyyy_seconds"),
    pytest.param("29/02/2024", "2024-02-29", id="leap_day"),
    pytest.param("12/13/2020", None, id="month_first_never"),
    pytest.param("31/02/2021", None, id="no_such_day"),
    pytest.param("2021-02-31", None, id="iso_no_such_day"),
    pytest.param("unknown", None, id="word"),
    pytest.param("5/6/2019", None, id="single_digit_day"),
    pytest.param("ab/cd/efgh", None, id="slashes_without_digits"),
    pytest.param("2019/06/05", None, id="year_first_with_slashes"),
    pytest.param("2024-05-01 25:00", None, id="no_such_hour"),
    pytest.param("2024-05-01 24:00", None, id="midnight_is_00_not_24"),
    pytest.param("2024-05-01 10:60", None, id="no_such_minute"),
    pytest.param("2024-05-01 10:15:30.25", "2024-05-01 10:15:30.25", id="fraction_of_second"),
    pytest.param("0999-05-01", "0999-05-01", id="early_year_is_a_date"),
    pytest.param(None, None, id="blank"),
    # With a zone (Z or an offset): UK clock time, across the clock changes.
    pytest.param("2024-05-01T20:00:00Z", "2024-05-01 21:00:00", id="z_in_summer"),
    pytest.param("2024-01-15T20:00:00Z", "2024-01-15 20:00:00", id="z_in_winter"),
    pytest.param("2024-05-01T20:00:00+01:00", "2024-05-01 20:00:00", id="bst_offset"),
    pytest.param("2024-05-01T20:00+0100", "2024-05-01 20:00:00", id="offset_without_colon"),
    pytest.param("2024-05-01 20:00:00-04:00", "2024-05-02 01:00:00", id="negative_offset"),
    pytest.param("2024-05-01T20:00:00.25+01", "2024-05-01 20:00:00.25", id="offset_hours_only"),
    pytest.param("2024-10-27T00:30:00Z", "2024-10-27 01:30:00", id="before_clocks_go_back"),
    pytest.param("2024-10-27T01:30:00Z", "2024-10-27 01:30:00", id="after_clocks_go_back"),
    pytest.param("2024-03-31T01:30:00Z", "2024-03-31 02:30:00", id="after_clocks_go_forward"),
    pytest.param("2024-05-01Z", None, id="date_with_zone_only"),
    pytest.param("2024-05-01T20:00:00+24:00", None, id="no_such_offset"),
    pytest.param("2024-02-30T10:00:00Z", None, id="zoned_no_such_day"),
]


CODE_CASES = [
    pytest.param(" m ", "M", id="trimmed_and_upper_cased"),
    pytest.param("f", "F", id="lower_case"),
    pytest.param("Female", "Female", id="unknown_kept_as_written"),
    pytest.param(None, None, id="blank_stays_blank"),
]


@pytest.mark.parametrize(("text", "expected"), CODE_CASES)
def test_parse_codes(text: str | None, expected: str | None) -> None:
    standard = Source(name="bay", kind="standard", file=Path("bay.yaml"), fingerprint="")
    values = pd.Series(["M", text, "f", None], index=[5, 6, 7, 8], dtype="str")
    coded = parse_codes(values, code_lookup(standard, "sex"))
    assert coded.index.tolist() == [5, 6, 7, 8]
    assert [None if pd.isna(v) else v for v in coded] == ["M", expected, "F", None]


def test_parsed_dates_stay_on_their_rows() -> None:
    # Enough rows for DuckDB to parse in parallel on every core (300,000 always came back
    # in order; 600,000 did not when the row order was left to DuckDB).
    days = pd.date_range("1990-01-01", periods=600_000, freq="h")
    text = pd.Series(days.strftime("%d/%m/%Y %H:%M"), index=range(7, 600_007), dtype="str")
    parsed = parse_datetime_columns(pd.DataFrame({"reported_at": text, "returned_at": text}))
    assert parsed.index.equals(text.index)
    assert (parsed["returned_at"].to_numpy() == days.to_numpy()).all()


@pytest.mark.parametrize(("text", "expected"), DATE_CASES)
def test_parse_datetimes(text: str | None, expected: str | None) -> None:
    parsed = parse_datetimes(pd.Series([text], dtype="str"))[0]
    if expected is None:
        assert pd.isna(parsed)
    else:
        assert parsed == pd.Timestamp(expected)


# --- rejected files ----------------------------------------------------------------------

SSDA903 = "CHILD,DOB,MISSING,MIS_START,MIS_END\n{child},01/01/2010,M,01/05/2024,02/05/2024\n"
GOOD = HEADER + "\nE1,P1,2010-01-01,2024-05-01 10:00\n"


@pytest.fixture(scope="module")
def rejections(tmp_path_factory: pytest.TempPathFactory) -> Drop:
    drop = Drop(tmp_path_factory.mktemp("rejections"))
    drop.declare("bay")
    drop.declare("council", "layout: ssda903_missing\n")
    for rel, data in {
        "bay/a_empty.csv": "",
        "bay/b_good.csv": GOOD,
        "bay/c_no_reported_at.csv": "episode_ref,person_ref,date_of_birth\nE1,P1,2010-01-01\n",
        "bay/d_notes.json": "{}",
        "bay/e_corrupt.xlsx": b"PK\x03\x04 not a workbook",
        "bay/f_one_column.csv": "episode_ref\nE1\n",
        "bay/g_header_only.csv": HEADER + "\n",
        "council/missing.csv": SSDA903.format(child="C1"),
        "council/missing_2024_25.csv": SSDA903.format(child="C2"),
        "council/missing_2024-25.csv": SSDA903.format(child="C3"),
        "council/missing_2024_26.csv": SSDA903.format(child="C4"),
    }.items():
        drop.write(rel, data)
    drop.results = drop.run()
    return drop


NO_YEAR = "the file name has no collection year (name it like missing_2024_25.csv)"
REJECTED = [
    pytest.param("bay/a_empty.csv", "file is empty", id="empty_file"),
    pytest.param(
        "bay/c_no_reported_at.csv",
        "required column(s) absent: reported_at",
        id="required_column_absent",
    ),
    pytest.param(
        "bay/d_notes.json",
        "unknown file type '.json' (use .csv, .xlsx or .parquet)",
        id="unknown_extension",
    ),
    pytest.param(
        "bay/e_corrupt.xlsx",
        "not a readable XLSX workbook: Cannot detect file format",
        id="corrupt_xlsx",
    ),
    pytest.param(
        "bay/f_one_column.csv",
        "no column delimiter found in the header (use , ; | or tab)",
        id="no_delimiter",
    ),
    pytest.param("council/missing.csv", NO_YEAR, id="ssda903_without_year"),
    pytest.param("council/missing_2024_26.csv", NO_YEAR, id="ssda903_not_a_collection_year"),
]


@pytest.mark.parametrize(("file", "message"), REJECTED)
def test_rejected_file(rejections: Drop, file: str, message: str) -> None:
    result = rejections.results[file]
    assert (result.status, result.message) == ("rejected", message)
    assert (result.rows_read, result.rows_loaded, result.rows_quarantined) == (0, 0, 0)
    assert rejections.rows(f"select count(*) from episode_versions where file = '{file}'") == [(0,)]


def test_other_files_still_load(rejections: Drop) -> None:
    loaded = {f: (r.rows_read, r.rows_loaded) for f, r in rejections.results.items()}
    assert {f: v for f, v in loaded.items() if rejections.results[f].status == "loaded"} == {
        "bay/b_good.csv": (1, 1),
        "bay/g_header_only.csv": (0, 0),
        "council/missing_2024-25.csv": (1, 1),
        "council/missing_2024_25.csv": (1, 1),
    }
    assert len(rejections.rows("select * from ingest_files")) == 11


@pytest.mark.parametrize(
    "file",
    ["council/missing_2024_25.csv", "council/missing_2024-25.csv"],
    ids=["underscore", "dash"],
)
def test_ssda903_collection_year_from_file_name(rejections: Drop, file: str) -> None:
    # A return describes the year to 31 March 2025: its rows are extracted then.
    assert rejections.rows(f"select extracted_at from episode_versions where file = '{file}'") == [
        (datetime(2025, 3, 31, 23, 59),)
    ]


@pytest.mark.parametrize(
    ("name", "year_end"),
    [
        ("riverton_missing_2024_25.csv", 2025),
        ("riverton_missing_2024-25.csv", 2025),
        ("2019_20_missing.xlsx", 2020),
        ("missing_2099_00.csv", 2100),
    ],
)
def test_collection_year_end(name: str, year_end: int) -> None:
    assert collection_year_end(Path(name)) == year_end


@pytest.mark.parametrize("name", ["missing_2024.csv", "missing_2024_2025.csv", "m_2024_23.csv"])
def test_collection_year_absent(name: str) -> None:
    with pytest.raises(RejectedFile, match="^the file name has no collection year"):
        collection_year_end(Path(name))


def test_missing_sheet_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "extract.xlsx"
    workbook(path, "Sheet1", False, "cells")
    columns = ", ".join(f"{f}: {f}" for f in FIELDS[:4])
    source = declare(tmp_path, "cove", f"layout:\n  sheet: Episodes\n  columns: {{{columns}}}\n")
    with pytest.raises(RejectedFile) as raised:
        read_text(path, source)
    assert str(raised.value) == "no sheet named 'Episodes' (found: Sheet1)"


# --- every row accounted for -------------------------------------------------------------

NOT_A_DATE = "is not a date (use YYYY-MM-DD or dd/mm/yyyy, with or without HH:MM)"
DUPLICATE_E6 = "one_row_per_episode: episode_ref appears on more than one row of this file"
# (row, csv values after episode_ref: person, born, reported, last seen, returned, sex,
#  category, risk grade, forename), and the quarantine reasons or None where the row loads
ACCOUNTING = [
    (0, "P0,2010-01-01,2024-05-01 10:00,2024-05-01 09:00,2024-05-02 10:00,F,,,Ann", None),
    (1, ",2010-01-01,2024-05-01 10:00,,,F,,,Bob", "required: person_ref is blank"),
    (
        2,
        "P2,2010-01-01,2024-02-30 10:00,,,F,,,Cy",
        f"date_parses: reported_at {NOT_A_DATE}",
    ),
    (
        3,
        "P3,2010-01-01,2024-05-01 10:00,,,Q,,,Di",
        "code_in_list: sex is not one of the declared codes",
    ),
    (
        4,
        "P4,2010-01-01,2024-05-01 10:00,2024-05-01 09:00,2024-05-01 08:00,F,,,Ed",
        "returned_after_last_seen: returned_at is before last_seen_at, which is impossible",
    ),
    (
        5,
        "P5,2025-01-01,2024-05-01 10:00,,,F,,,Fi",
        "born_before_reported: date_of_birth is not before reported_at",
    ),
    (6, "P6,2010-01-01,2024-05-01 10:00,,,F,,,Gus", DUPLICATE_E6),
    (7, "P6,2010-01-01,2024-05-02 10:00,,,F,,,Gus", DUPLICATE_E6),
    (8, "ADULT8,2000-01-01,2024-05-01 10:00,,,Q,,,Hal", None),  # out of scope, bad code or not
    (9, "P9,2010-01-01,2024-05-01 10:00,2024-05-01 10:30,2024-05-01 12:00,F,,,Io", None),
    (10, "P10,2010-01-01,2024-05-01 10:00,2024-05-01 08:00,2024-05-01 09:00,F,,,Jo", None),
    (
        11,
        ",2010-01-01,bad,,,Z,,,Kay",
        "code_in_list: sex is not one of the declared codes; "
        f"date_parses: reported_at {NOT_A_DATE}; required: person_ref is blank",
    ),
    (12, "ADULT12,2006-05-01,2024-05-01 10:00,,,F,,,Lu", None),  # 18 on the day reported
    (13, "P13,2006-05-02,2024-05-01 10:00,,,F,,,Mo", None),  # 18 the day after
    (14, "P14,,2024-05-01 10:00,,,F,,,Ned", "required: date_of_birth is blank"),
    (15, "P15,31/12/2012,01/05/2024 10:00,,,f,Missing,No Apparent Risk,Ola", None),
]
REF = {6: "E6", 7: "E6"}


@pytest.fixture(scope="module")
def accounted(tmp_path_factory: pytest.TempPathFactory) -> Drop:
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(settings, "MAX_QUARANTINE_SHARE", 1.0)
        drop = Drop(tmp_path_factory.mktemp("accounting"))
        drop.declare("bay")
        lines = [
            "episode_ref,person_ref,date_of_birth,reported_at,last_seen_at,returned_at,sex,"
            "category,risk_grade,forename"
        ]
        lines += [f"{REF.get(row, f'E{row}')},{values}" for row, values, _ in ACCOUNTING]
        drop.write("bay/episodes.csv", "\n".join(lines) + "\n")
        drop.results = drop.run()
    return drop


def test_every_row_is_loaded_quarantined_or_out_of_scope(accounted: Drop) -> None:
    result = accounted.results["bay/episodes.csv"]
    assert (result.status, result.message) == ("loaded", "")
    assert (
        result.rows_read,
        result.rows_loaded,
        result.rows_quarantined,
        result.rows_out_of_scope,
    ) == (16, 5, 9, 2)
    assert accounted.rows(
        "select rows_read, rows_loaded, rows_quarantined, rows_out_of_scope from ingest_files"
    ) == [(16, 5, 9, 2)]
    assert accounted.rows("select row_number from episode_versions order by 1") == [
        (0,),
        (9,),
        (10,),
        (13,),
        (15,),
    ]


@pytest.mark.parametrize(
    ("row", "reasons"),
    [pytest.param(row, reasons, id=f"row_{row}") for row, _, reasons in ACCOUNTING if reasons],
)
def test_quarantine_reasons(accounted: Drop, row: int, reasons: str) -> None:
    assert accounted.rows(
        f"select source, file, reasons from quarantine where row_number = {row}"
    ) == [("bay", "bay/episodes.csv", reasons)]


def test_quarantine_keeps_the_mapped_raw_row(accounted: Drop) -> None:
    [(raw,)] = accounted.rows("select raw_values from quarantine where row_number = 3")
    assert json.loads(raw) == full(
        episode_ref="E3",
        person_ref="P3",
        date_of_birth="2010-01-01",
        reported_at="2024-05-01 10:00",
        sex="Q",
    )


def test_warnings_are_findings_and_the_row_loads(accounted: Drop) -> None:
    assert accounted.rows(
        "select rule, severity, source, file, row_number, episode_ref, message from findings "
        "order by row_number"
    ) == [
        (
            "last_seen_before_reported",
            "warning",
            "bay",
            "bay/episodes.csv",
            9,
            "E9",
            "last_seen_at is after reported_at",
        ),
        (
            "reported_before_return",
            "warning",
            "bay",
            "bay/episodes.csv",
            10,
            "E10",
            "returned_at is before reported_at: the report was made after the return",
        ),
    ]


def test_loaded_values_are_typed_and_coded(accounted: Drop) -> None:
    assert accounted.rows(
        "select episode_ref, date_of_birth, reported_at, last_seen_at, returned_at, sex, "
        "recorded_category, risk_grade from episode_versions where row_number in (0, 15) "
        "order by row_number"
    ) == [
        (
            "E0",
            datetime(2010, 1, 1).date(),
            datetime(2024, 5, 1, 10),
            datetime(2024, 5, 1, 9),
            datetime(2024, 5, 2, 10),
            "F",
            None,
            None,
        ),
        (
            "E15",
            datetime(2012, 12, 31).date(),
            datetime(2024, 5, 1, 10),
            None,
            None,
            "F",
            "missing",
            "no_apparent_risk",
        ),
    ]


def test_adults_and_unmapped_columns_are_never_stored(accounted: Drop) -> None:
    stored = []
    for table in ("episode_versions", "quarantine", "findings", "person_keys", "ingest_files"):
        stored += [str(v) for row in accounted.rows(f"select * from {table}") for v in row]
    text = " ".join(stored)
    for private in ("ADULT8", "ADULT12", "2000-01-01", "2006-05-01", "E8", "E12", "Hal", "Kay"):
        assert private not in text


# --- duplicates, changes, declarations ---------------------------------------------------


@pytest.mark.parametrize("calls", ["within_one_call", "across_calls"])
def test_same_bytes_under_a_second_name_is_a_duplicate(drop: Drop, calls: str) -> None:
    drop.declare("bay")
    drop.write("bay/a.csv", GOOD)
    if calls == "across_calls":
        assert drop.run("r1")["bay/a.csv"].status == "loaded"
    drop.write("bay/b.csv", GOOD)
    second = drop.run("r2")["bay/b.csv"]
    assert (second.status, second.message, second.rows_read, second.rows_loaded) == (
        "duplicate",
        "same bytes as bay/a.csv; skipped",
        0,
        0,
    )
    assert drop.rows("select file, episode_ref from episode_versions") == [("bay/a.csv", "E1")]
    assert drop.rows("select file, status from ingest_files order by file") == [
        ("bay/a.csv", "loaded"),
        ("bay/b.csv", "duplicate"),
    ]


def test_a_copy_loads_when_the_file_it_copied_changes(drop: Drop) -> None:
    drop.declare("bay")
    path = drop.write("bay/a.csv", GOOD)
    drop.write("bay/b.csv", GOOD)
    assert drop.run("r1")["bay/b.csv"].status == "duplicate"
    path.write_text(GOOD.replace("E1", "E7"))
    os.utime(path, (path.stat().st_atime + 60, path.stat().st_mtime + 60))
    # b.csv's bytes are no longer loaded under a.csv: it is read again, and loads.
    assert {rel: r.status for rel, r in drop.run("r2").items()} == {
        "bay/a.csv": "loaded",
        "bay/b.csv": "loaded",
    }
    assert drop.rows("select file, episode_ref from episode_versions order by all") == [
        ("bay/a.csv", "E7"),
        ("bay/b.csv", "E1"),
    ]
    assert drop.rows("select file, status, run_id from ingest_files order by file") == [
        ("bay/a.csv", "loaded", "r2"),
        ("bay/b.csv", "loaded", "r2"),
    ]


def test_a_file_already_ingested_is_not_read_again(
    drop: Drop, monkeypatch: pytest.MonkeyPatch
) -> None:
    drop.declare("bay")
    drop.write("bay/a.csv", GOOD)
    drop.write("bay/b.csv", "")  # rejected files are not retried either, until they change
    drop.run()

    def fail(*args):
        raise AssertionError("read again")

    monkeypatch.setattr(ingest_module, "read_text_file", fail)
    assert to_ingest(drop.con, discover(drop.raw, drop.sources)[0]) == []
    assert drop.run("r2") == {}


def test_a_changed_file_replaces_its_old_versions(drop: Drop) -> None:
    drop.declare("bay")
    path = drop.write("bay/a.csv", HEADER + "\nE1,P1,2010-01-01,2024-05-01 10:00\nE2,,x,y\n")
    drop.run()
    assert drop.rows("select count(*) from quarantine") == [(1,)]
    path.write_text(GOOD.replace("E1", "E7") + "E8,P1,2010-01-01,2024-06-01 10:00\n")
    os.utime(path, (path.stat().st_atime + 60, path.stat().st_mtime + 60))
    assert [f.rel for f in to_ingest(drop.con, discover(drop.raw, drop.sources)[0])] == [
        "bay/a.csv"
    ]
    assert drop.run("r2")["bay/a.csv"].rows_loaded == 2
    assert drop.rows("select episode_ref from episode_versions order by 1") == [("E7",), ("E8",)]
    assert drop.rows("select count(*) from quarantine") == [(0,)]
    assert drop.rows("select file, rows_read, run_id from ingest_files") == [("bay/a.csv", 2, "r2")]


def test_a_changed_declaration_ingests_its_source_again(drop: Drop) -> None:
    columns = ", ".join(f"{f}: {f.upper()}" for f in (*FIELDS[:4], "sex", "missing_from"))
    layout = f"layout:\n  columns: {{{columns}}}\n  codes:\n    sex: {{MALE: M}}\n"
    homes = "    missing_from: {CHILDREN’S HOME: residential, HOME: home}\n"
    drop.declare("shire", layout + homes)
    drop.declare("bay")
    drop.write("bay/a.csv", GOOD)
    extract = (
        "EPISODE_REF;PERSON_REF;DATE_OF_BIRTH;REPORTED_AT;SEX;MISSING_FROM;FORENAME\n"
        "S1;P1;01/01/2010;01/05/2024 10:00;Male;Children’s Home;Zoë\n"
        "S2;P2;01/01/2011;02/05/2024 10:00;Female;home;Ann\n"
    )
    drop.write("shire/s.csv", extract.encode("cp1252"))
    first = drop.run()
    assert (first["shire/s.csv"].rows_loaded, first["shire/s.csv"].rows_quarantined) == (1, 1)
    assert drop.rows("select reasons from quarantine") == [
        ("code_in_list: sex is not one of the declared codes",)
    ]

    drop.declare("shire", layout.replace("{MALE: M}", "{MALE: M, FEMALE: F}") + homes)
    pending = to_ingest(drop.con, discover(drop.raw, drop.sources)[0])
    assert [f.rel for f in pending] == ["shire/s.csv"]
    again = ingest(drop.con, pending, "r2")
    assert [(r.file, r.rows_loaded, r.rows_quarantined) for r in again] == [("shire/s.csv", 2, 0)]
    assert drop.rows("select count(*) from quarantine") == [(0,)]
    assert drop.rows(
        "select file, episode_ref, sex, missing_from from episode_versions order by 1, 2"
    ) == [
        ("bay/a.csv", "E1", None, None),
        ("shire/s.csv", "S1", "M", "residential"),
        ("shire/s.csv", "S2", "F", "home"),
    ]
    assert drop.rows("select file, fingerprint, run_id from ingest_files order by 1") == [
        ("bay/a.csv", drop.sources["bay"].fingerprint, "r1"),
        ("shire/s.csv", drop.sources["shire"].fingerprint, "r2"),
    ]


# --- raw files are never touched or half-read --------------------------------------------


@pytest.mark.parametrize(
    ("name", "listed"),
    [
        ("a.csv", True),
        ("a.xlsx", True),
        ("a.json", True),  # listed, then rejected with a reason
        ("a.csv.part", False),
        ("a.CSV.PART", False),
        ("a.tmp", False),
        ("a.partial", False),
        ("a.crdownload", False),
        (".a.csv", False),
        (".~lock.a.xlsx#", False),
    ],
)
def test_discover_skips_files_still_being_written(tmp_path: Path, name: str, listed: bool):
    source = declare(tmp_path / "sources", "bay")
    (tmp_path / "raw" / "bay" / "sub").mkdir(parents=True)
    (tmp_path / "raw" / "bay" / name).write_text(GOOD)
    (tmp_path / "raw" / "bay" / "sub" / "x.csv").write_text(GOOD)  # folders below: ignored
    (tmp_path / "raw" / "undeclared").mkdir()
    files, undeclared = discover(tmp_path / "raw", {"bay": source})
    assert [f.rel for f in files] == ([f"bay/{name}"] if listed else [])
    assert undeclared == ["undeclared"]


def test_ingest_never_modifies_raw_files(drop: Drop) -> None:
    drop.declare("bay")
    drop.declare("council", "layout: ssda903_missing\n")
    drop.write("bay/a.csv", GOOD)
    drop.write("bay/b.csv", GOOD)
    drop.write("bay/c.csv", "")
    workbook(drop.write("bay/d.xlsx", b""), "Sheet1", True, "serials")
    drop.write("bay/e.csv.part", HEADER)
    drop.write("council/missing_2024_25.csv", SSDA903.format(child="C1"))
    for path in drop.raw.rglob("*"):
        os.utime(path, ns=(1_700_000_000_000_000_000, 1_700_000_000_000_000_000))

    def snapshot() -> dict:
        return {
            str(p.relative_to(drop.raw)): (p.read_bytes() if p.is_file() else b"", p.stat())
            for p in sorted(drop.raw.rglob("*"))
        }

    before = snapshot()
    assert {r.status for r in drop.run().values()} == {"loaded", "duplicate", "rejected"}
    after = snapshot()
    assert after.keys() == before.keys()
    for name, (data, stat) in before.items():
        assert after[name][0] == data, name
        assert (after[name][1].st_mtime_ns, after[name][1].st_mode) == (
            stat.st_mtime_ns,
            stat.st_mode,
        ), name


# --- pseudonyms --------------------------------------------------------------------------


def test_child_id_is_a_keyed_hash_of_source_and_person() -> None:
    same = child_id(KEY, "bay", "P1")
    assert same == child_id(KEY, "bay", "P1")
    assert same == hmac.new(KEY, b"bay\x1fP1", hashlib.sha256).hexdigest()[:32]
    assert same not in {
        child_id(KEY, "cove", "P1"),
        child_id(KEY, "bay", "P2"),
        child_id(KEY[::-1], "bay", "P1"),
    }


# The ids are hashed by DuckDB (pseudonym.KEYED_HASH_SQL); Python's own HMAC is the oracle.
HMAC_CASES = {
    "key_of_one_block": (KEY, "bay", "P1"),
    "short_key_padded": (b"k3y", "bay", "P1"),
    "long_key_hashed_first": (KEY * 3, "bay", "P1"),
    "unicode_reference": (KEY, "bay", "Zoë 7"),
    "unicode_source": (KEY, "Ynys Môn", "P1"),
    "empty_reference": (KEY, "bay", ""),
}


@pytest.mark.parametrize("key, source, ref", HMAC_CASES.values(), ids=HMAC_CASES.keys())
def test_child_id_is_rfc2104_hmac_sha256(key: bytes, source: str, ref: str) -> None:
    message = f"{source}\x1f{ref}".encode()
    expected = hmac.new(key, message, hashlib.sha256).hexdigest()[:32]
    assert child_id(key, source, ref) == expected
    assert keyed_hashes(key, source, pa.array([ref, None])).to_pylist() == [expected, None]


def test_child_ids_of_a_column_match_child_id_of_each() -> None:
    refs = pd.Series(["P1", "P2", None, "P1", "Zoë 7"], dtype="str")
    expected = [child_id(KEY, "bay", "P1"), child_id(KEY, "bay", "P2"), None,
                child_id(KEY, "bay", "P1"), child_id(KEY, "bay", "Zoë 7")]  # fmt: skip
    got = child_ids(KEY, "bay", refs)
    assert [None if pd.isna(v) else v for v in got] == expected


def test_child_id_stable_within_a_source_and_different_across_sources(drop: Drop) -> None:
    drop.declare("bay")
    drop.declare("cove")
    drop.write("bay/a.csv", GOOD)
    drop.write("bay/b.csv", GOOD.replace("E1", "E2") + "E3,P2,2011-01-01,2024-05-01 10:00\n")
    drop.write("cove/a.csv", GOOD.replace("E1", "C1"))
    drop.run()
    ids = drop.rows("select source, episode_ref, child_id from episode_versions order by 1, 2")
    assert ids == [
        ("bay", "E1", child_id(KEY, "bay", "P1")),
        ("bay", "E2", child_id(KEY, "bay", "P1")),
        ("bay", "E3", child_id(KEY, "bay", "P2")),
        ("cove", "C1", child_id(KEY, "cove", "P1")),
    ]
    assert len({i for _, _, i in ids}) == 3
    assert drop.rows("select source, person_ref from person_keys order by 1, 2") == [
        ("bay", "P1"),
        ("bay", "P2"),
        ("cove", "P1"),
    ]


def test_person_keys_hold_only_children_with_a_loaded_row(
    drop: Drop, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ingest_module, "CHECK_GROUP_ROWS", 3)  # P1's rows in two pieces
    drop.declare("bay")
    rows = [f"E{n},P1,2010-01-01" for n in range(1, 7)]
    rows += ["E7,P2,2030-01-01", "E8,P3,2010-01-01"]
    drop.write("bay/a.csv", HEADER + "".join(f"\n{r},2024-05-01 10:00" for r in rows) + "\n")
    drop.run()  # P2's only row is quarantined: born after it was reported
    assert drop.rows("select person_ref, count(*) from person_keys group by 1 order by 1") == [
        ("P1", 1),
        ("P3", 1),
    ]


def test_a_file_gives_each_of_its_children_once_whatever_its_pieces() -> None:
    ids = ChildIds(KEY, "bay", pa.array(["P1", "P2", "P1", None, "P3", "P2"]))
    first = ids.persons(pd.Index([0, 1, 3]))
    then = ids.persons(pd.Index([2, 4, 5]))
    assert first.to_dict("list") == {
        "child_id": [child_id(KEY, "bay", "P1"), child_id(KEY, "bay", "P2")],
        "person_ref": ["P1", "P2"],
    }
    assert then["person_ref"].tolist() == ["P3"]
    assert ids.persons(pd.Index([0, 5])).empty


def test_a_store_whose_person_keys_had_a_primary_key_keeps_them_unkeyed(tmp_path: Path) -> None:
    """Stores made before person_keys lost its key index are rebuilt once, rows kept."""
    with duckdb.connect(str(tmp_path / "work.duckdb")) as old:
        old.execute(
            "create table person_keys (child_id varchar primary key, source varchar not null, "
            "person_ref varchar not null)"
        )
        old.execute(f"insert into person_keys values ('{child_id(KEY, 'bay', 'P1')}', 'bay', 'P1')")
    drop = Drop(tmp_path)
    drop.declare("bay")
    drop.write("bay/a.csv", GOOD + "E2,P2,2011-01-01,2024-05-01 10:00\n")  # P1 known, P2 new
    drop.run()
    kinds = "select constraint_type from duckdb_constraints() where table_name = 'person_keys'"
    assert drop.rows(kinds) == [("NOT NULL",)] * 3  # and no primary key
    assert drop.rows("select source, person_ref from person_keys order by 2") == [
        ("bay", "P1"),
        ("bay", "P2"),
    ]


def test_key_file_is_created_private_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    path = tmp_path / "config" / "whereabouts" / "key"
    monkeypatch.setenv("WHEREABOUTS_KEY_FILE", str(path))
    with pytest.raises(FileNotFoundError):
        load_key(create=False)
    key = load_key()
    assert path.stat().st_mode & 0o777 == 0o600
    assert re.fullmatch(rb"[0-9a-f]{64}", key)
    assert path.read_bytes() == key
    assert load_key() == key == load_key(create=False)


def test_a_file_checked_in_pieces_gives_the_same_result(
    accounted: Drop, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A large file is checked in pieces (here three, of 6 rows)."""
    monkeypatch.setattr(settings, "MAX_QUARANTINE_SHARE", 1.0)
    monkeypatch.setattr(ingest_module, "CHECK_GROUP_ROWS", 6)
    drop = Drop(tmp_path)
    drop.declare("bay")
    drop.write("bay/episodes.csv", (accounted.raw / "bay" / "episodes.csv").read_text())
    drop.results = drop.run()
    for query in (
        "select rows_read, rows_loaded, rows_quarantined, rows_out_of_scope from ingest_files",
        "select row_number, reasons from quarantine order by 1",
        "select row_number, episode_ref, child_id from episode_versions order by 1",
        "select rule, row_number, message from findings order by all",
    ):
        assert drop.rows(query) == accounted.rows(query), query


REPEAT_E1 = "one_row_per_episode: episode_ref appears on more than one row of this file"
# A file cut in pieces of 2 rows: (references and people, quarantined row numbers and reasons)
PIECES_CASES = {
    # Blank references are blank, not one reference repeated.
    "blank_references_are_no_repeat": (
        ["E1,P1", ",P2", "E3,P3", ",P4", "E5,P5"],
        [(1, "required: episode_ref is blank"), (3, "required: episode_ref is blank")],
    ),
    "a_repeat_across_pieces_is_caught_in_both": (
        ["E1,P1", "E2,P2", "E3,P3", "E1,P4", "E5,P5"],
        [(0, REPEAT_E1), (3, REPEAT_E1)],
    ),
}


@pytest.mark.parametrize("rows, quarantined", PIECES_CASES.values(), ids=PIECES_CASES.keys())
def test_references_are_checked_across_the_pieces_of_a_file(
    drop: Drop, monkeypatch: pytest.MonkeyPatch, rows: list[str], quarantined: list[tuple]
) -> None:
    monkeypatch.setattr(ingest_module, "CHECK_GROUP_ROWS", 2)
    drop.declare("bay")
    drop.write("bay/a.csv", HEADER + "".join(f"\n{r},2010-01-01,2024-05-01 10:00" for r in rows))
    result = drop.run()["bay/a.csv"]
    assert (result.rows_read, result.rows_loaded, result.rows_quarantined) == (5, 3, 2)
    assert drop.rows("select row_number, reasons from quarantine order by 1") == quarantined


def test_a_file_is_cut_into_consecutive_pieces_of_its_rows(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(ingest_module, "CHECK_GROUP_ROWS", 2)
    chunks = pa.chunked_array([["E1", None, "E2"], ["E1", "E3"]])
    prepared = ingest_module.Prepared(raw=None, result=None, text=pa.table({"episode_ref": chunks}))
    assert [list(rows) for rows in ingest_module.pieces(prepared)] == [[0], [1, 2], [3, 4]]


def test_a_reference_an_adult_shares_is_a_repeat(drop: Drop) -> None:
    """The adult's row is out of scope, but the file still gives the episode two rows."""
    drop.declare("bay")
    rows = ["E1,P1,2010-01-01", "E1,P2,2000-01-01", "E3,P3,2010-01-01"]
    drop.write("bay/a.csv", HEADER + "".join(f"\n{r},2024-05-01 10:00" for r in rows))
    result = drop.run()["bay/a.csv"]
    assert (result.rows_loaded, result.rows_quarantined, result.rows_out_of_scope) == (1, 1, 1)
    assert drop.rows("select row_number, reasons from quarantine") == [(0, REPEAT_E1)]


def test_a_large_file_is_cut_in_pieces_of_about_the_size_asked(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(ingest_module, "CHECK_GROUP_ROWS", 200_000)
    # Rows n and n + 300,001 share a reference, so every repeat spans two pieces.
    refs = pa.array([f"E{n % 300_001}" for n in range(600_000)])
    prepared = ingest_module.Prepared(raw=None, result=None, text=pa.table({"episode_ref": refs}))
    cut = ingest_module.pieces(prepared)
    assert [(rows.start, rows.stop) for rows in cut] == [
        (0, 200_000),
        (200_000, 400_000),
        (400_000, 600_000),
    ]
    repeated = repeated_refs(prepared.text["episode_ref"])
    assert sorted(repeated.to_pylist()) == sorted(f"E{n}" for n in range(299_999))


# --- storing on its own thread -----------------------------------------------------------

MANY = HEADER + "".join(f"\nE{n},P{n},2010-01-01,2024-05-01 10:00" for n in range(2, 10)) + "\n"


def test_a_failure_while_checking_stores_nothing_of_that_file(
    drop: Drop, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The file being checked in pieces when checking fails is abandoned, not half stored."""
    monkeypatch.setattr(ingest_module, "CHECK_GROUP_ROWS", 3)
    drop.declare("bay")
    drop.write("bay/a.csv", GOOD)
    drop.write("bay/b.csv", MANY)  # three pieces of three rows at most
    batches = []

    def second_piece_of_b_fails(text, *args):
        batches.append(len(text))
        if len(batches) == 3:  # a's one piece, b's first, then b's second
            raise RuntimeError("checking failed")
        return police_batch(text, *args)

    police_batch = ingest_module.police_batch
    monkeypatch.setattr(ingest_module, "police_batch", second_piece_of_b_fails)
    with pytest.raises(RuntimeError, match="^checking failed$"):
        drop.run()
    assert drop.rows("select file, status from ingest_files") == [("bay/a.csv", "loaded")]
    assert drop.rows("select file, episode_ref from episode_versions") == [("bay/a.csv", "E1")]
    assert drop.rows("select count(*) from person_keys") == [(1,)]


def test_versions_a_dead_process_left_are_removed_when_the_store_opens(
    drop: Drop, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Versions go into place piece by piece, before the file's ledger row: a process that
    dies in between (here, a failure with nothing cleaned up) leaves rows no ledger row names."""
    drop.declare("bay")
    drop.write("bay/a.csv", GOOD)
    drop.run()
    drop.write("bay/b.csv", MANY)

    def killed(store, prepared):
        raise RuntimeError("killed")

    monkeypatch.setattr(storing_module.FileStore, "finish", killed)
    monkeypatch.setattr(storing_module.FileStore, "abandon", lambda store: None)
    with pytest.raises(RuntimeError, match="^killed$"):
        drop.run("r2")
    assert drop.rows("select count(*) from episode_versions") == [(9,)]
    drop.con.close()
    drop.con = open_work(tmp_path / "work.duckdb")
    assert drop.rows("select file, episode_ref from episode_versions") == [("bay/a.csv", "E1")]
    monkeypatch.undo()
    assert drop.run("r3")["bay/b.csv"].rows_loaded == 8


def test_a_failure_while_storing_is_raised_and_earlier_files_stay(
    drop: Drop, monkeypatch: pytest.MonkeyPatch
) -> None:
    drop.declare("bay")
    drop.write("bay/a.csv", GOOD)
    drop.write("bay/b.csv", MANY)
    finish = storing_module.FileStore.finish

    def storing_b_fails(store, prepared):
        if prepared.raw.rel == "bay/b.csv":
            store.con.execute("select error('the disk is full')")
        return finish(store, prepared)

    monkeypatch.setattr(storing_module.FileStore, "finish", storing_b_fails)
    with pytest.raises(duckdb.Error, match="the disk is full"):
        drop.run()
    assert drop.rows("select file, status from ingest_files") == [("bay/a.csv", "loaded")]
    assert drop.rows("select file, episode_ref from episode_versions") == [("bay/a.csv", "E1")]
    # The next night stores it.
    monkeypatch.setattr(storing_module.FileStore, "finish", finish)
    assert drop.run("r2")["bay/b.csv"].rows_loaded == 8
