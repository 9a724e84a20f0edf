"""The decision table (schemas/classification.yml) against the real SQL build: one case per
rule, the regime of each source by date, the analysts' settings and rules, the table stated
once (YAML, SQL, contract and docs agree), and properties over random episodes."""

from __future__ import annotations

import re
import tempfile
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from pathlib import Path

import duckdb
import pandas as pd
import pytest
import yaml
from conftest import FAST_DIR, build_curated, episode, examples, la_source, police_source, rows_of
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import pipelines.warehouse.build
from pipelines.quality.contracts import load_contract
from pipelines.settings import CLASSIFICATION_FILE
from pipelines.sources.declarations import RegimeChange
from pipelines.warehouse import classification
from pipelines.warehouse.models import load_models

# Builds in memory-backed storage where there is some: no waiting on disk syncs.

CLASSIFIED_SQL = load_models()["int_episodes_classified"].path
TABLE = yaml.safe_load(CLASSIFICATION_FILE.read_text(encoding="utf-8"))
RULES = classification.classification_rules()
RULE_IDS = [r.rule for r in RULES]

SINGLE, TWO_TIER, CONTINUUM = "2012-05-01 20:00", "2015-05-01 20:00", "2020-05-01 20:00"

# One tiny episode per row of the decision table: (overrides, (category, basis, rule, regime)).
DECISION_TABLE = {
    "ssda903_recorded": (
        dict(source="council", recorded_category="away", risk_grade="no_apparent_risk"),
        ("away", "recorded", "ssda903_recorded", None),
    ),
    "two_tier_escalated": (
        dict(reported_at=TWO_TIER, recorded_category="absent", risk_grade="medium"),
        ("missing", "escalated", "two_tier_escalated", "two_tier"),
    ),
    "two_tier_recorded": (
        dict(reported_at=TWO_TIER, recorded_category="absent", risk_grade="low"),
        ("absent", "recorded", "two_tier_recorded", "two_tier"),
    ),
    "two_tier_risk_grade": (
        dict(reported_at=TWO_TIER, risk_grade="no_apparent_risk"),
        ("absent", "risk_grade", "two_tier_risk_grade", "two_tier"),
    ),
    "continuum_escalated": (
        dict(reported_at=CONTINUUM, initial_risk_grade="no_apparent_risk", risk_grade="low"),
        ("missing", "escalated", "continuum_escalated", "continuum"),
    ),
    "continuum_risk_grade": (
        dict(reported_at=CONTINUUM, recorded_category="missing", risk_grade="no_apparent_risk"),
        ("absent", "risk_grade", "continuum_risk_grade", "continuum"),
    ),
    "continuum_recorded": (
        dict(reported_at=CONTINUUM, recorded_category="absent"),
        ("absent", "recorded", "continuum_recorded", "continuum"),
    ),
    "single_cse": (
        dict(reported_at=SINGLE, cse_flag="Y", risk_grade="no_apparent_risk"),
        ("missing", "derived", "single_cse", "single"),
    ),
    "single_low_risk": (
        dict(reported_at=SINGLE, recorded_category="missing", risk_grade="low"),
        ("absent", "derived", "single_low_risk", "single"),
    ),
    "single_high_risk": (
        dict(reported_at=SINGLE, recorded_category="missing", risk_grade="medium"),
        ("missing", "derived", "single_high_risk", "single"),
    ),
    "nothing_to_go_on": (
        dict(reported_at=CONTINUUM),
        ("undetermined", "none", "nothing_to_go_on", "continuum"),
    ),
}

