"""The curated tables on tiny hand-made cases, row for row, through the real SQL build."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path

import pytest
from conftest import build_curated, episode, la_source, police_source, rows_of

# Builds in memory-backed storage where there is some: no waiting on disk syncs.
FAST_DIR = "/dev/shm" if os.access("/dev/shm", os.W_OK) else None
BOTH = [police_source(), la_source()]


@pytest.fixture
def scratch() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(dir=FAST_DIR) as folder:
        yield Path(folder)


def ep(ref: str, child: str, at: str, **more) -> dict:
    """A police episode in 2024 (continuum): graded low, so missing, unless told otherwise."""
    values = {"episode_ref": ref, "child_id": child, "reported_at": at, "risk_grade": "low"}
    return episode(**(values | more))


def la(ref: str, child: str, at: str, code: str, **more) -> dict:
    """An SSDA903 episode: code 'missing' or 'away'."""
    values = {
        "source": "council",
        "file": "council/f.csv",
        "episode_ref": ref,
        "child_id": child,
        "reported_at": at,
        "recorded_category": code,
        "looked_after": "Y",
    }
    return episode(**(values | more))


def too_long(episode_id: str) -> str:
    """The open_too_long finding's message (OPEN_EPISODE_LIMIT_DAYS = 90)."""
    return (
        f"episode {episode_id} has been open more than 90 days with no return recorded: "
        "the source should close it or record the return"
    )


def ts(text: str) -> datetime:
    return datetime.fromisoformat(text)


REPEATS = (
    "select child_id, definition, entered_at, qualifying_episode_id from repeat_missing "
    "order by child_id, definition"
)


# --- repeat_missing ------------------------------------------------------------------------


def test_3_in_90_days_boundary(scratch: Path) -> None:
    # 2024-01-01 + 90 days = 2024-03-31 (a leap year).
    rows = [
        ep("A1", "a", "2024-01-01 10:00"),
        ep("A2", "a", "2024-02-01 10:00"),
        ep("A3", "a", "2024-03-31 10:00"),
        ep("B1", "b", "2024-01-01 10:00"),
        ep("B2", "b", "2024-02-01 10:00"),
        ep("B3", "b", "2024-03-31 10:01"),
        ep("C1", "c", "2023-01-01 10:00"),
        ep("C2", "c", "2023-02-01 10:00"),
        ep("C3", "c", "2023-04-02 10:00"),  # 91 days (2023 is not a leap year)
        ep("C4", "c", "2023-07-01 10:00"),  # 90 days after C3, but 150 after C2
    ]
    con = build_curated(scratch, rows)
    assert rows_of(con, REPEATS) == [
        ("a", "3_in_90_days", ts("2024-03-31 10:00"), "force:A3"),
        ("a", "missing_3_in_90_days", ts("2024-03-31 10:00"), "force:A3"),
        ("a", "more_than_1_in_financial_year", ts("2024-02-01 10:00"), "force:A2"),
        ("b", "more_than_1_in_financial_year", ts("2024-02-01 10:00"), "force:B2"),
        ("c", "more_than_1_in_financial_year", ts("2023-02-01 10:00"), "force:C2"),
    ]
    assert rows_of(
        con,
        "select episode_ref, in_repeat_cohort_at_report from episodes "
        "where child_id in ('a', 'b') order by episode_ref",
    ) == [("A1", False), ("A2", False), ("A3", True), ("B1", False), ("B2", False), ("B3", False)]


def test_3_in_90_days_enters_at_the_first_episode_only(scratch: Path) -> None:
    rows = [ep(f"D{i}", "d", f"2024-01-{i:02d} 10:00") for i in range(1, 6)]
    con = build_curated(scratch, rows, as_of=date(2024, 6, 30))
    assert rows_of(con, REPEATS) == [
        ("d", "3_in_90_days", ts("2024-01-03 10:00"), "force:D3"),
        ("d", "missing_3_in_90_days", ts("2024-01-03 10:00"), "force:D3"),
        ("d", "more_than_1_in_financial_year", ts("2024-01-02 10:00"), "force:D2"),
    ]


