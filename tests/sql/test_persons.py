"""Person-level curated tables on tiny hand-made cases: one child across agencies."""

from __future__ import annotations

import dataclasses
import tempfile
from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path

import duckdb
import pandas as pd
import pytest
from conftest import FAST_DIR, episode, la_source, police_source, rows_of, store_versions

from pipelines.warehouse.build import build

NORTH = police_source("northshire")
SOUTH = police_source("southshire")
COUNCIL = la_source("council")
SOURCES = [NORTH, SOUTH, COUNCIL]
CME = dataclasses.replace(la_source("cme"), kind="cme")


@pytest.fixture
def scratch() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(dir=FAST_DIR) as folder:
        yield Path(folder)


def build_linked(
    folder: Path,
    rows: list[dict],
    links: list[tuple[str, str, str]],
    as_of=date(2024, 12, 31),
    sources=tuple(SOURCES),
    spells: tuple[tuple, ...] = (),
) -> duckdb.DuckDBPyConnection:
    """Build from episode versions and the identity stage's person ids (child, person, rule),
    and spells off a school roll of the register `cme` (child, off roll on, resolved on)."""
    work = folder / "work.duckdb"
    con = store_versions(work, rows, links)
    for row, (child, off, on) in enumerate(spells):
        con.execute(
            "insert into cme_rows values ('cme', 'cme/r.csv', ?, 1, ?, ?, 'MOV', ?)",
            [row, child, date.fromisoformat(off), on and date.fromisoformat(on)],
        )
    con.close()
    if spells:
        sources = (*sources, CME)
    built = build(work, folder / "curated.duckdb", {s.name: s for s in sources}, as_of)
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
         "2010-06", "F", True, True),
        ("p-2", "northshire", 1, "northshire", 1, 1, 1, 1, 0, 0, 0, 0,
         ts("2024-02-01 10:00"), ts("2024-02-01 10:00"), False, False, "2011-01", "F", False,
         False),
    ]  # fmt: skip


def test_persons_count_sources_of_one_agency_as_one_agency(scratch: Path) -> None:
    # A council's SSDA903 table and a second source of the same council: one agency.
    other = dataclasses.replace(la_source("council_b"), agency="council")
    rows = [
        council("C1", "c-a", "2024-06-01 10:00", "missing"),
        council("B1", "b-a", "2024-06-02 10:00", "missing", source="council_b",
                file="council_b/f.csv"),
        police("northshire", "N1", "n-a", "2024-06-03 10:00"),
    ]  # fmt: skip
    links = [("c-a", "p", "la_child_ref"), ("b-a", "p", "same_agency_ref"),
             ("n-a", "p", "police_ref")]  # fmt: skip
    con = build_linked(scratch, rows, links, sources=(*SOURCES, other))
    assert rows_of(
        con,
        "select agencies, agency_count, sources, source_count, child_ids, "
        "council_missing_episodes, police_missing_episodes, linked_by_review from persons",
    ) == [("council, northshire", 2, "council, council_b, northshire", 3, 3, 2, 1, False)]


def test_persons_latest_values_break_a_tie_in_time_by_episode_id(scratch: Path) -> None:
    # Two forces report the child at the same minute: the later episode id is the latest.
    rows = [
        police("northshire", "N1", "n-a", "2024-03-01 10:00", sex="M"),
        police("southshire", "S1", "s-a", "2024-03-01 10:00", sex="F"),
        police("northshire", "N2", "n-a", "2024-02-01 10:00", sex="M"),
    ]
    links = [("n-a", "p-1", "model"), ("s-a", "p-1", "model")]
    con = build_linked(scratch, rows, links)
    assert rows_of(con, "select child_ids, episodes, sex from persons") == [(2, 3, "F")]


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


# --- person_repeat --------------------------------------------------------------------------

PERSON_REPEAT = (
    "select person_id, entered_repeat_at, repeat_qualifying_episode_id, repeat_entered_sources, "
    "last_repeat_at, last_repeat_sources, last_repeat_source_count from person_repeat "
    "order by person_id"
)