# Further cases at the edges of the rules, built in the same database.
EDGES = {
    "ssda903_missing_is_missing": (
        dict(source="council", recorded_category="missing"),
        ("missing", "recorded", "ssda903_recorded", None),
    ),
    "two_tier_escalated_by_initial_grade": (
        dict(reported_at=TWO_TIER, recorded_category="absent", initial_risk_grade="high"),
        ("missing", "escalated", "two_tier_escalated", "two_tier"),
    ),
    "two_tier_recorded_missing_low": (
        dict(reported_at=TWO_TIER, recorded_category="missing", risk_grade="no_apparent_risk"),
        ("missing", "recorded", "two_tier_recorded", "two_tier"),
    ),
    "two_tier_risk_grade_low_is_missing": (
        dict(reported_at=TWO_TIER, initial_risk_grade="low"),
        ("missing", "risk_grade", "two_tier_risk_grade", "two_tier"),
    ),
    "two_tier_nothing": (
        dict(reported_at=TWO_TIER, cse_flag="Y"),
        ("undetermined", "none", "nothing_to_go_on", "two_tier"),
    ),
    "continuum_initial_only_no_apparent_risk": (
        dict(reported_at=CONTINUUM, initial_risk_grade="no_apparent_risk"),
        ("absent", "risk_grade", "continuum_risk_grade", "continuum"),
    ),
    "continuum_low_to_high_not_escalated": (
        dict(reported_at=CONTINUUM, initial_risk_grade="low", risk_grade="high"),
        ("missing", "risk_grade", "continuum_risk_grade", "continuum"),
    ),
    "continuum_grade_beats_recorded_absent": (
        dict(reported_at=CONTINUUM, recorded_category="absent", risk_grade="low"),
        ("missing", "risk_grade", "continuum_risk_grade", "continuum"),
    ),
    "single_cse_without_grade": (
        dict(reported_at=SINGLE, cse_flag="Y"),
        ("missing", "derived", "single_cse", "single"),
    ),
    "single_initial_grade_only": (
        dict(reported_at=SINGLE, initial_risk_grade="no_apparent_risk"),
        ("absent", "derived", "single_low_risk", "single"),
    ),
    "single_high": (
        dict(reported_at=SINGLE, risk_grade="high"),
        ("missing", "derived", "single_high_risk", "single"),
    ),
    "single_recorded_only": (
        dict(reported_at=SINGLE, recorded_category="missing"),
        ("undetermined", "none", "nothing_to_go_on", "single"),
    ),
}

CLASSIFIED = "select category, category_basis, rule, regime from episodes where episode_ref = ?"


def rows_of_params(con, sql: str, params: list) -> list[tuple]:
    return con.execute(sql, params).fetchall()


def _case_rows(cases: dict) -> list[dict]:
    rows = []
    for i, (name, (overrides, _)) in enumerate(cases.items()):
        source = overrides.get("source", "force")
        rows.append(
            episode(
                **{
                    "episode_ref": name,
                    "child_id": f"{source}-child-{i}",
                    "file": f"{source}/f.csv",
                    **overrides,
                }
            )
        )
    return rows


@pytest.fixture
def scratch() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(dir=FAST_DIR) as folder:
        yield Path(folder)


@pytest.fixture(scope="module")
def table_db():
    """Every case of the decision table and its edges, in one build."""
    with tempfile.TemporaryDirectory(dir=FAST_DIR) as folder:
        con = build_curated(
            Path(folder), _case_rows(DECISION_TABLE | EDGES), [police_source(), la_source()]
        )
        yield con
        con.close()


@pytest.mark.parametrize("rule", list(DECISION_TABLE))
def test_decision_table_row(table_db, rule: str) -> None:
    expected = DECISION_TABLE[rule][1]
    assert expected[2] == rule
    assert rows_of_params(table_db, CLASSIFIED, [rule]) == [expected]


@pytest.mark.parametrize("case", list(EDGES))
def test_decision_table_edges(table_db, case: str) -> None:
    assert rows_of_params(table_db, CLASSIFIED, [case]) == [EDGES[case][1]]


def test_every_table_row_has_a_case() -> None:
    assert list(DECISION_TABLE) == RULE_IDS


# --- regimes -------------------------------------------------------------------------------

DECLARED = (
    RegimeChange(starts=date(2016, 1, 1), regime="two_tier"),
    RegimeChange(starts=date(2018, 6, 1), regime="continuum"),
)