def test_away_episodes_never_count(scratch: Path) -> None:
    rows = [
        # Counting away, X would enter on 15 January; without it, only at the fifth.
        la("X1", "x", "2024-01-01 10:00", "missing"),
        la("X2", "x", "2024-01-05 10:00", "away"),
        la("X3", "x", "2024-01-06 10:00", "away"),
        la("X4", "x", "2024-01-10 10:00", "missing"),
        la("X5", "x", "2024-01-20 10:00", "missing"),
        # Y: three episodes within 90 days only if the away one counts.
        la("Y1", "y", "2024-01-01 10:00", "missing"),
        la("Y2", "y", "2024-01-15 10:00", "away"),
        la("Y3", "y", "2024-02-01 10:00", "missing"),
        la("Y4", "y", "2024-04-15 10:00", "missing"),
        # Z: only away episodes.
        la("Z1", "z", "2024-01-01 10:00", "away"),
        la("Z2", "z", "2024-01-02 10:00", "away"),
        la("Z3", "z", "2024-01-03 10:00", "away"),
    ]
    con = build_curated(scratch, rows, [la_source()])
    assert rows_of(con, REPEATS) == [
        ("x", "3_in_90_days", ts("2024-01-20 10:00"), "council:X5"),
        ("x", "missing_3_in_90_days", ts("2024-01-20 10:00"), "council:X5"),
        ("x", "more_than_1_in_financial_year", ts("2024-01-10 10:00"), "council:X4"),
        ("y", "more_than_1_in_financial_year", ts("2024-02-01 10:00"), "council:Y3"),
    ]


def test_missing_3_in_90_days_counts_missing_only(scratch: Path) -> None:
    rows = [
        ep("M1", "m", "2024-01-01 10:00"),
        ep("M2", "m", "2024-01-10 10:00", risk_grade="no_apparent_risk"),  # absent
        ep("M3", "m", "2024-01-20 10:00", risk_grade=None),  # undetermined
        ep("M4", "m", "2024-02-01 10:00"),
        ep("M5", "m", "2024-03-01 10:00"),
    ]
    con = build_curated(scratch, rows)
    assert rows_of(con, "select episode_ref, category from episodes order by 1") == [
        ("M1", "missing"),
        ("M2", "absent"),
        ("M3", "undetermined"),
        ("M4", "missing"),
        ("M5", "missing"),
    ]
    assert rows_of(con, REPEATS) == [
        ("m", "3_in_90_days", ts("2024-01-20 10:00"), "force:M3"),
        ("m", "missing_3_in_90_days", ts("2024-03-01 10:00"), "force:M5"),
        ("m", "more_than_1_in_financial_year", ts("2024-01-10 10:00"), "force:M2"),
    ]


def test_financial_year_boundary(scratch: Path) -> None:
    rows = [
        ep("P1", "p", "2024-03-31 23:59"),
        ep("P2", "p", "2024-04-01 00:00"),
        ep("Q1", "q", "2023-04-01 00:00"),
        ep("Q2", "q", "2024-03-31 23:59"),
        ep("R1", "r", "2023-03-31 23:59"),
        ep("R2", "r", "2023-04-01 00:00"),
        ep("R3", "r", "2024-03-31 23:59"),
    ]
    con = build_curated(scratch, rows)
    assert rows_of(con, REPEATS) == [
        ("q", "more_than_1_in_financial_year", ts("2024-03-31 23:59"), "force:Q2"),
        ("r", "more_than_1_in_financial_year", ts("2024-03-31 23:59"), "force:R3"),
    ]
    assert rows_of(
        con,
        "select episode_ref from episodes where completes_financial_year_repeat order by 1",
    ) == [("Q2",), ("R3",)]


