"""The "Across agencies" page's figures on tiny hand-made curated tables, case by case.

The briefing month is October 2026: the month is [2026-10-01, 2026-11-01) and its 12 months
start on 2025-11-01. The council's SSDA903 episodes (source ``council``) are those of rule
``ssda903_recorded``; a police force's carry a police rule.
"""

from __future__ import annotations

from collections.abc import Iterator

import duckdb
import pytest

from pipelines.briefing import agencies

MONTH = "2026-10"
TABLES = """
CREATE TABLE episodes (
    person_id VARCHAR, source VARCHAR, rule VARCHAR, category VARCHAR, reported_at TIMESTAMP
);
CREATE TABLE cme_episodes (
    person_id VARCHAR, child_id VARCHAR, off_roll_on DATE, resolved_on DATE,
    source VARCHAR DEFAULT 'council_cme'
);
CREATE TABLE agency_reconciliation (kind VARCHAR, month VARCHAR);
CREATE TABLE linkage_quality (
    run_id VARCHAR, measured_at TIMESTAMP, measure VARCHAR, breakdown VARCHAR, value DOUBLE
);
"""
INSERT_SPELLS = (
    "INSERT INTO cme_episodes (person_id, child_id, off_roll_on, resolved_on) VALUES (?, ?, ?, ?)"
)
FORCE, OTHER_FORCE = ("northshire", "two_tier_recorded"), ("eastmoor", "nothing_to_go_on")
COUNCIL = ("council", "ssda903_recorded")


def _episodes(person: str | None, *records: tuple[tuple[str, str], str]) -> list[tuple]:
    return [(person, source, rule, "missing", at) for (source, rule), at in records]


@pytest.fixture
def con() -> Iterator[duckdb.DuckDBPyConnection]:
    con = duckdb.connect()
    con.execute(TABLES)
    yield con
    con.close()


# Each case: episodes and spells off a school roll of one child, and the (group, in the month,
# in the 12 months) it adds to the table (None: not known to more than one agency).
KNOWN_CASES = {
    "police_and_council_in_the_month": (
        _episodes("p", (FORCE, "2026-10-05 10:00"), (COUNCIL, "2020-01-01 00:00")),
        [],
        ("police_social_care", 1, 1),
    ),
    "two_forces_first_day_of_the_12_months": (
        _episodes("p", (FORCE, "2025-11-01 00:00"), (OTHER_FORCE, "2019-03-01 00:00")),
        [],
        ("police_forces", 0, 1),
    ),
    "two_forces_a_minute_before_the_12_months": (
        _episodes("p", (FORCE, "2025-10-31 23:59"), (OTHER_FORCE, "2019-03-01 00:00")),
        [],
        ("police_forces", 0, 0),
    ),
    "one_force_twice_is_one_agency": (
        _episodes("p", (FORCE, "2026-10-05 10:00"), (FORCE, "2026-10-06 10:00")),
        [],
        None,
    ),
    "off_roll_all_month_with_an_old_police_episode": (
        _episodes("p", (FORCE, "2019-01-01 00:00")),
        [("p", "k", "2025-06-01", None)],
        ("police_education", 1, 1),
    ),
    "off_roll_and_resolved_before_the_12_months": (
        _episodes("p", (FORCE, "2019-01-01 00:00")),
        [("p", "k", "2024-01-01", "2024-02-01")],
        ("police_education", 0, 0),
    ),
    "council_record_after_the_month_is_not_known_yet": (
        _episodes("p", (FORCE, "2026-10-10 10:00"), (COUNCIL, "2026-11-01 00:00")),
        [],
        None,
    ),
    "last_minute_of_the_month_with_a_spell_resolved_in_the_year": (
        _episodes("p", (COUNCIL, "2026-10-31 23:59")),
        [("p", "k", "2026-01-05", "2026-02-01")],
        ("social_care_education", 1, 1),
    ),
    "all_three": (
        _episodes("p", (FORCE, "2026-02-01 10:00"), (COUNCIL, "2026-02-01 09:00")),
        [("p", "k", "2026-03-01", None)],
        ("police_social_care_education", 1, 1),
    ),
    "unlinked_child_ids_are_no_one_across_agencies": (
        _episodes(None, (FORCE, "2026-10-05 10:00"), (COUNCIL, "2026-10-05 11:00")),
        [(None, "k", "2026-10-01", None)],
        None,
    ),
}