def test_regime_by_declaration_and_national_dates(scratch: Path) -> None:
    """The same recorded absent, low-risk report, classified by the regime in force."""
    times = {
        "declared": [
            "2015-12-31 23:59",
            "2016-01-01 00:00",
            "2018-05-31 23:59",
            "2018-06-01 00:00",
        ],
        "early": ["2009-12-31 23:59", "2010-01-01 00:00", "2014-01-01 12:00"],
        "national": [
            "2013-03-31 23:59",
            "2013-04-01 00:00",
            "2016-12-31 23:59",
            "2017-01-01 00:00",
        ],
    }
    rows = [
        episode(
            source=source,
            file=f"{source}/f.csv",
            episode_ref=f"{i}",
            child_id=f"{source}-{i}",
            reported_at=at,
            recorded_category="absent",
            risk_grade="low",
        )
        for source, ats in times.items()
        for i, at in enumerate(ats)
    ]
    sources = [
        police_source("declared", DECLARED),
        police_source("early", (RegimeChange(date(2010, 1, 1), "continuum"),)),
        police_source("national"),
    ]
    con = build_curated(scratch, rows, sources)
    single = ("single", "single_low_risk", "absent")
    two_tier = ("two_tier", "two_tier_recorded", "absent")
    continuum = ("continuum", "continuum_risk_grade", "missing")
    assert rows_of(
        con,
        "select source, reported_at, regime, rule, category from episodes "
        "order by source, reported_at",
    ) == [
        ("declared", datetime(2015, 12, 31, 23, 59), *single),
        ("declared", datetime(2016, 1, 1), *two_tier),
        ("declared", datetime(2018, 5, 31, 23, 59), *two_tier),
        ("declared", datetime(2018, 6, 1), *continuum),
        ("early", datetime(2009, 12, 31, 23, 59), *single),
        ("early", datetime(2010, 1, 1), *continuum),
        ("early", datetime(2014, 1, 1, 12), *continuum),
        ("national", datetime(2013, 3, 31, 23, 59), *single),
        ("national", datetime(2013, 4, 1), *two_tier),
        ("national", datetime(2016, 12, 31, 23, 59), *two_tier),
        ("national", datetime(2017, 1, 1), *continuum),
    ]


def test_ssda903_away_stays_away(scratch: Path) -> None:
    """Away is never absent, whatever the grade, flags or date; it has no police regime."""
    base = dict(source="council", file="council/f.csv", child_id="la-1", recorded_category="away")
    rows = [
        episode(**base, episode_ref="A1", reported_at=SINGLE, risk_grade="low"),
        episode(**base, episode_ref="A2", reported_at=TWO_TIER, risk_grade="no_apparent_risk"),
        episode(**base, episode_ref="A3", reported_at=CONTINUUM, cse_flag="Y", looked_after="Y"),
        episode(**base, episode_ref="A4", reported_at="2020-05-20 10:00"),
        episode(**base, episode_ref="A5", reported_at="2020-06-01 10:00"),
    ]
    con = build_curated(scratch, rows, [la_source()])
    assert rows_of(
        con,
        "select episode_ref, category, category_basis, rule, regime, absent_needs_review, "
        "review_reasons from episodes order by episode_ref",
    ) == [(f"A{i}", "away", "recorded", "ssda903_recorded", None, False, None) for i in range(1, 6)]
    assert rows_of(con, "select count(*) from repeat_missing") == [(0,)]


# --- settings ------------------------------------------------------------------------------


def _patched(monkeypatch: pytest.MonkeyPatch, **changes) -> None:
    modified = TABLE["settings"] | changes
    monkeypatch.setattr(
        pipelines.warehouse.build, "classification_settings", lambda: dict(modified)
    )