# --- at_risk_by_source ---------------------------------------------------------------------

AT_RISK = (
    "select priority, child_id, priority_tier, reasons, episodes_last_90_days, last_reported_at, "
    "last_episode_id, has_open_episode, has_open_high_risk from at_risk_by_source order by 1"
)


def test_at_risk_by_source_order_and_reasons(scratch: Path) -> None:
    # as_of 2024-12-31: the window is [2024-10-03 00:00, 2025-01-01 00:00).
    rows = [
        ep("H1", "h", "2024-12-20 10:00", risk_grade="high", returned_at=None),
        ep("O1", "o", "2024-06-01 10:00", returned_at=None),  # open 213 days: a finding
        ep("O2", "o2", "2024-11-01 10:00", cse_flag="Y", returned_at=None),
        ep("C1", "c", "2024-10-03 00:00", cse_flag="Y"),
        ep("C2", "c2", "2024-11-05 10:00", cse_flag="Y", risk_grade="high"),
        ep("CX", "c_out", "2024-10-02 23:59", cse_flag="Y"),
        ep("HR1", "hr", "2024-12-01 10:00", risk_grade="high"),
        ep("HR2", "hr", "2025-01-05 10:00", risk_grade="high", returned_at=None),
        ep("L1", "late", "2024-12-31 23:59", risk_grade="high", returned_at="2025-01-01 02:00"),
        ep("HX", "hr_out", "2024-10-02 23:59", risk_grade="high"),
        ep("R1", "r", "2024-11-01 10:00"),
        ep("R2", "r", "2024-11-10 10:00"),
        ep("R3", "r", "2024-11-20 10:00"),
        ep("RX1", "r_out", "2024-07-01 10:00"),
        ep("RX2", "r_out", "2024-07-10 10:00"),
        ep("RX3", "r_out", "2024-07-20 10:00"),
        ep("RX4", "r_out", "2024-10-10 10:00"),  # the cohort entered before the window
        ep("A1", "a", "2024-12-05 10:00", risk_grade="no_apparent_risk", looked_after="Y"),
        ep("AX", "a_plain", "2024-12-05 10:00", risk_grade="no_apparent_risk"),
        ep("F1", "future", "2025-01-01 00:00", risk_grade="high", returned_at=None),
    ]
    con = build_curated(scratch, rows, as_of=date(2024, 12, 31))
    # "late" returned after the run date, so as of that date its episode was still open.
    assert rows_of(con, AT_RISK) == [
        (1, "late", 1, "open high-risk episode; high risk in last 90 days", 1,
         ts("2024-12-31 23:59"), "force:L1", True, True),
        (2, "h", 1, "open high-risk episode; high risk in last 90 days", 1,
         ts("2024-12-20 10:00"), "force:H1", True, True),
        (3, "o2", 2, "open episode; CSE flag in last 90 days", 1,
         ts("2024-11-01 10:00"), "force:O2", True, False),
        (4, "c2", 3, "CSE flag in last 90 days; high risk in last 90 days", 1,
         ts("2024-11-05 10:00"), "force:C2", False, False),
        (5, "c", 3, "CSE flag in last 90 days", 1, ts("2024-10-03 00:00"), "force:C1",
         False, False),
        (6, "hr", 4, "high risk in last 90 days", 1, ts("2024-12-01 10:00"), "force:HR1",
         False, False),
        (7, "r", 5, "3 episodes within 90 days", 3, ts("2024-11-20 10:00"), "force:R3",
         False, False),
        (8, "a", 6, "absent decision needs review", 1, ts("2024-12-05 10:00"), "force:A1",
         False, False),
    ]  # fmt: skip
    # "o" has only an episode open since June, past the 90-day limit: a finding, not a reason.
    assert rows_of(con, "select episode_ref from findings where rule = 'open_too_long'") == [
        ("O1",)
    ]


