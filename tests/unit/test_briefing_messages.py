"""Key-message rules, one table of tiny cases per rule (pipelines.briefing.messages)."""

from __future__ import annotations

import pytest

from pipelines.briefing import messages, queries
from pipelines.briefing.labels import reason_words, source_words
from pipelines.briefing.messages import Printed

MONTHS = {"month": "October 2026", "last_month": "September 2026", "year_ago": "October 2025"}


def printed(**figures: object) -> Printed:
    return Printed(**MONTHS, **figures)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("counts", "expected"),
    [
        (
            {"Episodes reported": ("72", "34", "88"), "Children reported": ("60", "25", "47")},
            "Episodes reported rose from 34 in September 2026 to 72 in October 2026 (+38), "
            "the largest change on last month of the headline counts.",
        ),
        (
            {"Episodes reported": ("30", "34", "88"), "Missing": ("10", "20", "c")},
            "Missing fell from 20 in September 2026 to 10 in October 2026 (-10), "
            "the largest change on last month of the headline counts.",
        ),
        # A hidden figure on either side is never compared: the next largest change wins.
        (
            {"Episodes reported": ("72", "c", "88"), "Children reported": ("1,060", "1,025", "9")},
            "Children reported rose from 1,025 in September 2026 to 1,060 in October 2026 "
            "(+35), the largest change on last month of the headline counts.",
        ),
        ({"Episodes reported": ("72", "72", "88")}, None),  # nothing changed
        ({"Episodes reported": ("c", "c", "c")}, None),
        ({}, None),
    ],
)
def test_largest_change(counts: dict, expected: str | None) -> None:
    assert messages.largest_change(printed(counts=counts)) == expected


@pytest.mark.parametrize(
    ("episodes", "expected"),
    [
        (
            ("72", "34", "88"),
            "72 episodes were reported in October 2026, against 88 in October 2025 (-16).",
        ),
        (
            ("88", "34", "88"),
            "88 episodes were reported in October 2026, against 88 in October 2025 (no change).",
        ),
        (("72", "34", "c"), None),
        (("c", "34", "88"), None),
    ],
)
def test_year_on_year(episodes: tuple[str, str, str], expected: str | None) -> None:
    assert messages.year_on_year(printed(counts={"Episodes reported": episodes})) == expected


@pytest.mark.parametrize(
    ("entrants", "expected"),
    [
        (
            ("12", "9"),
            "12 children newly entered the 3-in-90-days repeat cohort in October 2026 "
            "(9 in September 2026): three episodes within 90 days.",
        ),
        (
            ("12", "c"),
            "12 children newly entered the 3-in-90-days repeat cohort in October 2026: "
            "three episodes within 90 days.",
        ),
        (
            ("0", "7"),
            "0 children newly entered the 3-in-90-days repeat cohort in October 2026 "
            "(7 in September 2026): three episodes within 90 days.",
        ),
        (("c", "9"), None),
    ],
)
def test_new_to_cohort(entrants: tuple[str, str], expected: str | None) -> None:
    assert messages.new_to_cohort(printed(entrants=entrants)) == expected


GUIDANCE = "Statutory guidance expects every child to be offered one."


@pytest.mark.parametrize(
    ("rhi", "expected"),
    [
        (
            ("34% (20 of 59)", "42% (10 of 24)"),
            "34% of children's returns in October 2026 were offered a return home interview "
            f"within 72 hours (20 of 59), -8 points on September 2026. {GUIDANCE}",
        ),
        (
            ("42% (21 of 50)", "c"),
            "42% of children's returns in October 2026 were offered a return home interview "
            f"within 72 hours (21 of 50). {GUIDANCE}",
        ),
        (
            ("42% (21 of 50)", "42% (10 of 24)"),
            "42% of children's returns in October 2026 were offered a return home interview "
            f"within 72 hours (21 of 50), as in September 2026. {GUIDANCE}",
        ),
        (("c", "42% (10 of 24)"), None),
        (("z", "z"), None),
    ],
)
def test_rhi_timeliness(rhi: tuple[str, str], expected: str | None) -> None:
    assert messages.rhi_timeliness(printed(rhi=rhi)) == expected


@pytest.mark.parametrize(
    ("gaps", "expected"),
    [
        (
            {"Council recorded missing": "9", "Police missing": "6", "Total": "15"},
            "15 gaps between police and council records since records began, to October 2026; "
            "the most common: council recorded missing (9).",
        ),
        # A tie names no kind; a hidden kind is never named.
        (
            {"Council recorded missing": "5", "Police missing": "5", "Other": "c", "Total": "13"},
            "13 gaps between police and council records since records began, to October 2026.",
        ),
        (
            {"Council recorded missing": "0", "Total": "0"},
            "No gaps between police and council records since records began, to October 2026.",
        ),
        ({"Council recorded missing": "c", "Total": "c"}, None),
        ({}, None),
    ],
)
def test_cross_agency_gaps(gaps: dict[str, str], expected: str | None) -> None:
    assert messages.cross_agency_gaps(printed(gaps=gaps)) == expected