@pytest.mark.parametrize("case", KNOWN_CASES)
def test_children_known_to_more_than_one_agency(con, case):
    episodes, spells, expected = KNOWN_CASES[case]
    con.executemany("INSERT INTO episodes VALUES (?, ?, ?, ?, ?)", episodes)
    if spells:
        con.executemany(INSERT_SPELLS, spells)
    table = agencies.known_to_several(con, MONTH)
    assert list(table.index) == list(agencies.labels.AGENCY_GROUPS)
    rows = {(g, m, y) for g, m, y in table.itertuples() if m or y}
    assert rows == ({expected} if expected and (expected[1] or expected[2]) else set())


def test_episode_bands_count_linked_episodes_other_than_away_in_the_12_months(con):
    rows = _episodes("six", *[(FORCE, f"2026-0{d}-01 10:00") for d in range(1, 7)])
    rows += _episodes("one", (FORCE, "2025-11-01 00:00"), (FORCE, "2025-10-31 23:59"))
    rows += _episodes("none", (FORCE, "2026-11-01 00:00"))
    rows += _episodes(None, (FORCE, "2026-10-01 10:00"))
    rows += [("one", "council", "ssda903_recorded", "away", "2026-10-01 10:00")]
    rows += _episodes("fifty-one", *[(FORCE, f"2026-10-01 10:{m:02d}") for m in range(51)])
    con.executemany("INSERT INTO episodes VALUES (?, ?, ?, ?, ?)", rows)
    bands = agencies.episode_bands(con, MONTH)
    assert bands.to_dict() == {
        "1": 1, "2": 0, "3": 0, "4": 0, "5": 0, "6-10": 1, "11-20": 0, "21-50": 0, "over 50": 1,
    }  # fmt: skip


def test_reconciliation_gaps_by_month_and_kind_in_the_12_months(con):
    gaps = [
        ("council_missing_no_police_report", "2025-10"),  # before the 12 months
        ("council_missing_no_police_report", "2025-11"),
        ("council_missing_no_police_report", "2025-11"),
        ("looked_after_unknown_to_council", "2026-10"),
        ("police_missing_no_council_episode", "2026-10"),
        ("police_missing_no_council_episode", "2026-11"),  # after the month
    ]
    con.executemany("INSERT INTO agency_reconciliation VALUES (?, ?)", gaps)
    table = agencies.reconciliation(con, MONTH)
    assert list(table.index) == [f"2025-{m}" for m in ("11", "12")] + [
        f"2026-{m:02d}" for m in range(1, 11)
    ]
    assert list(table.columns) == list(agencies.labels.RECONCILIATION)
    assert table.to_numpy().sum() == 4
    assert table.loc["2025-11"].tolist() == [2, 0, 0]
    assert table.loc["2026-10"].tolist() == [0, 1, 1]


def test_spells_off_a_school_roll_and_children_still_off_at_the_month_end(con):
    spells = [
        ("a", "ka", "2026-10-03", None),  # began in the month, still off
        ("b", "kb", "2026-09-01", "2026-10-31"),  # resolved in the month
        ("c", "kc", "2026-01-05", "2026-11-01"),  # began before; still off at the month's end
        ("c", "kc", "2025-11-01", "2025-12-01"),  # began and resolved before, first day
        ("d", "kd", "2025-10-31", "2025-11-30"),  # began a day before the 12 months
        (None, "ke", "2026-10-31", None),  # not linked: still a child off roll
        ("f", "kf", "2026-11-01", None),  # after the month
    ]
    con.executemany(INSERT_SPELLS, spells)
    found = agencies.missing_education(con, MONTH)
    assert found["spells"].to_dict("index") == {
        "began": {"month": 2, "before": 3},
        "resolved": {"month": 1, "before": 2},
    }
    assert found["still_off"] == 3


def test_linkage_quality_of_the_latest_run_only(con):
    rows = [
        ("old", "2026-01-01 02:00", "persons", "all", 10.0),
        ("old", "2026-01-01 02:00", "links", "shared_upn", 7.0),
        ("new", "2026-11-01 02:00", "persons", "all", 20.0),
        ("new", "2026-11-01 02:00", "review_backlog", "all", 3.0),
        ("new", "2026-11-01 02:00", "links", "model", 3.0),
        ("new", "2026-11-01 02:00", "links", "same_agency_ref", 15.0),
        ("new", "2026-11-01 02:00", "links", "a_new_rule", 1.0),
        ("new", "2026-11-01 02:00", "precision", "all", 0.99),
        ("new", "2026-11-01 02:00", "precision", "sex=F", 0.5),
    ]
    con.executemany("INSERT INTO linkage_quality VALUES (?, ?, ?, ?, ?)", rows)
    found = agencies.linkage(con)
    assert found["overall"] == {"persons": 20.0, "review_backlog": 3.0, "precision": 0.99}
    assert found["links"].to_dict() == {"same_agency_ref": 15, "model": 3, "a_new_rule": 1}