def test_at_risk_ties_within_a_tier(scratch: Path) -> None:
    rows = [
        # Same tier and reasons: more episodes in the window first, then the latest report,
        # then child_id.
        ep("T1", "t_one", "2024-12-10 10:00", risk_grade="high"),
        ep("U1", "u_two", "2024-11-01 10:00", risk_grade="high"),
        ep("U2", "u_two", "2024-11-02 10:00"),
        ep("V1", "v_same", "2024-12-10 10:00", risk_grade="high"),
        ep("W1", "w_old", "2024-12-09 10:00", risk_grade="high"),
    ]
    con = build_curated(scratch, rows, as_of=date(2024, 12, 31))
    assert rows_of(con, "select priority, child_id from at_risk_by_source order by 1") == [
        (1, "u_two"),
        (2, "t_one"),
        (3, "v_same"),
        (4, "w_old"),
    ]


def test_at_risk_lists_only_children_by_their_age_on_the_run_date(scratch: Path) -> None:
    # as_of 2024-12-31. Both were 17 when reported; the full date of birth decides.
    rows = [
        ep("S1", "seventeen", "2024-12-20 10:00", risk_grade="high",
           date_of_birth=date(2007, 1, 1)),
        ep("E1", "eighteen", "2024-12-20 10:00", risk_grade="high",
           date_of_birth=date(2006, 12, 31)),
        ep("U1", "unknown", "2024-12-20 10:00", risk_grade="high", date_of_birth=None),
        # The latest version's date of birth counts, as in the published episode.
        ep("V1", "corrected", "2024-12-20 10:00", risk_grade="high",
           date_of_birth=date(2008, 5, 5), extracted_at="2024-12-21 01:00"),
        ep("V1", "corrected", "2024-12-20 10:00", risk_grade="high",
           date_of_birth=date(2005, 5, 5), extracted_at="2024-12-22 01:00", ingest_seq=2),
    ]  # fmt: skip
    con = build_curated(scratch, rows, as_of=date(2024, 12, 31))
    assert rows_of(con, "select child_id, age_at_start from episodes order by child_id") == [
        ("corrected", 19),
        ("eighteen", 17),
        ("seventeen", 17),
        ("unknown", None),
    ]
    assert rows_of(con, "select child_id, priority_tier from at_risk_by_source order by 1") == [
        ("seventeen", 4),
        ("unknown", 4),
    ]


def test_an_episode_open_past_the_limit_is_a_finding_not_a_reason(scratch: Path) -> None:
    # as_of 2024-12-31; OPEN_EPISODE_LIMIT_DAYS = 90.
    rows = [
        ep("N90", "ninety", "2024-10-02 10:00", returned_at=None),  # open 90 days: open
        ep("N91", "ninety_one", "2024-10-01 10:00", returned_at=None),  # 91 days: a finding
        ep("M91", "both", "2024-10-01 10:00", returned_at=None, risk_grade="high"),
        ep("M2", "both", "2024-12-01 10:00", cse_flag="Y"),
        ep("R1", "returned", "2024-06-01 10:00", returned_at="2024-06-02 10:00"),
    ]
    con = build_curated(scratch, rows, as_of=date(2024, 12, 31))
    assert rows_of(con, AT_RISK) == [
        (1, "ninety", 2, "open episode", 0, ts("2024-10-02 10:00"), "force:N90", True, False),
        (2, "both", 3, "CSE flag in last 90 days", 1, ts("2024-12-01 10:00"), "force:M2",
         False, False),
    ]  # fmt: skip
    assert rows_of(
        con,
        "select rule, severity, source, file, row_number, episode_ref, message from findings "
        "where rule = 'open_too_long' order by episode_ref",
    ) == [
        ("open_too_long", "warning", "force", None, None, "M91", too_long("force:M91")),
        ("open_too_long", "warning", "force", None, None, "N91", too_long("force:N91")),
    ]  # fmt: skip


