"""The incoming-batch suite, generated from schemas/tables/incoming_episodes.yml: one passing
and one failing tiny case per rule, named after the rule, run through Great Expectations."""

from __future__ import annotations

import pandas as pd
import pytest
from conftest import police_source

from pipelines.ingest.batches import repeated_refs, with_repeats
from pipelines.ingest.parse import typed_episodes
from pipelines.quality.contracts import load_contract
from pipelines.quality.suites import run_suite
from pipelines.sources.record import FIELDS

GOOD = {
    "episode_ref": "E1",
    "person_ref": "P1",
    "date_of_birth": "2010-06-15",
    "reported_at": "2024-05-01 20:00",
    "last_seen_at": "2024-05-01 18:00",
    "returned_at": "2024-05-02 08:00",
    "risk_grade": "low",
}


def failures(*rows: dict) -> list[tuple[int, str, str, str]]:
    text = pd.DataFrame([{f: None for f in FIELDS} | GOOD | row for row in rows], dtype="str")
    text.index.name = "row_number"
    checked = with_repeats(
        typed_episodes(text, police_source()), repeated_refs(text["episode_ref"])
    )
    checked.insert(0, "file", "force/f.csv")
    found = run_suite(checked, load_contract("incoming_episodes")).failures
    return [
        tuple(r)
        for r in found[["row_number", "rule", "severity", "message"]].itertuples(index=False)
    ]


CASES = [
    ("required", {}, {"person_ref": None}, "person_ref is blank"),
    ("date_parses", {"returned_at": "02/05/2024 08:00"}, {"returned_at": "31/02/2024"},
     "returned_at is not a date "
     "(use YYYY-MM-DD or dd/mm/yyyy, with or without HH:MM)"),
    ("code_in_list", {"risk_grade": "No Apparent Risk"}, {"risk_grade": "severe"},
     "risk_grade is not one of the declared codes"),
    ("born_before_reported", {"date_of_birth": "2024-05-01"}, {"date_of_birth": "2024-05-02"},
     "date_of_birth is not before reported_at"),
    # A return before last seen is also before the report or after it, so a warning joins in.
    ("returned_after_last_seen",
     {"returned_at": "2024-05-01 18:00", "reported_at": "2024-05-01 17:00",
      "last_seen_at": "2024-05-01 16:00"},
     {"returned_at": "2024-05-01 15:59", "reported_at": "2024-05-01 17:00",
      "last_seen_at": "2024-05-01 16:00"},
     "returned_at is before last_seen_at, which is impossible"),
    ("reported_before_return", {"returned_at": "2024-05-01 20:00"},
     {"returned_at": "2024-05-01 19:00"},
     "returned_at is before reported_at: the report was made after the return"),
    ("last_seen_before_reported", {"last_seen_at": "2024-05-01 20:00"},
     {"last_seen_at": "2024-05-01 20:01"}, "last_seen_at is after reported_at"),
    ("date_in_range", {"extracted_at": "2024-05-02 08:00"}, {"extracted_at": "2024-05-02 07:59"},
     "returned_at is later than extracted_at (or than tomorrow, where the row has no "
     "extracted_at)"),
    # Without a last-seen time a return before the report is a negative duration; the
    # warning joins in.
    ("returned_after_reported", {"last_seen_at": None, "returned_at": "2024-05-01 20:00"},
     {"last_seen_at": None, "returned_at": "2024-05-01 19:59"},
     "returned_at is before reported_at and last_seen_at is blank (a negative duration)"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("rule", "passing", "failing", "message"), CASES, ids=[c[0] for c in CASES]
)
def test_rule(rule, passing, failing, message):
    # Both cases in one frame (each Great Expectations run has a fixed cost): the passing
    # row 0, with a reference of its own, and the failing row 1.
    found = failures(passing | {"episode_ref": "E0"}, failing)
    assert [f for f in found if f[0] == 0] == []
    assert (1, rule, message) in [(r, ru, m) for r, ru, _, m in found]
    joined = ("returned_after_last_seen", "returned_after_reported")
    also = {"reported_before_return"} if rule in joined else set()
    assert {ru for _, ru, _, _ in found} == {rule} | also


def test_one_row_per_episode():
    assert failures({}, {"episode_ref": "E2"}) == []
    message = "episode_ref appears on more than one row of this file"
    assert failures({}, {"episode_ref": "E2"}, {}) == [
        (0, "one_row_per_episode", "error", message),
        (2, "one_row_per_episode", "error", message),
    ]
    # A blank reference is its own rule's failure, not a repeat of other blanks.
    blank = "episode_ref is blank"
    assert failures({"episode_ref": None}, {"episode_ref": None}) == [
        (0, "required", "error", blank),
        (1, "required", "error", blank),
    ]


def test_severities_come_from_the_contract():
    severities = {c.rule: c.severity for c in load_contract("incoming_episodes").checks}
    assert severities == {
        "required": "error",
        "date_parses": "error",
        "code_in_list": "error",
        "born_before_reported": "error",
        "returned_after_last_seen": "error",
        "one_row_per_episode": "error",
        "date_in_range": "error",
        "returned_after_reported": "error",
        "reported_before_return": "warning",
        "last_seen_before_reported": "warning",
    }


def test_a_frame_without_a_column_a_rule_reads_stops_the_run():
    text = pd.DataFrame([{f: None for f in FIELDS} | GOOD], dtype="str")
    checked = typed_episodes(text, police_source())  # no episode_ref__repeated
    checked.insert(0, "file", "force/f.csv")
    with pytest.raises(ValueError) as raised:
        run_suite(checked, load_contract("incoming_episodes"))
    assert str(raised.value) == (
        "incoming_episodes: the frame has no column episode_ref__repeated, "
        "which rule one_row_per_episode reads"
    )
