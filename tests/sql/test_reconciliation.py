"""agency_reconciliation on tiny hand-made cases, row for row, through the real SQL build.

One linked child: council child id `c1` (SSDA903 source `council`) and police child id `p1`
(source `force`) are person P1; `p2` is another child, P2, whom the council does not know.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import duckdb
import pytest
from conftest import episode, la_source, police_source, store_versions

from pipelines.sources.declarations import Source
from pipelines.warehouse.build import build

FAST_DIR = "/dev/shm" if os.access("/dev/shm", os.W_OK) else None
CASE_MANAGEMENT = Source(name="children", kind="la_children", file=Path("c.yaml"), fingerprint="t")
SOURCES = [police_source(), la_source(), CASE_MANAGEMENT]
PERSONS = {"c1": "P1", "p1": "P1", "k1": "P1", "p2": "P2"}
ROWS = (
    "select kind, month, person_id, council_episode_id, police_episode_id, "
    "round(hours_apart, 4) from agency_reconciliation order by all"
)
COUNCIL_GAP = "council_missing_no_police_report"
POLICE_GAP = "police_missing_no_council_episode"
UNKNOWN = "looked_after_unknown_to_council"
MINUTE = round(1 / 60, 4)


@pytest.fixture
def scratch() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(dir=FAST_DIR) as folder:
        yield Path(folder)


def police(ref: str, at: str, child: str = "p1", **more) -> dict:
    """A police report in 2024 (continuum), looked after: missing (graded low) unless told."""
    values = {"episode_ref": ref, "child_id": child, "reported_at": at, "risk_grade": "low"}
    return episode(**(values | {"looked_after": "Y"} | more))


def absent(ref: str, at: str) -> dict:
    return police(ref, at, risk_grade="no_apparent_risk", recorded_category="absent")


def council(ref: str, day: str, code: str = "missing", child: str = "c1") -> dict:
    """An SSDA903 episode (a start date, read as midnight): code 'missing' or 'away'."""
    values = {"source": "council", "file": "council/f.csv", "episode_ref": ref}
    values |= {"child_id": child, "reported_at": day, "recorded_category": code}
    return episode(**(values | {"looked_after": "Y"}))


def build_linked(
    folder: Path, rows: list[dict], persons: dict[str, str], known: dict[str, str] | None = None
) -> duckdb.DuckDBPyConnection:
    """Build from episode versions with the person each child id is linked to, as the
    linkage step leaves them; `known` adds records with no episodes (child id -> source)."""
    work = folder / "work.duckdb"
    con = store_versions(work, rows)
    known = known or {}
    sources = {r["child_id"]: r["source"] for r in rows} | known
    # Children with episodes have their keys from store_versions already.
    con.executemany(
        "insert into person_keys values (?, ?, ?)", [(c, s, c) for c, s in known.items()]
    )
    con.executemany(
        "insert into person_ids values (?, ?, 'model')",
        [(c, persons[c]) for c in sources if c in persons],
    )
    con.close()
    built = build(work, folder / "curated.duckdb", {s.name: s for s in SOURCES}, date(2024, 12, 31))
    return duckdb.connect(str(built.path), read_only=True)


CASES = {
    "police_report_24h_after_is_inside": (
        [council("a", "2024-05-01"), police("E1", "2024-05-02 00:00")],
        [],
    ),
    "police_report_24h_1min_after_is_outside": (
        [council("a", "2024-05-01"), police("E1", "2024-05-02 00:01")],
        [
            (COUNCIL_GAP, "2024-05", "P1", "council:a", "force:E1", 24 + MINUTE),
            (POLICE_GAP, "2024-05", "P1", "council:a", "force:E1", 24 + MINUTE),
        ],
    ),
    "police_report_24h_before_is_inside": (
        [council("a", "2024-05-01"), police("E1", "2024-04-30 00:00")],
        [],
    ),
    "police_report_24h_1min_before_is_outside": (
        [council("a", "2024-05-01"), police("E1", "2024-04-29 23:59")],
        [
            (COUNCIL_GAP, "2024-05", "P1", "council:a", "force:E1", 24 + MINUTE),
            (POLICE_GAP, "2024-04", "P1", "council:a", "force:E1", 24 + MINUTE),
        ],
    ),
    "the_nearest_report_is_named": (
        [
            council("a", "2024-05-01"),
            police("E1", "2024-05-04 00:00", looked_after="N"),
            police("E2", "2024-04-29 00:00", looked_after="N"),
        ],  # fmt: skip
        [(COUNCIL_GAP, "2024-05", "P1", "council:a", "force:E2", 48.0)],
    ),
    "away_episodes_never_count": (
        [council("a", "2024-05-01", "away"), police("E1", "2024-05-01 20:00")],
        [(POLICE_GAP, "2024-05", "P1", None, "force:E1", None)],
    ),
    "away_episode_makes_no_gap_without_a_police_report": (
        [council("a", "2024-05-01", "away"), police("E1", "2024-08-01 20:00", looked_after="N")],
        [],
    ),
    "a_police_report_for_another_person_does_not_count": (
        [council("a", "2024-05-01"), police("E1", "2024-05-01 20:00", child="p2")],
        [
            (COUNCIL_GAP, "2024-05", "P1", "council:a", None, None),
            (UNKNOWN, "2024-05", "P2", None, "force:E1", None),
        ],
    ),
    "a_police_absent_report_is_a_police_report": (
        [council("a", "2024-05-01"), absent("E1", "2024-05-01 20:00")],
        [],
    ),
    "police_absent_is_never_a_police_missing_gap": (
        [council("a", "2024-08-01"), absent("E1", "2024-05-01 20:00")],
        [(COUNCIL_GAP, "2024-08", "P1", "council:a", "force:E1", 2188.0)],
    ),
    "police_missing_not_looked_after_needs_no_council_episode": (
        [
            council("a", "2024-08-01"),
            police("E1", "2024-08-01 20:00", looked_after="N"),
            police("E2", "2024-05-01 20:00", looked_after="N"),
        ],  # fmt: skip
        [],
    ),
    "known_to_the_council_by_its_case_records_alone": (
        [police("E1", "2024-05-01 20:00")],
        [(POLICE_GAP, "2024-05", "P1", None, "force:E1", None)],
    ),
    "unknown_to_the_council_once_a_month": (
        [
            police("E1", "2024-05-01 20:00", child="p2"),
            absent("E2", "2024-05-09 20:00") | {"child_id": "p2"},
            police("E3", "2024-06-01 20:00", child="p2"),
            police("E4", "2024-06-02 20:00", child="p2", looked_after="N"),
        ],
        [
            (UNKNOWN, "2024-05", "P2", None, "force:E1", None),
            (UNKNOWN, "2024-06", "P2", None, "force:E3", None),
        ],
    ),
    "unlinked_episodes_are_not_compared": (
        [council("a", "2024-05-01", child="c9"), police("E1", "2024-05-01 20:00", child="p9")],
        [],
    ),
}


@pytest.mark.parametrize(("rows", "expected"), CASES.values(), ids=CASES.keys())
def test_reconciliation_rule(scratch: Path, rows: list[dict], expected: list[tuple]) -> None:
    con = build_linked(scratch, rows, PERSONS, known={"k1": "children"})
    assert con.execute(ROWS).fetchall() == sorted(expected, key=_order)
    con.close()


def _order(row: tuple) -> tuple:
    return tuple((value is None, value) for value in row)


def test_each_row_explains_itself(scratch: Path) -> None:
    rows = [
        council("a", "2024-05-01"),
        police("E1", "2024-05-02 00:01"),
        police("E2", "2024-07-01 20:00", child="p2"),
        police("E3", "2024-07-03 20:00", child="p2"),
    ]
    con = build_linked(scratch, rows, PERSONS, known={"k1": "children"})
    assert con.execute(
        "select gap_id, explanation from agency_reconciliation order by gap_id"
    ).fetchall() == [
        (
            f"{COUNCIL_GAP}:council:a",
            "Council recorded this looked-after child missing from care from 2024-05-01 00:00; "
            "no police report of the child started within 24 hours of it (nearest police "
            "report force:E1, 24.0 hours after)",
        ),
        (
            f"{UNKNOWN}:P2:2024-07",
            "Police flagged this child as looked after in 2 reports this month (first "
            "force:E2, 2024-07-01 20:00); no council record is linked to the child",
        ),
        (
            f"{POLICE_GAP}:force:E1",
            "Police recorded this child, flagged looked after, missing from 2024-05-02 00:01; "
            "the council knows the child but recorded no missing episode starting within 24 "
            "hours of it (nearest council missing episode council:a, 24.0 hours before)",
        ),
    ]
    con.close()