def test_at_risk_empty_when_nothing_in_the_window(scratch: Path) -> None:
    rows = [ep("E1", "e", "2024-10-02 23:59", risk_grade="high", cse_flag="Y")]
    con = build_curated(scratch, rows, as_of=date(2024, 12, 31))
    assert rows_of(con, AT_RISK) == []


# --- episodes ------------------------------------------------------------------------------

EPISODE_MEASURES = (
    "select episode_ref, is_open, duration_hours, duration_band, found_within_24h "
    "from episodes order by episode_ref"
)


def test_durations_and_bands(scratch: Path) -> None:
    at = "2024-05-01 20:00"
    rows = [
        ep("D01", "d", at, last_seen_at="2024-05-01 18:00", returned_at="2024-05-02 18:00"),
        ep("D02", "d", at, returned_at="2024-05-02 19:59"),
        ep("D03", "d", at, returned_at="2024-05-02 20:00"),
        ep("D04", "d", at, returned_at="2024-05-03 19:59"),
        ep("D05", "d", at, returned_at="2024-05-03 20:00"),
        ep("D06", "d", at, returned_at="2024-05-08 19:59"),
        ep("D07", "d", at, returned_at="2024-05-08 20:00"),
        ep("D08", "d", at, returned_at="2024-05-31 19:59"),
        ep("D09", "d", at, returned_at="2024-05-31 20:00"),
        ep("D10", "d", at, returned_at=None),
        ep("D11", "d", at, last_seen_at="2024-05-01 21:00", returned_at="2024-05-01 20:00"),
    ]
    con = build_curated(scratch, rows)
    assert rows_of(con, EPISODE_MEASURES) == [
        ("D01", False, 24.0, "24-48h", False),
        ("D02", False, 86340 / 3600, "<24h", True),
        ("D03", False, 24.0, "24-48h", False),
        ("D04", False, (48 * 3600 - 60) / 3600, "24-48h", False),
        ("D05", False, 48.0, "2-7 days", False),
        ("D06", False, (168 * 3600 - 60) / 3600, "2-7 days", False),
        ("D07", False, 168.0, "7-30 days", False),
        ("D08", False, (720 * 3600 - 60) / 3600, "7-30 days", False),
        ("D09", False, 720.0, ">30 days", False),
        ("D10", True, None, "open", None),
        ("D11", False, -1.0, "<24h", True),
    ]


def test_return_home_interview_within_72_hours(scratch: Path) -> None:
    back = "2024-05-02 08:00"
    rows = [
        ep("R1", "r", "2024-05-01 20:00", returned_at=back, rhi_offered_at="2024-05-05 08:00"),
        ep("R2", "r", "2024-05-01 20:00", returned_at=back, rhi_offered_at="2024-05-05 08:01"),
        ep("R3", "r", "2024-05-01 20:00", returned_at=back, rhi_offered_at=None),
        ep("R4", "r", "2024-05-01 20:00", returned_at=None, rhi_offered_at="2024-05-02 09:00"),
        ep("R5", "r", "2024-05-01 20:00", returned_at=back, rhi_offered_at="2024-05-02 07:00"),
    ]
    con = build_curated(scratch, rows)
    assert rows_of(con, "select episode_ref, rhi_offered_within_72h from episodes order by 1") == [
        ("R1", True),
        ("R2", False),
        ("R3", False),
        ("R4", None),
        ("R5", True),
    ]


