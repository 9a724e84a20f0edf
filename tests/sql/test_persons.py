"""Person-level curated tables on tiny hand-made cases: one child across agencies."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path

import duckdb
import pandas as pd
import pytest
from conftest import FAST_DIR, episode, la_source, police_source, rows_of

from pipelines.ingest.working_store import EPISODE_COLUMNS, insert_frame, open_work
from pipelines.warehouse.build import build

NORTH = police_source("northshire")
SOUTH = police_source("southshire")
COUNCIL = la_source("council")
SOURCES = [NORTH, SOUTH, COUNCIL]


@pytest.fixture
def scratch() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(dir=FAST_DIR) as folder:
        yield Path(folder)


def build_linked(
    folder: Path, rows: list[dict], links: list[tuple[str, str, str]], as_of=date(2024, 12, 31)
) -> duckdb.DuckDBPyConnection:
    """Build from episode versions and the identity stage's person ids (child, person, rule)."""
    work = folder / "work.duckdb"
    con = open_work(work)
    frame = pd.DataFrame(rows).reindex(columns=EPISODE_COLUMNS)
    for column in EPISODE_COLUMNS:
        if column.endswith("_at"):
            frame[column] = pd.to_datetime(frame[column])
    insert_frame(con, "episode_versions", frame)
    con.executemany("insert into person_ids values (?, ?, ?)", links)
    con.close()
    built = build(work, folder / "curated.duckdb", {s.name: s for s in SOURCES}, as_of)
    return duckdb.connect(str(built.path), read_only=True)


def police(source: str, ref: str, child: str, at: str, **more) -> dict:
    """A police episode in 2024 (continuum): graded low, so missing, unless told otherwise."""
    values = {"source": source, "file": f"{source}/f.csv", "episode_ref": ref,
              "child_id": child, "reported_at": at, "risk_grade": "low"}  # fmt: skip
    return episode(**(values | more))


def council(ref: str, child: str, at: str, code: str, **more) -> dict:
    """An SSDA903 episode: code 'missing' or 'away'."""
    values = {"source": "council", "file": "council/f.csv", "episode_ref": ref,
              "child_id": child, "reported_at": at, "recorded_category": code,
              "looked_after": "Y"}  # fmt: skip
    return episode(**(values | more))


def ts(text: str) -> datetime:
    return datetime.fromisoformat(text)


# --- persons ------------------------------------------------------------------------------


def test_persons_agency_counts(scratch: Path) -> None:
    rows = [
        police("northshire", "N1", "n-a", "2024-03-01 10:00"),
        police("northshire", "N2", "n-a", "2024-04-01 10:00", risk_grade="no_apparent_risk"),
        police("southshire", "S1", "s-a", "2024-05-01 10:00", looked_after="Y", sex="M"),
        council("C1", "c-a", "2024-06-01 10:00", "missing"),
        council("C2", "c-a", "2024-07-01 10:00", "away", looked_after="N"),
        police("northshire", "N9", "n-b", "2024-02-01 10:00", date_of_birth=date(2011, 1, 9)),
        police("northshire", "U1", "n-unlinked", "2024-02-01 10:00"),  # no person id: no row
    ]
    links = [
        ("n-a", "p-1", "shared_nhs_number"),
        ("s-a", "p-1", "model"),
        ("c-a", "p-1", "decision"),
        ("n-b", "p-2", "alone"),
    ]
    con = build_linked(scratch, rows, links)
    assert rows_of(con, "select * from persons order by person_id") == [
        ("p-1", "council, northshire, southshire", 3, "council, northshire, southshire", 3,
         3, 5, 2, 1, 1, 1, 0, ts("2024-03-01 10:00"), ts("2024-07-01 10:00"), True, False,
         "2010-06", "F", True),
        ("p-2", "northshire", 1, "northshire", 1, 1, 1, 1, 0, 0, 0, 0,
         ts("2024-02-01 10:00"), ts("2024-02-01 10:00"), False, False, "2011-01", "F", False),
    ]  # fmt: skip


def test_repeat_missing_carries_the_childs_person(scratch: Path) -> None:
    rows = [police("northshire", f"N{i}", "n-a", f"2024-0{i}-01 10:00") for i in (1, 2, 3)] + [
        police("northshire", f"U{i}", "n-unlinked", f"2024-0{i}-01 10:00") for i in (1, 2, 3)
    ]
    con = build_linked(scratch, rows, [("n-a", "p-1", "alone")])
    assert rows_of(
        con,
        "select child_id, person_id, definition from repeat_missing "
        "where definition = '3_in_90_days' order by child_id",
    ) == [("n-a", "p-1", "3_in_90_days"), ("n-unlinked", None, "3_in_90_days")]
