"""Settings whose values the published interface names: the names and the values agree."""

from __future__ import annotations

from pathlib import Path

from pipelines import settings
from pipelines.cli.parser import clock, parser
from pipelines.quality.contracts import load_contract

ROOT = Path(__file__).resolve().parents[2]
HOURS = settings.RHI_WITHIN_HOURS
REPEAT = f"{settings.REPEAT_EPISODES}_in_{settings.REPEAT_WINDOW_DAYS}_days"


def test_rhi_columns_name_the_rhi_setting() -> None:
    assert f"rhi_offered_within_{HOURS}h" in load_contract("episodes").column_names
    assert {f"rhi_offered_within_{HOURS}h", f"percent_within_{HOURS}h"} <= set(
        load_contract("rhi_compliance").column_names
    )


def test_repeat_definitions_name_the_repeat_settings() -> None:
    assert load_contract("repeat_missing").column("definition").allowed == (
        REPEAT,
        f"missing_{REPEAT}",
        "more_than_1_in_financial_year",
    )


def test_at_risk_count_names_the_lookback_setting() -> None:
    column = f"episodes_last_{settings.AT_RISK_LOOKBACK_DAYS}_days"
    assert column in load_contract("at_risk_children").column_names


def test_briefing_states_the_settings_it_applies() -> None:
    text = (ROOT / "pipelines" / "briefing" / "pdf.py").read_text(encoding="utf-8")
    headline = (ROOT / "pipelines" / "briefing" / "headline.py").read_text(encoding="utf-8")
    assert headline.count(f"within {HOURS} hours") == 3
    assert f"{settings.REPEAT_EPISODES} in {settings.REPEAT_WINDOW_DAYS} days" in text


def test_schedule_in_help_and_readme_is_the_setting() -> None:
    assert (clock(settings.NIGHTLY_CRON), clock(settings.BRIEFING_CRON)) == ("02:30", "06:00")
    serve = parser()._subparsers._group_actions[0].choices["serve"]  # type: ignore[union-attr]
    assert "nightly (02:30) and monthly briefing (06:00 on the 1st)" in serve.description
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "the nightly (02:30) and monthly briefing (06:00 on the 1st) schedules" in readme


def test_reconciliation_contract_states_the_tolerance_setting() -> None:
    description = load_contract("agency_reconciliation").description
    assert description.count(f"within {settings.RECONCILIATION_TOLERANCE_HOURS} hours") == 2


# Every published column name and definition that spells a setting's value, in any contract,
# and the constants the practitioners' list and the briefing read by name: a name that
# disagrees with its setting fails here, whichever table it is in.
NAMED_VALUES = {
    # found_within_24h is a fixed definition (episodes.sql), not a setting.
    r"(?:offered|completed|percent)_within_(\d+)h\b": (HOURS,),
    r"episodes_last_(\d+)_days": (settings.AT_RISK_LOOKBACK_DAYS,),
    r"\b(?:missing_)?(\d+)_in_(\d+)_days": (settings.REPEAT_EPISODES, settings.REPEAT_WINDOW_DAYS),
}


def _published_names() -> set[str]:
    from pipelines.briefing import queries
    from pipelines.warehouse import practitioners

    names = {queries.COHORT, *queries.COHORT_DEFINITIONS, *practitioners.COLUMNS}
    for path in sorted((ROOT / "schemas" / "tables").glob("*.yml")):
        contract = load_contract(path.stem)
        names |= set(contract.column_names)
        for column in contract.columns:
            names |= {str(v) for v in column.allowed or ()}
    return names


def test_every_published_name_with_a_setting_in_it_agrees_with_the_setting() -> None:
    import re

    names = _published_names()
    found = {pattern: 0 for pattern in NAMED_VALUES}
    for name in sorted(names):
        for pattern, values in NAMED_VALUES.items():
            for match in re.finditer(pattern, name):
                found[pattern] += 1
                assert tuple(int(g) for g in match.groups()) == values, name
    # Each pattern finds the names it is for: a pattern that matched nothing would pass.
    assert all(found.values()), found