def test_age_at_start_and_birth_month(scratch: Path) -> None:
    rows = [
        ep("G1", "g", "2024-06-14 23:59", date_of_birth=date(2010, 6, 15)),
        ep("G2", "g", "2024-06-15 00:00", date_of_birth=date(2010, 6, 15)),
        ep("G3", "g", "2024-12-31 12:00", date_of_birth=date(2010, 6, 15)),
        ep("L1", "leap", "2023-02-28 12:00", date_of_birth=date(2008, 2, 29)),
        ep("L2", "leap", "2023-03-01 00:00", date_of_birth=date(2008, 2, 29)),
        ep("L3", "leap", "2024-02-29 00:00", date_of_birth=date(2008, 2, 29)),
        ep("N1", "newborn", "2024-01-01 00:00", date_of_birth=date(2023, 12, 31)),
    ]
    con = build_curated(scratch, rows)
    assert rows_of(
        con, "select episode_ref, age_at_start, birth_month from episodes order by 1"
    ) == [
        ("G1", 13, "2010-06"),
        ("G2", 14, "2010-06"),
        ("G3", 14, "2010-06"),
        ("L1", 14, "2008-02"),
        ("L2", 15, "2008-02"),
        ("L3", 16, "2008-02"),
        ("N1", 0, "2023-12"),
    ]
    columns = [r[0] for r in rows_of(con, "describe episodes")]
    assert "date_of_birth" not in columns


def test_latest_version_wins(scratch: Path) -> None:
    rows = [
        # A later extract wins even when it arrived first.
        ep("V", "v", "2024-05-01 20:00", risk_grade="high", ingest_seq=1,
           extracted_at="2024-06-02 01:00"),
        ep("V", "v", "2024-05-01 20:00", risk_grade="low", ingest_seq=2,
           extracted_at="2024-06-01 01:00"),
        # The same extract time: the file that arrived last wins.
        ep("W", "w", "2024-05-01 20:00", risk_grade="high", returned_at=None, ingest_seq=4,
           extracted_at="2024-06-01 01:00"),
        ep("W", "w", "2024-05-01 20:00", risk_grade="no_apparent_risk", ingest_seq=3,
           extracted_at="2024-06-01 01:00"),
        ep("S", "s", "2024-05-01 20:00"),
    ]  # fmt: skip
    con = build_curated(scratch, rows)
    assert rows_of(
        con,
        "select episode_id, risk_grade, category, is_open, versions_seen, extracted_at "
        "from episodes order by 1",
    ) == [
        ("force:S", "low", "missing", False, 1, ts("2024-06-01 01:00")),
        ("force:V", "high", "missing", False, 2, ts("2024-06-02 01:00")),
        ("force:W", "high", "missing", True, 2, ts("2024-06-01 01:00")),
    ]


# --- children ------------------------------------------------------------------------------


def test_children_counts(scratch: Path) -> None:
    # as_of 2024-12-31: the last 12 months are [2024-01-01 00:00, 2025-01-01 00:00).
    rows = [
        ep("K1", "k", "2023-12-31 23:59"),
        ep("K2", "k", "2024-01-01 00:00", risk_grade="no_apparent_risk", looked_after="Y"),
        ep("K3", "k", "2024-07-01 10:00", risk_grade=None),
        ep("K4", "k", "2024-11-01 10:00", cse_flag="Y", returned_at=None),
        ep("K5", "k", "2025-01-01 00:00"),
        la("Z1", "z", "2024-03-01 10:00", "away", date_of_birth=date(2009, 1, 31)),
        la("Z2", "z", "2024-03-05 10:00", "missing", date_of_birth=date(2009, 1, 31)),
    ]
    con = build_curated(scratch, rows, BOTH, as_of=date(2024, 12, 31))
    assert rows_of(
        con,
        "select child_id, first_reported_at, last_reported_at, episodes, missing_episodes, "
        "absent_episodes, away_episodes, undetermined_episodes, looked_after, "
        "ever_cse_flagged, open_episodes, episodes_last_12_months, missing_last_12_months, "
        "absent_last_12_months, birth_month, sources from children order by 1",
    ) == [
        ("k", ts("2023-12-31 23:59"), ts("2025-01-01 00:00"), 5, 3, 1, 0, 1, True, True, 1,
         3, 1, 1, "2010-06", "force"),
        ("z", ts("2024-03-01 10:00"), ts("2024-03-05 10:00"), 2, 1, 0, 1, 0, True, False, 0,
         2, 1, 0, "2009-01", "council"),
    ]  # fmt: skip