@pytest.mark.parametrize(
    ("found", "expected"),
    [
        (
            "57% (16 of 28)",
            "57% of the episodes reported in October 2026 that have ended were found within "
            "24 hours (16 of 28).",
        ),
        ("c", None),
        ("z", None),
    ],
)
def test_found_within_24h(found: str, expected: str | None) -> None:
    assert messages.found_within_24h(printed(found=found)) == expected


@pytest.mark.parametrize(
    ("figures", "rules"),
    [
        # Every rule can write: the first five, in order (the fallback is left out).
        (
            {
                "counts": {"Episodes reported": ("72", "34", "88")},
                "entrants": ("12", "9"),
                "rhi": ("42% (21 of 50)", "c"),
                "found": "57% (16 of 28)",
                "gaps": {"Total": "15"},
            },
            ["largest_change", "year_on_year", "new_to_cohort", "rhi_timeliness", "gaps"],
        ),
        # Hidden figures: the fallback fills in.
        (
            {
                "counts": {"Episodes reported": ("72", "34", "88")},
                "entrants": ("c", "9"),
                "found": "57% (16 of 28)",
            },
            ["largest_change", "year_on_year", "found_within_24h"],
        ),
    ],
)
def test_key_messages_takes_the_first_five(figures: dict, rules: list[str]) -> None:
    written = messages.key_messages(printed(**figures))
    starts = {
        "largest_change": "Episodes reported rose",
        "year_on_year": "72 episodes were reported",
        "new_to_cohort": "12 children newly entered",
        "rhi_timeliness": "42% of children's returns",
        "gaps": "15 gaps between",
        "found_within_24h": "57% of the episodes",
    }
    assert [m[: len(starts[r])] for m, r in zip(written, rules, strict=True)] == [
        starts[r] for r in rules
    ]
    assert len(written) == len(rules)


@pytest.mark.parametrize(
    ("label", "words"),
    [
        ("1004: MIS_START", "Start date missing or not a date"),
        ("567: MIS_END", "End date before start date"),
        ("required: person_ref", "Value missing (person reference)"),
        ("date_parses: reported_at", "Not a date (time reported)"),
        (
            "one_row_per_episode: episode_ref",
            "Episode listed twice in one file (episode reference)",
        ),
        ("some_new_check", "Some new check"),
    ],
)
def test_reason_words(label: str, words: str) -> None:
    assert reason_words(label) == words


@pytest.mark.parametrize(
    ("name", "words"),
    [("eastmoor", "Eastmoor"), ("riverton_la", "Riverton (council)"), ("Total", "Total")],
)
def test_source_words(name: str, words: str) -> None:
    assert source_words(name) == words


def test_synthetic_sources_are_the_generators() -> None:
    from pipelines.synth.generator import SOURCES

    assert set(queries.SYNTHETIC_SOURCES) == set(SOURCES)


@pytest.mark.parametrize(
    ("environment", "marking"),
    [({}, "OFFICIAL-SENSITIVE"), ({"WHEREABOUTS_MARKING": "OFFICIAL"}, "OFFICIAL")],
)
def test_the_marking_setting_and_its_override(environment: dict[str, str], marking: str) -> None:
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k != "WHEREABOUTS_MARKING"} | environment
    found = subprocess.run(
        [sys.executable, "-c", "from pipelines import settings; print(settings.BRIEFING_MARKING)"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert found.stdout.strip() == marking


NAN = float("nan")


@pytest.mark.parametrize(
    ("columns", "lines"),
    [
        # Absent and away hidden in most months: one line, episodes less missing and
        # undetermined, a gap where any of those is hidden, and hidden itself when small.
        (
            {
                "missing": [80, 43, NAN, 60],
                "absent": [NAN, NAN, NAN, 5],
                "away": [NAN, NAN, NAN, 7],
                "undetermined": [0, 0, 0, 0],
                "Total": [88, 46, 50, 72],
            },
            {
                "Missing": [80, 43, NAN, 60],
                "Undetermined": [0, 0, 0, 0],
                "Other (merged: Absent, Away from placement)": [8, NAN, NAN, 12],
            },
        ),
        # One category hidden in most months: nothing to merge it with.
        (
            {"missing": [80, 43], "absent": [NAN, NAN], "Total": [88, 46]},
            {"Missing": [80, 43], "Absent": [NAN, NAN]},
        ),
    ],
)
def test_merged_lines(columns: dict[str, list[float]], lines: dict[str, list[float]]) -> None:
    import pandas as pd

    from pipelines.briefing.pdf import merged_lines

    drawn = merged_lines(pd.DataFrame(columns, dtype="float64"))
    assert {k: [None if v != v else v for v in s] for k, s in drawn.items()} == {
        k: [None if v != v else v for v in s] for k, s in lines.items()
    }