def test_cross_agency_3_in_90_days_boundary(scratch: Path) -> None:
    # 2024 is a leap year: 2024-03-31 is 90 days after 2024-01-01, 2024-04-01 is 91.
    rows, links = [], []
    for person, third in (("in_90", "2024-03-31 10:00"), ("out_91", "2024-04-01 10:00")):
        rows += [
            police("northshire", f"{person}-N", f"{person}-n", "2024-01-01 10:00"),
            council(f"{person}-C", f"{person}-c", "2024-02-01 10:00", "missing"),
            police("southshire", f"{person}-S", f"{person}-s", third),
        ]
        links += [(f"{person}-{s}", person, "model") for s in "ncs"]
    # The council's away episodes never count, across agencies as within one source.
    rows += [
        police("northshire", "away-N", "away-n", "2024-01-01 10:00"),
        council("away-C", "away-c", "2024-02-01 10:00", "away"),
        police("southshire", "away-S", "away-s", "2024-03-01 10:00"),
    ]
    links += [("away-n", "away", "model"), ("away-c", "away", "model"), ("away-s", "away", "model")]
    con = build_linked(scratch, rows, links)
    assert rows_of(con, PERSON_REPEAT) == [
        ("away", None, None, None, None, None, None),
        ("in_90", ts("2024-03-31 10:00"), "southshire:in_90-S", "council, northshire, southshire",
         ts("2024-03-31 10:00"), "council, northshire, southshire", 3),
        ("out_91", None, None, None, None, None, None),
    ]  # fmt: skip
    # No one source saw three episodes: the per-source measure has no one.
    assert rows_of(con, "select count(*) from repeat_missing") == [(0,)]


def test_time_to_next_episode_across_sources(scratch: Path) -> None:
    rows = [
        police("northshire", "N1", "n-a", "2024-01-01 10:00"),
        council("C1", "c-a", "2024-01-02 16:00", "missing"),
        council("C2", "c-a", "2024-01-10 10:00", "away"),  # not counted
        police("southshire", "S1", "s-a", "2024-01-05 16:00"),
        police("northshire", "L1", "n-lone", "2024-01-05 16:00"),
    ]
    links = [("n-a", "p", "model"), ("c-a", "p", "model"), ("s-a", "p", "model"),
             ("n-lone", "lone", "alone")]  # fmt: skip
    con = build_linked(scratch, rows, links)
    assert rows_of(
        con,
        "select person_id, median_days_to_next_episode, shortest_days_to_next_episode "
        "from person_repeat order by 1",
    ) == [("lone", None, None), ("p", 2.1, 1.3)]


# Episode counts in the 12 months to the run date (2024-12-31: from 2024-01-01 00:00) and
# the band each falls in; one person per case.
BANDS = {
    "one": (1, "1"),
    "five": (5, "5"),
    "six": (6, "6-10"),
    "ten": (10, "6-10"),
    "eleven": (11, "11-20"),
    "twenty": (20, "11-20"),
    "twenty_one": (21, "21-50"),
    "fifty": (50, "21-50"),
    "fifty_one": (51, "over 50"),
}


@pytest.fixture(scope="module")
def banded() -> Iterator[duckdb.DuckDBPyConnection]:
    with tempfile.TemporaryDirectory(dir=FAST_DIR) as folder:
        rows, links = [], []
        for person, (count, _) in BANDS.items():
            for i in range(count):
                # Alternate forces: the band counts the person, whichever source reported.
                source = ("northshire", "southshire")[i % 2]
                at = pd.Timestamp("2024-01-01 00:00") + pd.Timedelta(days=5 * i)
                rows.append(police(source, f"{person}-{i}", f"{person}-{source}", str(at)))
            links += [(f"{person}-{s}", person, "model") for s in ("northshire", "southshire")]
        # Just outside the 12 months, and an away episode inside: neither counts.
        rows += [
            police("northshire", "old-1", "old-n", "2023-12-31 23:59"),
            police("northshire", "old-2", "old-n", "2024-01-01 00:00"),
            council("old-3", "old-c", "2024-06-01 10:00", "away"),
        ]
        links += [("old-n", "old", "model"), ("old-c", "old", "model")]
        con = build_linked(Path(folder), rows, links)
        yield con
        con.close()


