"""Ingest faults: one bad file is one rejection, one bad row is one quarantine, and the
figures read from XLSX, Parquet and zoned ISO text are the clock times they were.

Fixtures are tiny synthetic files written in code; the real readers, checks and working
store run on them.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import xlsxwriter

from pipelines import settings
from pipelines.ingest.ledger import to_ingest
from pipelines.ingest.parse import parse_datetimes
from pipelines.ingest.pipeline import ingest_files
from pipelines.ingest.readers import RejectedFile, read_text
from pipelines.ingest.working_store import open_work
from pipelines.sources.declarations import Source, load_source
from pipelines.sources.discovery import discover

KEY = b"fedcba9876543210" * 4
HEADER = "episode_ref,person_ref,date_of_birth,reported_at"
GOOD = HEADER + "\nE1,P1,2010-01-01,2024-05-01 10:00\n"
LEDGER = (
    "select file, status, rows_read, rows_loaded, rows_quarantined, rows_out_of_scope, "
    "message from ingest_files order by file"
)


def declare(folder: Path, name: str, layout: str = "layout: standard\n") -> Source:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.yaml"
    path.write_text(f"name: {name}\n{layout}", encoding="utf-8")
    return load_source(path)


class Drop:
    """A raw folder, its declarations and a working store, as the nightly job sees them."""

    def __init__(self, base: Path) -> None:
        self.raw, self.decl = base / "raw", base / "sources"
        self.sources: dict[str, Source] = {}
        self.con = open_work(base / "work.duckdb")

    def declare(self, name: str, layout: str = "layout: standard\n") -> None:
        self.sources[name] = declare(self.decl, name, layout)
        (self.raw / name).mkdir(parents=True, exist_ok=True)

    def write(self, rel: str, data: str | bytes) -> Path:
        path = self.raw / rel
        path.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)
        return path

    def run(self) -> None:
        files, _ = discover(self.raw, self.sources)
        ingest_files(self.con, to_ingest(self.con, files), KEY, "r1")

    def rows(self, sql: str) -> list[tuple]:
        return self.con.execute(sql).fetchall()


@pytest.fixture
def drop(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Drop:
    # Tiny files quarantine large shares on purpose: the publish gate is tested elsewhere.
    monkeypatch.setattr(settings, "MAX_QUARANTINE_SHARE", 1.0)
    return Drop(tmp_path)


def xlsx_bytes(tmp_path: Path) -> bytes:
    path = tmp_path / "book.xlsx"
    book = xlsxwriter.Workbook(path)
    book.add_worksheet().write_row(0, 0, HEADER.split(","))
    book.close()
    return path.read_bytes()


# --- one bad file is one rejection -------------------------------------------------------

UTF16 = "CSV in UTF-16, which is not supported (save it as UTF-8 or Windows-1252)"


def test_each_bad_file_is_its_own_rejection_and_the_others_load(drop: Drop, tmp_path: Path) -> None:
    drop.declare("northshire")
    drop.write("northshire/a_good.csv", GOOD)
    # Old Mac line endings: read as lines, not one header holding the whole file.
    drop.write(
        "northshire/b_cr_only.csv", GOOD.replace("\n", "\r") + "E2,P2,2011-01-01,2024-06-01\r"
    )
    drop.write("northshire/c_xlsx_named_csv.csv", xlsx_bytes(tmp_path))
    drop.write("northshire/d_utf16.csv", GOOD.replace("E1", "E4").encode("utf-16"))
    drop.write("northshire/e_utf16_no_bom.csv", GOOD.replace("E1", "E5").encode("utf-16-le"))
    drop.write("northshire/f_empty.csv", b"")
    drop.write("northshire/g_binary.csv", bytes(range(256)) * 4)
    # A header without a required column.
    drop.write("northshire/h_missing_column.csv", "episode_ref,person_ref\nE9,P9\n")
    # One column and no delimiter: the layout cannot be sniffed.
    drop.write("northshire/h_one_column.csv", "episode_ref\nE8\n")
    # A header that names a column twice: which one is the reference cannot be known.
    drop.write("northshire/h_repeated_column.csv", HEADER + ",Episode_Ref\nE6,P6,2010-01-01,x,y\n")
    # Neither UTF-8 nor Windows-1252 (0x81 is unassigned there) past the header: the parse fails.
    drop.write(
        "northshire/h_undecodable.csv", (HEADER + "\nE7,P").encode() + b"\x81,2010-01-01,x\n"
    )
    drop.write("northshire/i_parquet_named_csv.csv", b"PAR1" + bytes(64))
    drop.write("northshire/j_last.csv", GOOD.replace("E1", "E9"))
    drop.run()
    assert drop.rows(LEDGER) == [
        ("northshire/a_good.csv", "loaded", 1, 1, 0, 0, ""),
        ("northshire/b_cr_only.csv", "loaded", 2, 2, 0, 0, ""),
        (
            "northshire/c_xlsx_named_csv.csv",
            "rejected", 0, 0, 0, 0,
            "not a CSV text file "
            "(it looks like an XLSX workbook or another zip archive)",
        ),
        ("northshire/d_utf16.csv", "rejected", 0, 0, 0, 0, f"{UTF16}"),
        (
            "northshire/e_utf16_no_bom.csv",
            "rejected", 0, 0, 0, 0,
            f"{UTF16}",
        ),
        ("northshire/f_empty.csv", "rejected", 0, 0, 0, 0, "file is empty"),
        (
            "northshire/g_binary.csv",
            "rejected", 0, 0, 0, 0,
            "not a CSV text file (it holds binary data)",
        ),
        (
            "northshire/h_missing_column.csv",
            "rejected", 0, 0, 0, 0,
            "required column(s) absent: date_of_birth, reported_at",
        ),
        (
            "northshire/h_one_column.csv",
            "rejected", 0, 0, 0, 0,
            "no column delimiter found in the header (use , ; | or tab)",
        ),
        (
            "northshire/h_repeated_column.csv",
            "rejected", 0, 0, 0, 0,
            "the header repeats a column name",
        ),
        (
            "northshire/h_undecodable.csv",
            "rejected", 0, 0, 0, 0,
            "not a readable CSV file (UnicodeDecodeError)",
        ),
        (
            "northshire/i_parquet_named_csv.csv",
            "rejected", 0, 0, 0, 0,
            ""
            "not a CSV text file (it looks like a Parquet file)",
        ),
        ("northshire/j_last.csv", "loaded", 1, 1, 0, 0, ""),
    ]  # fmt: skip
    assert drop.rows("select file, episode_ref from episode_versions order by all") == [
        ("northshire/a_good.csv", "E1"),
        ("northshire/b_cr_only.csv", "E1"),
        ("northshire/b_cr_only.csv", "E2"),
        ("northshire/j_last.csv", "E9"),
    ]


def test_cr_only_line_endings_are_read_as_lines(tmp_path: Path) -> None:
    path = tmp_path / "x.csv"
    path.write_bytes(
        b"episode_ref;person_ref;date_of_birth;reported_at\rE1;P1;2010-01-01;01/05/2024\r"
    )
    frame = read_text(path, declare(tmp_path, "bay"))
    assert frame[["episode_ref", "person_ref", "reported_at"]].to_dict("records") == [
        {"episode_ref": "E1", "person_ref": "P1", "reported_at": "01/05/2024"}
    ]


def test_a_workbook_renamed_csv_is_a_rejected_file_not_a_crash(tmp_path: Path) -> None:
    path = tmp_path / "x.csv"
    path.write_bytes(xlsx_bytes(tmp_path))
    with pytest.raises(RejectedFile) as raised:
        read_text(path, declare(tmp_path, "bay"))
    assert str(raised.value) == (
        "not a CSV text file (it looks like an XLSX workbook or another zip archive)"
    )


# --- a row of the wrong field count is that row's quarantine -----------------------------

WRONG = (
    HEADER + ",forename\n"
    "E0,P0,2010-01-01,2024-05-01 10:00,Ann\n"
    "E1,P1,2010-01-01,2024-05-01 10:00\n"  # 4 fields where the header has 5
    '"E2, part 2",P2,2010-01-01,2024-05-01 10:00,"two\nlines"\n'
    "E3,P3,2010-01-01,2024-05-01 10:00,Cy,SECRET-EXTRA\n"  # 6 fields
    "\n"
    "E4,P4,2010-01-01,2024-05-01 10:00,Di\n"
)


def test_a_row_with_too_many_or_too_few_fields_is_quarantined(drop: Drop) -> None:
    drop.declare("bay")
    drop.write("bay/a.csv", WRONG)
    drop.run()
    assert drop.rows(LEDGER) == [("bay/a.csv", "loaded", 5, 3, 2, 0, "")]
    assert drop.rows("select row_number, reasons from quarantine order by 1") == [
        (1, "field_count: the row has 4 fields where the header has 5"),
        (3, "field_count: the row has 6 fields where the header has 5"),
    ]
    assert drop.rows("select row_number, episode_ref from episode_versions order by 1") == [
        (0, "E0"),
        (2, "E2, part 2"),
        (4, "E4"),
    ]
    stored = " ".join(str(v) for row in drop.rows("select * from quarantine") for v in row)
    assert "SECRET-EXTRA" not in stored and "P3" not in stored


def test_a_malformed_ssda903_row_is_quarantined_and_the_dfe_rules_see_the_rest(
    drop: Drop,
) -> None:
    drop.declare("council", "layout: ssda903_missing\n")
    drop.write(
        "council/missing_2024_25.csv",
        "CHILD,DOB,MISSING,MIS_START,MIS_END\n"
        "C1,01/01/2010,M,01/05/2024,02/05/2024\n"
        "C2,01/01/2010,M,01/06/2024\n"
        "C3,01/01/2011,A,03/05/2024,03/05/2024\n",
    )
    drop.run()
    assert drop.rows(LEDGER) == [("council/missing_2024_25.csv", "loaded", 3, 2, 1, 0, "")]
    assert drop.rows("select row_number, reasons from quarantine") == [
        (1, "field_count: the row has 4 fields where the header has 5")
    ]
    assert drop.rows("select row_number from episode_versions order by 1") == [(0,), (2,)]
    assert drop.rows("select count(*) from findings") == [(0,)]


# --- XLSX: every sheet with the header, the 1904 date system, times to the second --------


def test_every_sheet_with_the_header_is_read_in_order(tmp_path: Path) -> None:
    path = tmp_path / "extract.xlsx"
    book = xlsxwriter.Workbook(path)
    book.add_worksheet("Notes").write_row(0, 0, ["Exported weekly", "episode_ref"])
    first = book.add_worksheet("2023")
    first.write_row(0, 0, ["episode_ref", "person_ref", "date_of_birth", "reported_at"])
    first.write_row(1, 0, ["E1", "P1", "2010-01-01", "2023-12-31 23:00"])
    second = book.add_worksheet("2024")
    second.write(0, 0, "Episodes reported in 2024")
    second.write_row(2, 0, ["Reported_At", "EPISODE_REF", "Person_Ref", "date_of_birth"])
    second.write_row(3, 0, ["2024-01-01 01:00", "E2", "P2", "2011-01-01"])
    second.write_row(4, 0, ["2024-01-02 02:00", "E3", "P3", "2012-01-01"])
    book.close()
    frame = read_text(path, declare(tmp_path, "cove"))
    assert frame.index.tolist() == [0, 1, 2]
    assert frame[["episode_ref", "reported_at"]].to_dict("records") == [
        {"episode_ref": "E1", "reported_at": "2023-12-31 23:00"},
        {"episode_ref": "E2", "reported_at": "2024-01-01 01:00"},
        {"episode_ref": "E3", "reported_at": "2024-01-02 02:00"},
    ]


def test_sheets_not_read_are_named_in_the_files_ledger_row(drop: Drop) -> None:
    # A sheet whose header was mistyped is not read: the ledger row says which were not.
    drop.declare("northshire")
    book = xlsxwriter.Workbook(drop.raw / "northshire" / "extract.xlsx")
    book.add_worksheet("Notes").write(0, 0, "Exported weekly")
    episodes = book.add_worksheet("Episodes")
    episodes.write_row(0, 0, HEADER.split(","))
    episodes.write_row(1, 0, ["E1", "P1", "2010-01-01", "2024-05-01 10:00"])
    book.add_worksheet("More").write_row(0, 0, ["episode_reference", "person_ref"])
    book.close()
    drop.run()
    assert drop.rows(LEDGER) == [
        (
            "northshire/extract.xlsx", "loaded", 1, 1, 0, 0,
            "sheets not read (no header row with the required columns): 'Notes', 'More'",
        )
    ]  # fmt: skip


def workbook_of_times(path: Path, date_1904: bool) -> None:
    """Episodes whose reported_at is a date cell or a bare serial number of either system."""
    book = xlsxwriter.Workbook(path, {"date_1904": date_1904})
    ws = book.add_worksheet()
    ws.write_row(0, 0, ["episode_ref", "person_ref", "date_of_birth", "reported_at"])
    shown = book.add_format({"num_format": "dd/mm/yyyy hh:mm:ss"})
    # 2024-05-06 in the 1900 system is serial 45418; in the 1904 system, 1462 days fewer.
    day = 45418 - (1462 if date_1904 else 0)
    serials = {
        "E1": day + (7 * 3600 + 8 * 60 + 9) / 86400 - 1e-9,  # 07:08:09 a hair short
        "E2": day + 0.99999999,  # a float error short of the next midnight
        "E3": day + 0.5 + 0.4 / 86400,  # 12:00:00.4: the second before rounding up
        "E4": day + 0.5 + 0.6 / 86400,  # 12:00:00.6: the next second
    }
    for n, (ref, serial) in enumerate(serials.items(), start=1):
        ws.write_row(n, 0, [ref, f"P{n}"])
        ws.write_datetime(n, 2, datetime(2010, 3, 4), book.add_format({"num_format": "dd/mm/yyyy"}))
        ws.write_number(n, 3, serial, shown)
        ws.write_number(n + 4, 3, serial)  # the same as a bare serial number
        ws.write_row(n + 4, 0, [f"{ref}s", f"P{n}s", "04/03/2010"])
    book.close()


TIMES = [
    "2024-05-06 07:08:09",
    "2024-05-07 00:00:00",
    "2024-05-06 12:00:00",
    "2024-05-06 12:00:01",
]


@pytest.mark.parametrize("date_1904", [False, True], ids=["1900_system", "1904_system"])
def test_xlsx_times_are_the_date_system_s_to_the_nearest_second(
    tmp_path: Path, date_1904: bool
) -> None:
    path = tmp_path / "extract.xlsx"
    workbook_of_times(path, date_1904)
    frame = read_text(path, declare(tmp_path, "cove"))
    assert frame["episode_ref"].tolist() == [
        "E1", "E2", "E3", "E4", "E1s", "E2s", "E3s", "E4s"
    ]  # fmt: skip
    assert frame["reported_at"].tolist() == TIMES + TIMES
    assert frame["date_of_birth"].tolist()[:4] == ["2010-03-04 00:00:00"] * 4


# --- Parquet zones and zoned ISO text become UK clock time -------------------------------


def test_zoned_parquet_timestamps_are_uk_clock_time(tmp_path: Path) -> None:
    path = tmp_path / "extract.parquet"
    moments = [
        datetime(2024, 7, 1, 6, 8, 9),  # 07:08:09 BST
        datetime(2024, 1, 15, 6, 8, 9),  # 06:08:09 GMT
        datetime(2024, 10, 27, 0, 30),  # 01:30 BST, the first of the night's two
        datetime(2024, 10, 27, 1, 30),  # 01:30 GMT, the second
    ]
    pq.write_table(
        pa.table(
            {
                "episode_ref": ["E1", "E2", "E3", "E4"],
                "person_ref": ["P1", "P2", "P3", "P4"],
                "date_of_birth": ["2010-01-01"] * 4,
                "reported_at": pa.array(moments, pa.timestamp("us", tz="UTC")),
                "returned_at": pa.array(moments, pa.timestamp("ms", tz="+05:00")),
                "last_seen_at": pa.array(moments, pa.timestamp("us")),  # naive: as it is
            }
        ),
        path,
    )
    frame = read_text(path, declare(tmp_path, "bay"))
    parsed = {f: parse_datetimes(frame[f]).tolist() for f in ("reported_at", "returned_at")}
    uk = [
        pd.Timestamp("2024-07-01 07:08:09"),
        pd.Timestamp("2024-01-15 06:08:09"),
        pd.Timestamp("2024-10-27 01:30"),
        pd.Timestamp("2024-10-27 01:30"),
    ]
    assert parsed == {"reported_at": uk, "returned_at": uk}
    assert parse_datetimes(frame["last_seen_at"]).tolist() == [pd.Timestamp(m) for m in moments]


# --- dates that cannot be right are quarantined, not published ---------------------------

LATER = "date_in_range: {} is later than extracted_at (or than tomorrow, where the row has no extracted_at)"  # noqa: E501
NEGATIVE = (
    "returned_after_reported: returned_at is before reported_at and last_seen_at is blank "
    "(a negative duration)"
)


def test_dates_out_of_range_and_negative_durations_are_quarantined(drop: Drop) -> None:
    tomorrow = date.today() + timedelta(days=1)
    later = date.today() + timedelta(days=2)
    day, extract = "2024-05-01 10:00", "2024-06-01 00:00"
    too_early = "date_in_range: reported_at is before 1990-01-01"
    extract_later = "date_in_range: extracted_at is later than tomorrow"
    # (reported, last seen, returned, extracted): reasons, or None where the row loads
    rows = [
        ("2024-05-01 10:00", "", "2024-05-02 10:00", "2024-06-01 00:00", None),
        (f"{later} 00:00", "", "", "", LATER.format("reported_at")),
        (f"{tomorrow} 23:59", "", "", "", None),  # a day's grace where there is no extract
        ("1989-12-31 23:59", "", "", "", too_early),
        ("1990-01-01 00:00", "", "", "", None),
        (day, "", "2024-06-02 09:00", extract, LATER.format("returned_at")),
        (day, "2024-06-03 09:00", "", extract, LATER.format("last_seen_at")),
        (day, "", "", "2099-01-01 00:00", extract_later),
        ("2024-06-01 00:00", "", "", "2024-06-01 00:00", None),  # reported as extracted
        ("2024-05-01 10:00", "", "2024-05-01 09:00", "", NEGATIVE),
        ("2024-05-01 10:00", "2024-05-01 08:00", "2024-05-01 09:00", "", None),  # a warning
        ("2024-05-01 10:00", "", "2024-05-01 10:00", "", None),  # back as reported: 0 hours
    ]  # fmt: skip
    drop.declare("bay")
    lines = [HEADER + ",last_seen_at,returned_at,extracted_at"]
    for n, (reported, seen, back, extracted, _) in enumerate(rows):
        born = f"{int(reported[:4]) - 10}-01-01"  # a child when reported
        lines.append(f"E{n},P{n},{born},{reported},{seen},{back},{extracted}")
    drop.write("bay/a.csv", "\n".join(lines) + "\n")
    drop.run()
    assert drop.rows(LEDGER) == [("bay/a.csv", "loaded", 12, 6, 6, 0, "")]
    assert drop.rows("select row_number, reasons from quarantine order by 1") == [
        (n, reasons) for n, (*_, reasons) in enumerate(rows) if reasons
    ]
    assert drop.rows("select rule, row_number from findings") == [("reported_before_return", 10)]


def test_a_reason_never_quotes_the_value(drop: Drop) -> None:
    drop.declare("bay")
    drop.write("bay/a.csv", HEADER + "\nE1,P1,1890-01-01,1901-02-03 04:05\n")
    drop.run()
    [(reasons,)] = drop.rows("select reasons from quarantine")
    assert reasons == "date_in_range: reported_at is before 1990-01-01"
    assert "1901" not in reasons


def test_the_ledger_accounts_for_every_row_read(drop: Drop) -> None:
    drop.declare("bay")
    drop.write("bay/a.csv", WRONG)
    drop.write("bay/b.csv", GOOD.replace("2024-05-01", "1980-05-01"))
    drop.run()
    assert drop.rows(
        "select count(*) from ingest_files "
        "where rows_read <> rows_loaded + rows_quarantined + rows_out_of_scope"
    ) == [(0,)]
    assert drop.rows(LEDGER) == [
        ("bay/a.csv", "loaded", 5, 3, 2, 0, ""),
        ("bay/b.csv", "loaded", 1, 0, 1, 0, ""),
    ]