def test_single_absent_grades_setting_changes_the_outcome(
    scratch: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _patched(monkeypatch, single_absent_grades=["no_apparent_risk"])
    rows = [
        episode(episode_ref=f"S{i}", child_id=f"c{i}", reported_at=SINGLE, risk_grade=grade)
        for i, grade in enumerate(["no_apparent_risk", "low", "medium"])
    ]
    con = build_curated(scratch, rows)
    assert rows_of(con, "select episode_ref, category, rule from episodes order by 1") == [
        ("S0", "absent", "single_low_risk"),
        ("S1", "missing", "single_high_risk"),
        ("S2", "missing", "single_high_risk"),
    ]


def test_single_absent_grades_can_widen(scratch: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _patched(monkeypatch, single_absent_grades=["no_apparent_risk", "low", "medium"])
    rows = [
        episode(episode_ref=f"S{i}", child_id=f"c{i}", reported_at=SINGLE, risk_grade=grade)
        for i, grade in enumerate(["medium", "high"])
    ]
    con = build_curated(scratch, rows)
    assert rows_of(con, "select episode_ref, category, rule from episodes order by 1") == [
        ("S0", "absent", "single_low_risk"),
        ("S1", "missing", "single_high_risk"),
    ]


def test_national_regimes_setting_applies_to_undeclared_sources_only(
    scratch: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _patched(monkeypatch, national_regimes=[{"from": "2014-01-01", "regime": "continuum"}])
    rows = [
        episode(episode_ref="N1", child_id="n1", reported_at="2013-12-31 23:59"),
        episode(episode_ref="N2", child_id="n2", reported_at="2014-01-01 00:00"),
        episode(
            source="declared", file="declared/f.csv", episode_ref="D1", child_id="d1",
            reported_at="2016-06-01 00:00",
        ),
    ]  # fmt: skip
    con = build_curated(scratch, rows, [police_source(), police_source("declared", DECLARED)])
    assert rows_of(con, "select episode_ref, regime from episodes order by 1") == [
        ("D1", "two_tier"),
        ("N1", "single"),
        ("N2", "continuum"),
    ]


# --- the decision table is stated once ----------------------------------------------------


def _case_branches() -> list[tuple[str, str]]:
    """(rule id, regime it tests) for each branch of the rule CASE, in first-match order."""
    sql = re.sub(r"--[^\n]*", "", CLASSIFIED_SQL.read_text(encoding="utf-8"))
    case = re.search(r"\bcase\b(.*?)\bend as rule\b", sql, re.S)
    assert case, "no `case ... end as rule` in int_episodes_classified.sql"
    branches = []
    for condition, rule in re.findall(r"\bwhen\b(.*?)\bthen\s+'([^']*)'", case.group(1), re.S):
        regime = re.search(r"\bregime\s*=\s*'([a-z_]+)'", condition)
        ssda903 = re.search(r"\blayout\s*=\s*'ssda903_missing'", condition)
        branches.append((rule, "SSDA903" if ssda903 else regime.group(1) if regime else "?"))
    otherwise = re.search(r"\belse\s+'([^']*)'\s*$", case.group(1))
    assert otherwise, "the rule CASE needs an `else` rule: every episode gets one"
    return [*branches, (otherwise.group(1), "any")]


def test_sql_rule_case_follows_the_yaml_in_order() -> None:
    """The conditions are SQL, the rest YAML: both must name the same rules in the same order,
    each testing the regime the YAML gives it."""
    assert [rule for rule, _ in _case_branches()] == RULE_IDS, (
        "the rule CASE in int_episodes_classified.sql and `rules:` in schemas/classification.yml "
        "must list the same rule ids in the same (first-match) order"
    )
    assert _case_branches() == [(r.rule, r.regime) for r in RULES]


def test_sql_names_each_rule_only_in_the_rule_case() -> None:
    """Outcomes per rule come from the YAML alone, not from a second CASE in the SQL."""
    sql = re.sub(r"--[^\n]*", "", CLASSIFIED_SQL.read_text(encoding="utf-8"))
    assert {rule: sql.count(f"'{rule}'") for rule in RULE_IDS} == dict.fromkeys(RULE_IDS, 1)


def test_contract_allows_exactly_the_yaml_rule_ids() -> None:
    assert load_contract("episodes").column("rule").allowed == tuple(RULE_IDS), (
        "`allowed:` of column rule in schemas/tables/episodes.yml must be the rule ids of "
        "schemas/classification.yml, in order"
    )


def test_classification_doc_table_is_generated_from_the_yaml() -> None:
    doc = classification.DOC.read_text(encoding="utf-8")
    assert doc == classification.render(doc), (
        "docs/classification.md is stale: "
        "run .venv/bin/python -m pipelines.warehouse.classification"
    )


def _edited(text: str, rule: str, key: str, old: str, new: str) -> str:
    """The classification file with one rule's `key` changed, as an analyst would edit it."""
    lines = text.splitlines(keepends=True)
    (i,) = [i for i, line in enumerate(lines) if f"{{rule: {rule}," in line]
    assert lines[i].count(f"{key}: {old}") == 1
    lines[i] = lines[i].replace(f"{key}: {old}", f"{key}: {new}")
    return "".join(lines)


def test_editing_rules_in_the_yaml_changes_the_build(
    scratch: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rows = [
        episode(episode_ref="S", child_id="s", reported_at=SINGLE, risk_grade="low"),
        episode(
            episode_ref="T", child_id="t", reported_at=TWO_TIER, recorded_category="absent",
            risk_grade="low",
        ),
        episode(episode_ref="C", child_id="c", reported_at=CONTINUUM, risk_grade="low"),
    ]  # fmt: skip
    query = "select episode_ref, category, category_basis, rule from episodes order by 1"
    (scratch / "committed").mkdir()
    con = build_curated(scratch / "committed", rows)
    assert rows_of(con, query) == [
        ("C", "missing", "risk_grade", "continuum_risk_grade"),
        ("S", "absent", "derived", "single_low_risk"),
        ("T", "absent", "recorded", "two_tier_recorded"),
    ]
    con.close()

    text = CLASSIFICATION_FILE.read_text(encoding="utf-8")
    text = _edited(text, "single_low_risk", "category", "absent", "missing")
    text = _edited(text, "two_tier_recorded", "category", "as_recorded", "by_risk_grade")
    text = _edited(text, "two_tier_recorded", "basis", "recorded", "risk_grade")
    edited = scratch / "classification.yml"
    edited.write_text(text, encoding="utf-8")
    monkeypatch.setattr("pipelines.settings.CLASSIFICATION_FILE", edited)
    (scratch / "edited").mkdir()
    con = build_curated(scratch / "edited", rows)
    assert rows_of(con, query) == [
        ("C", "missing", "risk_grade", "continuum_risk_grade"),
        ("S", "missing", "derived", "single_low_risk"),
        ("T", "missing", "risk_grade", "two_tier_recorded"),
    ]
    con.close()


BAD_RULES = {
    "category": (
        ("single_cse", "category", "missing", "lost"),
        "rule single_cse: unknown category 'lost'",
    ),
    "basis": (("single_cse", "basis", "derived", "guessed"), "rule single_cse: unknown basis"),
    "regime": (("single_cse", "regime", "single", "twotier"), "rule single_cse: unknown regime"),
    "duplicate": (
        ("single_high_risk", "rule", "single_high_risk", "single_cse"),
        "rule single_cse: duplicate rule id",
    ),
    "key": (("single_cse", "basis", "derived", "derived, note: x"), "rule single_cse: needs"),
}


@pytest.mark.parametrize(("edit", "message"), BAD_RULES.values(), ids=BAD_RULES.keys())
def test_a_bad_rule_is_refused_in_one_line(scratch: Path, edit: tuple, message: str) -> None:
    path = scratch / "classification.yml"
    path.write_text(_edited(CLASSIFICATION_FILE.read_text(encoding="utf-8"), *edit))
    with pytest.raises(ValueError) as raised:
        classification.classification_rules(path)
    assert str(raised.value).startswith(f"{path}: {message}")
    assert "\n" not in str(raised.value)


def test_a_rule_missing_from_the_yaml_stops_the_build(
    scratch: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Its episodes are not published without a category."""
    text = CLASSIFICATION_FILE.read_text(encoding="utf-8")
    (line,) = [line for line in text.splitlines(keepends=True) if "{rule: single_cse," in line]
    edited = scratch / "classification.yml"
    edited.write_text(text.replace(line, ""), encoding="utf-8")
    monkeypatch.setattr("pipelines.settings.CLASSIFICATION_FILE", edited)
    rows = [episode(reported_at=SINGLE, cse_flag="Y")]
    with pytest.raises(duckdb.Error, match="rule single_cse is not in schemas/classification"):
        build_curated(scratch, rows)


# --- properties over random episodes -------------------------------------------------------

GRADES = [None, "no_apparent_risk", "low", "medium", "high"]
ORDER = {g: i for i, g in enumerate(GRADES[1:])}
NATIONAL = [(datetime(2013, 4, 1), "two_tier"), (datetime(2017, 1, 1), "continuum")]
DECLARED_AT = [(datetime(c.starts.year, c.starts.month, c.starts.day), c.regime) for c in DECLARED]
SOURCES = {"national": NATIONAL, "declared": DECLARED_AT, "council": None}
START = datetime(2010, 1, 1)

random_episode = st.fixed_dictionaries(
    {
        "source": st.sampled_from(list(SOURCES)),
        "child": st.integers(0, 4),
        # Mostly bunched so repeat windows are met; sometimes spread over the regimes.
        "minutes": st.one_of(
            st.integers(0, 60 * 24 * 365 * 14),
            st.integers(60 * 24 * 365 * 7, 60 * 24 * (365 * 7 + 200)),
        ),
        "recorded": st.sampled_from([None, "missing", "absent"]),
        "la_code": st.sampled_from(["missing", "away"]),
        "initial": st.sampled_from(GRADES),
        "risk": st.sampled_from(GRADES),
        "cse": st.sampled_from(["Y", "N", None]),
        "looked_after": st.sampled_from(["Y", "N", None]),
    }
)


def _expected_classification(e: dict) -> tuple[str, str, str, str | None]:
    """The decision table of docs/classification.md, written again in Python."""
    if SOURCES[e["source"]] is None:
        return e["la_code"], "recorded", "ssda903_recorded", None
    regime = "single"
    for starts, changed in SOURCES[e["source"]]:
        if e["reported_at"] >= starts:
            regime = changed
    recorded, initial, highest = e["recorded"], e["initial"], e["risk"] or e["initial"]
    by_grade = "absent" if highest == "no_apparent_risk" else "missing"
    if regime == "two_tier":
        if recorded == "absent" and highest in ("medium", "high"):
            return "missing", "escalated", "two_tier_escalated", regime
        if recorded:
            return recorded, "recorded", "two_tier_recorded", regime
        if highest:
            return by_grade, "risk_grade", "two_tier_risk_grade", regime
    if regime == "continuum":
        if initial == "no_apparent_risk" and highest != "no_apparent_risk":
            return "missing", "escalated", "continuum_escalated", regime
        if highest:
            return by_grade, "risk_grade", "continuum_risk_grade", regime
        if recorded:
            return recorded, "recorded", "continuum_recorded", regime
    if regime == "single":
        if e["cse"] == "Y":
            return "missing", "derived", "single_cse", regime
        if highest in ("no_apparent_risk", "low"):
            return "absent", "derived", "single_low_risk", regime
        if highest:
            return "missing", "derived", "single_high_risk", regime
    return "undetermined", "none", "nothing_to_go_on", regime


def _expected_reviews(episodes: list[dict], categories: dict) -> dict:
    """episode_ref -> (absent_needs_review, review_reasons), from each child's history."""
    out = {}
    by_child: dict[str, list[dict]] = {}
    for e in episodes:
        by_child.setdefault(e["child_id"], []).append(e)
    for history in by_child.values():
        history.sort(key=lambda e: (e["reported_at"], f"{e['source']}:{e['ref']}"))
        cse = in_cohort = False
        counted: list[datetime] = []
        for e in history:
            cse = cse or e["cse"] == "Y"
            if categories[e["ref"]] != "away":
                counted.append(e["reported_at"])
                if len(counted) >= 3 and counted[-1] <= counted[-3] + timedelta(days=90):
                    in_cohort = True
            reasons = [
                name
                for name, flag in [
                    ("cse_flag", cse),
                    ("looked_after", e["looked_after"] == "Y"),
                    ("repeat_3_in_90_days", in_cohort),
                ]
                if flag
            ]
            if categories[e["ref"]] == "absent":
                out[e["ref"]] = (bool(reasons), "; ".join(reasons) or None)
            else:
                out[e["ref"]] = (False, None)
    return out


@settings(
    max_examples=examples(40),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(st.lists(random_episode, min_size=1, max_size=30))
def test_classification_properties(drawn: list[dict]) -> None:
    episodes = []
    for i, e in enumerate(drawn):
        at = START + timedelta(minutes=e["minutes"])
        e = e | {"ref": f"R{i:02d}", "reported_at": at, "child_id": f"{e['source']}-{e['child']}"}
        if e["source"] == "council":
            e |= {"recorded": e["la_code"], "initial": None, "risk": None, "cse": None}
        episodes.append(e)
    rows = [
        episode(
            source=e["source"],
            file=f"{e['source']}/f.csv",
            episode_ref=e["ref"],
            child_id=e["child_id"],
            reported_at=pd.Timestamp(e["reported_at"]),
            recorded_category=e["recorded"],
            initial_risk_grade=e["initial"],
            risk_grade=e["risk"],
            cse_flag=e["cse"],
            looked_after=e["looked_after"],
        )
        for e in episodes
    ]
    sources = [police_source("national"), police_source("declared", DECLARED), la_source()]
    with tempfile.TemporaryDirectory(dir=FAST_DIR) as folder:
        con = build_curated(Path(folder), rows, sources)
        found = rows_of(
            con,
            "select episode_ref, source, category, category_basis, rule, regime, "
            "risk_grade, initial_risk_grade, absent_needs_review, review_reasons "
            "from episodes order by episode_ref",
        )
        con.close()

    # Exactly one row, so exactly one category, per episode; always one of the four.
    assert [r[0] for r in found] == [e["ref"] for e in episodes]
    for ref, source, category, _, _, _, risk, initial, needs_review, _ in found:
        assert category in ("missing", "absent", "away", "undetermined"), ref
        if category == "absent":
            assert (risk or initial) not in ("medium", "high"), ref
        if category == "away":
            assert source == "council", ref
        if category != "absent":
            assert needs_review is False, ref
    # The decision table, exactly.
    assert {r[0]: r[2:6] for r in found} == {
        e["ref"]: _expected_classification(e) for e in episodes
    }
    categories = {r[0]: r[2] for r in found}
    assert {r[0]: (r[8], r[9]) for r in found} == _expected_reviews(episodes, categories)


# --- absent decisions needing review -------------------------------------------------------


def test_absent_needs_review(scratch: Path) -> None:
    def absent(ref: str, child: str, at: str, **more) -> dict:
        return episode(
            episode_ref=ref, child_id=child, reported_at=at, recorded_category="absent", **more
        )

    def missing(ref: str, child: str, at: str, **more) -> dict:
        return episode(
            episode_ref=ref, child_id=child, reported_at=at, recorded_category="missing", **more
        )

    rows = [
        absent("cse_here", "c1", "2015-05-01 10:00", cse_flag="Y"),
        missing("cse_before_1", "c2", "2015-01-01 10:00", cse_flag="Y"),
        absent("cse_before_2", "c2", "2015-06-01 10:00"),
        absent("cse_after_1", "c3", "2015-01-01 10:00"),
        missing("cse_after_2", "c3", "2015-06-01 10:00", cse_flag="Y"),
        absent("looked_after", "c4", "2015-05-01 10:00", looked_after="Y"),
        missing("repeat_1", "c5", "2015-01-01 10:00"),
        missing("repeat_2", "c5", "2015-01-10 10:00"),
        absent("repeat_3", "c5", "2015-01-20 10:00"),
        absent("repeat_later", "c5", "2016-11-01 10:00"),
        missing("all_1", "c6", "2015-02-01 10:00", cse_flag="Y", looked_after="Y"),
        missing("all_2", "c6", "2015-02-02 10:00", looked_after="Y"),
        absent("all_3", "c6", "2015-02-03 10:00", looked_after="Y"),
        absent("none", "c7", "2015-05-01 10:00", cse_flag="N", looked_after=None),
        episode(episode_ref="undetermined", child_id="c8", reported_at="2015-05-01 10:00",
                cse_flag="Y", looked_after="Y"),
        absent("two_low", "c9", "2015-03-01 10:00"),
        absent("two_grade", "c9", "2015-03-02 10:00", initial_risk_grade="no_apparent_risk"),
        absent("not_yet", "c9", "2015-06-01 10:00"),
    ]  # fmt: skip
    con = build_curated(scratch, rows)
    assert rows_of(
        con,
        "select episode_ref, category, absent_needs_review, review_reasons, "
        "in_repeat_cohort_at_report from episodes order by child_id, reported_at",
    ) == [
        ("cse_here", "absent", True, "cse_flag", False),
        ("cse_before_1", "missing", False, None, False),
        ("cse_before_2", "absent", True, "cse_flag", False),
        ("cse_after_1", "absent", False, None, False),
        ("cse_after_2", "missing", False, None, False),
        ("looked_after", "absent", True, "looked_after", False),
        ("repeat_1", "missing", False, None, False),
        ("repeat_2", "missing", False, None, False),
        ("repeat_3", "absent", True, "repeat_3_in_90_days", True),
        ("repeat_later", "absent", True, "repeat_3_in_90_days", True),
        ("all_1", "missing", False, None, False),
        ("all_2", "missing", False, None, False),
        ("all_3", "absent", True, "cse_flag; looked_after; repeat_3_in_90_days", True),
        ("none", "absent", False, None, False),
        ("undetermined", "undetermined", False, None, False),
        ("two_low", "absent", False, None, False),
        ("two_grade", "absent", False, None, False),
        ("not_yet", "absent", False, None, False),
    ]