# --- monthly_summary and rhi_compliance ----------------------------------------------------


def test_monthly_summary_and_rhi_compliance(scratch: Path) -> None:
    rows = [
        ep("M1", "a", "2024-03-05 10:00", looked_after="Y", cse_flag="Y",
           returned_at="2024-03-05 20:00", rhi_offered_at="2024-03-06 09:00"),
        ep("M2", "b", "2024-03-20 10:00", risk_grade="high", returned_at="2024-03-22 10:00",
           rhi_offered_at="2024-03-26 10:00"),
        ep("M3", "a", "2024-03-31 22:00", risk_grade="no_apparent_risk",
           returned_at="2024-04-01 02:00"),
        ep("M4", "a", "2024-04-10 10:00", risk_grade="medium", returned_at=None),
        ep("M5", "c", "2012-01-10 10:00", returned_at="2012-01-10 12:00", outcome="found_dead"),
        la("Z1", "z", "2024-03-10 10:00", "away", returned_at="2024-03-11 08:00"),
    ]  # fmt: skip
    con = build_curated(scratch, rows, BOTH)
    assert rows_of(
        con,
        "select month, category, episodes, children, looked_after_episodes, cse_episodes, "
        "closed_episodes, found_within_24h, derived_episodes from monthly_summary",
    ) == [
        ("2012-01", "absent", 1, 1, 0, 0, 1, 1, 1),
        ("2024-03", "absent", 1, 1, 0, 0, 1, 1, 0),
        ("2024-03", "away", 1, 1, 1, 0, 1, 1, 0),
        ("2024-03", "missing", 2, 2, 1, 1, 2, 1, 0),
        ("2024-04", "missing", 1, 1, 0, 0, 0, 0, 0),
    ]
    assert rows_of(
        con,
        "select month, returns, rhi_offered_within_72h, rhi_offered_later, rhi_not_offered, "
        "percent_within_72h from rhi_compliance",
    ) == [("2024-03", 2, 1, 1, 0, 50.0)]


# --- cohort_recurrence ---------------------------------------------------------------------

COHORTS = (
    "select month, children, share_again_within_30_days, share_again_within_90_days, "
    "share_again_within_365_days, median_days_to_next from cohort_recurrence"
)


def test_cohort_recurrence_shares(scratch: Path) -> None:
    rows = [
        ep("A1", "a30", "2024-01-01 10:00"),
        ep("A2", "a30", "2024-01-31 10:00"),  # 30 days
        ep("A3", "a30", "2024-02-01 10:00"),
        ep("B1", "b31", "2024-01-05 10:00"),
        ep("B2", "b31", "2024-02-05 10:00"),  # 31 days
        ep("C1", "c365", "2024-01-10 10:00"),
        ep("C2", "c365", "2025-01-09 10:00"),  # 365 days
        ep("D1", "d_once", "2024-01-20 10:00"),
        ep("E1", "e366", "2024-01-25 10:00"),
        ep("E2", "e366", "2025-01-25 10:00"),  # 366 days
        ep("F1", "f_half", "2024-02-10 10:00"),
        ep("F2", "f_half", "2024-02-10 22:00", risk_grade="no_apparent_risk"),
    ]
    con = build_curated(scratch, rows)
    assert rows_of(con, COHORTS) == [
        ("2024-01", 5, 0.2, 0.4, 0.6, 198.0),
        ("2024-02", 1, 1.0, 1.0, 1.0, 0.5),
    ]