@pytest.mark.parametrize(("count", "band"), BANDS.values(), ids=BANDS.keys())
def test_episode_count_bands(banded, count, band) -> None:
    person = next(p for p, case in BANDS.items() if case == (count, band))
    assert rows_of(
        banded,
        f"select episodes_last_12_months, episode_band from person_repeat "
        f"where person_id = '{person}'",
    ) == [(count, band)]


def test_episode_count_band_window_is_12_months_to_the_run_date(banded) -> None:
    assert rows_of(
        banded,
        "select episodes_last_12_months, episode_band from person_repeat where person_id = 'old'",
    ) == [(1, "1")]


# --- at_risk_children -----------------------------------------------------------------------

AT_RISK = (
    "select priority, person_id, child_id, priority_tier, reasons, sources, source_count, "
    "episodes_last_90_days, has_open_episode, has_open_high_risk from at_risk_children "
    "order by priority"
)


def test_at_risk_order_across_agencies(scratch: Path) -> None:
    # as_of 2024-12-31: the last 90 days are [2024-10-03 00:00, 2025-01-01 00:00).
    n, s = "northshire", "southshire"
    rows = [
        police(n, "BO1", "both_open-n", "2024-12-20 10:00", risk_grade="high", returned_at=None),
        council("BO2", "both_open-c", "2024-12-21 10:00", "missing", returned_at=None),
        police(s, "OL1", "open_low-s", "2024-12-01 10:00", returned_at=None),
        police(n, "CS1", "cse-n", "2024-11-01 10:00", cse_flag="Y"),
        police(s, "HI1", "high-s", "2024-11-02 10:00", risk_grade="high"),
        police(n, "X1", "cross-n", "2024-10-10 10:00"),
        council("X2", "cross-c", "2024-11-10 10:00", "missing"),
        police(s, "X3", "cross-s", "2024-12-10 10:00"),
        police(n, "Y1", "cross2-n", "2024-10-11 10:00"),
        police(n, "Y2", "cross2-n", "2024-11-11 10:00"),
        council("Y3", "cross2-c", "2024-12-11 10:00", "missing"),
        police(n, "L1", "lone-n", "2024-10-12 10:00"),  # not linked: a person of its own
        police(n, "L2", "lone-n", "2024-11-12 10:00"),
        police(n, "L3", "lone-n", "2024-12-12 10:00"),
        police(n, "AB1", "absent-n", "2024-12-05 10:00", risk_grade="no_apparent_risk",
               looked_after="Y"),
        council("C1", "care-c", "2024-12-15 10:00", "missing"),  # the police never heard
        police(s, "R1", "roll-s", "2024-06-01 10:00"),  # an old episode; off roll since
    ]  # fmt: skip
    people = {
        "both_open": "nc", "open_low": "s", "cse": "n", "high": "s", "cross": "ncs",
        "cross2": "nc", "absent": "n", "care": "c", "roll": "s",
    }  # fmt: skip
    links = [(f"{p}-{k}", p, "model") for p, kinds in people.items() for k in kinds]
    spells = (("roll-s", "2024-12-11", None), ("roll-s", "2024-01-02", "2024-02-01"))
    con = build_linked(scratch, rows, links, spells=spells)
    assert rows_of(con, AT_RISK) == [
        (1, "both_open", "both_open-c", 1,
         "open police missing episode (northshire), high risk; "
         "open council missing episode (council); high risk in last 90 days (northshire)",
         "council, northshire", 2, 2, True, True),
        (2, "open_low", "open_low-s", 2, "open police missing episode (southshire)",
         "southshire", 1, 1, True, False),
        (3, "cse", "cse-n", 3, "CSE flag in last 90 days (northshire)", "northshire", 1, 1,
         False, False),
        (4, "high", "high-s", 4, "high risk in last 90 days (southshire)", "southshire", 1, 1,
         False, False),
        # Council missing spells 30 days from any police report of the child: a second
        # reason, so both go before the one with the repeat alone, latest report first.
        (5, "cross2", "cross2-c", 5,
         "3 episodes within 90 days across 2 sources (council, northshire); "
         "missing from care (council) with no police report in last 90 days (council)",
         "council, northshire", 2, 3, False, False),
        (6, "cross", "cross-s", 5,
         "3 episodes within 90 days across 3 sources (council, northshire, southshire); "
         "missing from care (council) with no police report in last 90 days (council)",
         "council, northshire, southshire", 3, 3, False, False),
        (7, None, "lone-n", 5, "3 episodes within 90 days (northshire)", "northshire", 1, 3,
         False, False),
        (8, "absent", "absent-n", 6, "absent decision needs review (northshire)",
         "northshire", 1, 1, False, False),
        (9, "care", "care-c", 7,
         "missing from care (council) with no police report in last 90 days (council)",
         "council", 1, 1, False, False),
        # The open spell counts to the run date; the resolved one is no reason.
        (10, "roll", "roll-s", 8, "off school roll 20 days (cme)", "southshire", 1, 0,
         False, False),
    ]  # fmt: skip
    # The per-source list keeps each source's child apart: no one source saw the repeats.
    assert rows_of(
        con, "select child_id, priority_tier from at_risk_by_source order by priority"
    ) == [
        ("both_open-n", 1), ("both_open-c", 2), ("open_low-s", 2), ("cse-n", 3),
        ("high-s", 4), ("lone-n", 5), ("absent-n", 6),
    ]  # fmt: skip