def test_cohort_recurrence_ignores_away(scratch: Path) -> None:
    """An away episode is neither a child's first episode nor the one after it."""
    rows = [
        la("P1", "p", "2024-03-01 10:00", "away"),
        la("P2", "p", "2024-04-01 10:00", "missing"),
        la("Q1", "q", "2024-04-02 10:00", "missing"),
        la("Q2", "q", "2024-04-05 10:00", "away"),
        la("Q3", "q", "2024-04-12 10:00", "missing"),
    ]
    con = build_curated(scratch, rows, [la_source()])
    assert rows_of(con, COHORTS) == [("2024-04", 2, 0.5, 0.5, 0.5, 10.0)]


# --- findings across episodes --------------------------------------------------------------


def test_findings_across_episodes(scratch: Path) -> None:
    rows = [
        ep("F1", "f1", "2024-05-01 20:00", returned_at=None),
        ep("F2", "f1", "2024-05-03 10:00"),
        ep("G1", "f2", "2024-05-01 20:00", returned_at="2024-05-05 10:00"),
        ep("G2", "f2", "2024-05-04 10:00", returned_at="2024-05-04 12:00"),
        ep("H1", "f3", "2024-05-01 20:00", returned_at="2024-05-02 08:00"),
        ep("H2", "f3", "2024-05-02 08:00", returned_at="2024-05-02 10:00"),
        la("Z1", "z", "2024-05-01 20:00", "missing", returned_at=None),
        la("Z2", "z", "2024-05-02 10:00", "away"),
    ]
    con = build_curated(scratch, rows, BOTH)
    assert rows_of(
        con,
        "select rule, severity, source, file, row_number, episode_ref, message from findings "
        "order by episode_ref",
    ) == [
        ("open_too_long", "warning", "force", None, None, "F1", too_long("force:F1")),
        ("reported_while_open", "warning", "force", None, None, "F2",
         "reported while the child's earlier episode force:F1 was still open"),
        ("episodes_overlap", "warning", "force", None, None, "G2",
         "starts before the child's earlier episode force:G1 ended"),
        # Still open at the run date (2024-12-31), eight months on: the source should close it.
        ("open_too_long", "warning", "council", None, None, "Z1", too_long("council:Z1")),
    ]  # fmt: skip
    # The same, on the episode rows analysts read; away episodes are never compared.
    assert rows_of(
        con,
        "select episode_ref, overlaps_episode_id, reported_while_open from episodes "
        "order by episode_ref",
    ) == [
        ("F1", None, False), ("F2", "force:F1", True), ("G1", None, False),
        ("G2", "force:G1", False), ("H1", None, False), ("H2", None, False),
        ("Z1", None, False), ("Z2", None, False),
    ]  # fmt: skip


def test_an_open_episode_graded_high_only_when_reported_is_tier_1(scratch: Path) -> None:
    rows = [
        ep("I1", "i", "2024-12-20 10:00", initial_risk_grade="high", risk_grade=None,
           returned_at=None)
    ]  # fmt: skip
    con = build_curated(scratch, rows, as_of=date(2024, 12, 31))
    assert rows_of(con, "select child_id, priority_tier, reasons from at_risk_by_source") == [
        ("i", 1, "open high-risk episode; high risk in last 90 days")
    ]


def test_a_new_episode_while_any_earlier_one_is_open_is_found(scratch: Path) -> None:
    rows = [
        ep("E1", "e", "2024-05-01 20:00", returned_at=None),
        ep("E2", "e", "2024-05-02 10:00", returned_at="2024-05-02 12:00"),
        ep("E3", "e", "2024-05-03 10:00", returned_at="2024-05-03 12:00"),
    ]
    con = build_curated(scratch, rows)
    message = "reported while the child's earlier episode force:E1 was still open"
    assert rows_of(con, "select rule, episode_ref, message from findings order by all") == [
        ("open_too_long", "E1", too_long("force:E1")),
        ("reported_while_open", "E2", message),
        ("reported_while_open", "E3", message),
    ]