# (OPEN_EPISODE_LIMIT_DAYS, people listed, episodes found open too long) as of 2024-12-31,
# for an episode open 90 days and an SSDA903 episode left open since 2011.
OPEN_LIMITS = [
    pytest.param(60, [], ["council:L1", "northshire:N90"], id="limit_60_days"),
    pytest.param(90, [("ninety", 2)], ["council:L1"], id="limit_90_days_the_default"),
    pytest.param(6000, [("ninety", 2), ("long", 2)], [], id="limit_6000_days"),
]


@pytest.mark.parametrize(("limit", "listed", "too_long"), OPEN_LIMITS)
def test_the_open_episode_limit_is_a_setting_and_nobody_18_is_listed(
    scratch: Path, monkeypatch: pytest.MonkeyPatch, limit: int, listed: list, too_long: list
) -> None:
    from pipelines import settings

    monkeypatch.setattr(settings, "OPEN_EPISODE_LIMIT_DAYS", limit)
    rows = [
        police("northshire", "N90", "ninety-n", "2024-10-02 10:00", returned_at=None),
        council("L1", "long-c", "2011-06-01 10:00", "missing", returned_at=None,
                date_of_birth=date(2008, 1, 1)),
        # Open and high risk, but 18 on the run date: never on the list, whatever the limit.
        police("northshire", "A1", "adult-n", "2024-12-20 10:00", risk_grade="high",
               returned_at=None, date_of_birth=date(2006, 12, 31)),
    ]  # fmt: skip
    links = [("ninety-n", "ninety", "model"), ("long-c", "long", "model"),
             ("adult-n", "adult", "model")]  # fmt: skip
    con = build_linked(scratch, rows, links)
    assert (
        rows_of(con, "select person_id, priority_tier from at_risk_children order by priority")
        == listed
    )
    assert rows_of(
        con, "select child_id, priority_tier from at_risk_by_source order by priority"
    ) == [(f"{person}-{'c' if person == 'long' else 'n'}", tier) for person, tier in listed]
    assert rows_of(
        con,
        "select source || ':' || episode_ref, message from findings "
        "where rule = 'open_too_long' order by 1",
    ) == [
        (e, f"episode {e} has been open more than {limit} days with no return recorded: "
            "the source should close it or record the return")
        for e in too_long
    ]  # fmt: skip


def test_at_risk_repeat_across_agencies_only_when_completed_in_the_last_90_days(
    scratch: Path,
) -> None:
    rows = [
        police("northshire", "E1", "early-n", "2024-08-01 10:00"),
        council("E2", "early-c", "2024-08-15 10:00", "missing"),
        police("southshire", "E3", "early-s", "2024-10-02 23:59"),  # a minute before the window
        police("northshire", "W1", "edge-n", "2024-08-01 10:00"),
        council("W2", "edge-c", "2024-08-15 10:00", "missing"),
        police("southshire", "W3", "edge-s", "2024-10-03 00:00"),  # the window's first minute
    ]
    links = [(f"{p}-{k}", p, "model") for p in ("early", "edge") for k in "ncs"]
    con = build_linked(scratch, rows, links)
    assert rows_of(con, "select person_id, priority_tier, reasons from at_risk_children") == [
        ("edge", 5, "3 episodes within 90 days across 3 sources (council, northshire, southshire)")
    ]


# --- person_rhi -----------------------------------------------------------------------------


def test_one_interview_counts_for_every_return_it_follows_within_72_hours(scratch: Path) -> None:
    n = "northshire"
    rows = [
        # One interview after the third return covers the two before it where within 72 hours.
        police(n, "S1", "shared-n", "2024-05-01 01:00", returned_at="2024-05-01 08:00"),
        council("S2", "shared-c", "2024-05-02 01:00", "missing", returned_at="2024-05-02 10:00"),
        police(n, "S3", "shared-n", "2024-05-03 01:00", returned_at="2024-05-03 12:00",
               rhi_offered_at="2024-05-03 14:00", rhi_completed_at="2024-05-04 10:00"),
        council("S4", "shared-c", "2024-05-02 02:00", "away", returned_at="2024-05-02 09:00"),
        # Exactly 72 hours after the return is in; an interview before a return never covers it.
        police(n, "B1", "before-n", "2024-06-10 01:00", returned_at="2024-06-10 08:00",
               rhi_offered_at="2024-06-13 08:00"),
        police(n, "B2", "before-n", "2024-06-12 01:00", returned_at="2024-06-14 08:00"),
        police(n, "B3", "before-n", "2024-06-20 01:00", returned_at="2024-06-20 08:00",
               outcome="found_dead"),
    ]  # fmt: skip
    links = [("shared-n", "shared", "model"), ("shared-c", "shared", "model"),
             ("before-n", "before", "alone")]  # fmt: skip
    con = build_linked(scratch, rows, links)
    assert rows_of(con, "select * from person_rhi order by person_id") == [
        ("before", 2, 1, 0, 1, 0),
        ("shared", 3, 3, 2, 1, 1),
    ]


def test_person_tables_pass_their_contracts(scratch: Path) -> None:
    from pipelines.quality.curated import curated_suites

    rows = [
        police("northshire", "U1", "unlinked-1", "2024-12-20 10:00", returned_at=None),
        police("northshire", "U2", "unlinked-2", "2024-12-21 10:00", returned_at=None),
        police("northshire", "N1", "n-a", "2024-12-01 10:00", rhi_offered_at="2024-12-02 20:00"),
        council("C1", "c-a", "2024-12-10 10:00", "missing", returned_at=None),
        council("C2", "c-a", "2024-11-10 10:00", "away"),
    ]
    con = build_linked(scratch, rows, [("n-a", "p", "decision"), ("c-a", "p", "decision")])
    assert rows_of(con, "select person_id, child_id from at_risk_children order by 1, 2") == [
        ("p", "c-a"),
        (None, "unlinked-1"),
        (None, "unlinked-2"),
    ]
    con.close()
    tables = ("persons", "person_repeat", "person_rhi", "at_risk_children", "repeat_missing")
    results = curated_suites(scratch / "curated.duckdb", tables)
    failed = [(r.suite, o.rule, o.column) for r in results for o in r.outcomes if not o.success]
    assert failed == []
