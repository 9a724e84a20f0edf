"""Seeded, deterministic synthetic nightly extracts of five fictional sources.

`generate()` simulates children and their missing episodes, calibrated to published national
figures (the NCA UK Missing Persons Unit's data reports, the DfE's children looked after
statistics), then writes what each fictional source would send: for a police force one history
file and seven overlapping nightly files, for Riverton Council one SSDA903 Missing table per
collection year, with its SSDA903 header, case-management extract and CME register (the same
children under names and identifiers, pipelines.synth.agencies). Known defects are planted at
known rates and recorded in `synth_manifest.json`, so ingest tests can check their accounting
row for row; who is behind every record goes to `<out>/../linkage_truth.csv`.

Same seed, scale and `until` give byte-identical files: every random draw comes from one
numpy Generator per source, and no wall-clock time is written anywhere. All names and
references are fictional and shaped so that a test can grep for any leak of them.
"""

from __future__ import annotations

import calendar
import datetime as dt
import json
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from pipelines.errors import UsageError
from pipelines.synth import agencies as ag
from pipelines.synth import alignment, council_files, planted_gaps
from pipelines.synth import identifiers as idf
from pipelines.synth import layouts as sl
from pipelines.synth.layouts import DAY, NEVER

# (cumulative share, value) pairs, read by linear interpolation.
Quantiles = Sequence[tuple[float, float]]

SOURCES = ("northshire", "eastmoor", "westvale", "southbay", "riverton")
POLICE_SOURCES = SOURCES[:4]
# A fixed stream number per source: a source's files do not depend on which others are made.
SOURCE_STREAM = {name: i + 1 for i, name in enumerate(SOURCES)}
FIRST_DAY = "2012-01-01"

# --- volume ------------------------------------------------------------------------------
# Episodes a year per police source at scale 1 (a force's rate does not depend on where the
# data stops). Southbay is the big force: to mid-2025 that is ~2,950 episodes, so scale 1700
# gives the five-million-episode benchmark; the others stay at a demo-friendly ~750.
EPISODES_PER_YEAR = {"northshire": 60, "eastmoor": 52, "westvale": 56, "southbay": 218}
# SSDA903 spells simulated per year at scale 1; aligned with the police (synth.alignment) about
# 300 rows a year remain. A real authority sends ~550 (DfE 2024: 83,920 incidents / 153
# authorities); under ~200 a handful of planted errors would trip the 5% quarantine gate.
SSDA903_EPISODES_PER_YEAR = 520

# --- calibration to published figures ---------------------------------------------------
# Hours from last seen to found: 79% within 24 h, 90% within 2 days, 1.5% over a week
# (police figures 2021/22); interpolated log-linearly between these (share, hours) points.
DURATION_HOURS_QUANTILES = (
    (0.0, 0.25),
    (0.30, 4.0),
    (0.55, 10.0),
    (0.79, 24.0),
    (0.90, 48.0),
    (0.95, 80.0),
    (0.985, 168.0),
    (1.0, 1440.0),
)
# Reports follow the last sighting by 0-6 h, mostly soon (delay = 6 h x U^2).
REPORT_DELAY_MAX_MINUTES = 6 * 60
# Share of reports with no last-seen time recorded.
LAST_SEEN_BLANK_SHARE = 0.05
# A report is never closed less than this long after it was made.
MIN_REPORT_TO_RETURN_MINUTES = 15
# A child is seen at home at least this long between two episodes.
MIN_MINUTES_BETWEEN_EPISODES = 30
# Hour of day of reports. ASSUMPTION: no national table is published; an evening peak,
# trough before dawn.
HOUR_WEIGHTS = (3.0, 2.0, 1.5, 1.0, 0.8, 0.6, 0.6, 0.8, 1.2, 1.8, 2.2, 2.5) + (
    2.8,
    3.0,
    3.3,
    3.8,
    4.5,
    5.2,
    6.0,
    6.8,
    7.2,
    7.0,
    6.0,
    4.5,
)
# Days from one return to the next disappearance: the density is highest in the first weeks
# (re-missing most likely soon after a return); linear between these (share, days) points.
GAP_DAYS_QUANTILES = ((0.0, 0.0), (0.25, 6.0), (0.5, 20.0), (0.75, 60.0), (0.9, 150.0), (1.0, 700))
# Repeat concentration: a small group of frequently missing children. With the counts below,
# about 6% of children have about a third of episodes and ~65% of episodes are repeats (one
# force's figures); tests check the result, not these inputs.
HIGH_REPEAT_CHILD_SHARE = 0.06
HIGH_REPEAT_EXTRA_MEAN = 20.0  # extra episodes of a frequently missing child (neg. binomial)
HIGH_REPEAT_DISPERSION = 2.0
OTHER_EXTRA_MEAN = 1.2  # extra episodes of any other child (geometric)
# Frequently missing children go again sooner: their gaps are this fraction of the others'.
HIGH_REPEAT_GAP_FACTOR = 0.5
# Age (years) at a child's first episode in the data; episodes drift older, 10-17, and peak
# at 15-17 (NCA UK Missing Persons Unit: most child incidents involve 12-17 year olds).
FIRST_AGE_WEIGHTS = {10: 3, 11: 4, 12: 8, 13: 13, 14: 18, 15: 22, 16: 19, 17: 13}
# Chains start this long before the data so that 2012 is not a ramp-up year.
BURN_IN_DAYS = 3 * 365
# Episodes are dropped this many days before the 18th birthday, well clear of leap-day edges.
ADULT_MARGIN_DAYS = 3
# Sex of children reported missing. ASSUMPTION: roughly even, a few recorded other/unknown.
SEX_SHARES = (0.50, 0.48, 0.005, 0.015)
# Looked-after children are about a fifth of missing children but over a third of
# incidents: far more likely among the frequently missing.
LOOKED_AFTER_SHARE = {"high": 0.70, "other": 0.18}
# Where a child goes missing from: looked-after from foster/residential care, others from home.
LOOKED_AFTER_FROM = {1: 0.55, 2: 0.40, 3: 0.05}  # foster, residential, other
NOT_LOOKED_AFTER_FROM = {0: 0.92, 3: 0.08}  # home, other
# CSE marker on the child: ~9% of child incidents carry it, concentrated among frequent ones.
CSE_SHARE = {"high": 0.20, "other": 0.035}
# Initial risk grade (no apparent risk, low, medium, high) of a missing report per regime.
GRADE_SHARES = {
    "single": (0.0, 0.40, 0.48, 0.12),
    "two_tier": (0.0, 0.35, 0.50, 0.15),
    "continuum": (0.25, 0.30, 0.37, 0.08),  # brief: lowest grade for ~25%
}
# Two-tier: share of reports recorded absent (CSE-marked children 5x less: the 2015 letter
# says they must not be absent by default) and the share of absences later escalated.
TWO_TIER_ABSENT_SHARE = 0.30
CSE_ABSENT_FACTOR = 0.2
ESCALATION_SHARE = 0.15
# CSE-marked reports are graded up one step this often.
CSE_GRADE_BUMP_SHARE = 0.4
# Missing reports re-graded upward during the episode.
REGRADE_SHARE = 0.12
# Of the children's last episodes in the final year, this share is never closed by `until`
# (still missing, or the return never recorded): DfE counts 300 missing at 31 March.
UNRESOLVED_SHARE = 0.03
# How episodes end: returned, found by police, found by other, found harmed, found dead.
OUTCOME_SHARES = (0.58, 0.24, 0.159, 0.02, 0.001)
# Return home interviews: offered after most missing episodes, fewer absences; hours from
# the return to the offer (82% within the statutory 72 h) and from offer to completion.
RHI_OFFER_SHARE = {"missing": 0.88, "absent": 0.35}
RHI_OFFER_HOURS_QUANTILES = ((0.0, 1.0), (0.5, 26.0), (0.82, 72.0), (0.95, 150.0), (1.0, 400.0))
RHI_COMPLETED_SHARE = 0.75
RHI_DONE_HOURS_QUANTILES = ((0.0, 2.0), (0.5, 24.0), (1.0, 240.0))
# Share of Northshire's 2017 lowest-grade reports still labelled "ABSENT".
NORTHSHIRE_OLD_LABEL_SHARE = 0.4

# --- recording regimes, as each declaration says ---------------------------------------------
NATIONAL_TWO_TIER = "2013-04-01"
CONTINUUM = "2017-01-01"
TWO_TIER_FROM = {"northshire": "2016-01-01", "westvale": "2015-04-01"}
# Northshire graded its absences LOW in 2016; the no-apparent-risk grade came with the APP.
NAR_GRADE_FROM = {"northshire": CONTINUUM}
# How the category column behaves: northshire keeps ABSENT even when escalated (the grade
# shows it), westvale dropped the column under the continuum, southbay derives it from the
# grade under the continuum, eastmoor has none.
CATEGORY_STYLE = {
    "northshire": "keeps_absent",
    "westvale": "blank_in_continuum",
    "southbay": "by_grade_in_continuum",
    "eastmoor": None,
}

# --- extracts ----------------------------------------------------------------------------
EXTRACT_MINUTE = 23 * 60 + 30  # nightly extracts run at 23:30
NIGHTLY_FILES = 7
NIGHTLY_WINDOW_DAYS = 3  # a nightly holds what was reported or changed in the last 3 days

# --- defects -----------------------------------------------------------------------------
# Rows with any planted defect stay under this share of a police file, so the 5% quarantine
# gate is never reached; smaller files get none.
DEFECT_ROW_SHARE = 0.025
MIN_ROWS_FOR_DEFECTS = 40
QUARANTINE_KINDS = (
    "blank_required",
    "bad_date",
    "bad_code",
    "returned_before_last_seen",
    "dob_after_reported",
    "duplicate_ref",
)
WARNING_KINDS = ("reported_after_return", "last_seen_after_reported")
DEFECT_KINDS = QUARANTINE_KINDS + ("adult",) + WARNING_KINDS
# SSDA903: the DfE error rules planted (in this order, while the quarantine budget lasts),
# the warnings planted, and which findings quarantine a row.
SSDA903_ERROR_PLANTS = ("1004", "1006", "567", "586", "1005")
SSDA903_WARNING_PLANTS = ("570", "571", "574")
SSDA903_AWAY_SHARE = 0.12
# Missing-from-care spells are short: days from start to end (0 = back the same day).
SSDA903_DURATION_HOURS_QUANTILES = (
    (0.0, 0.5),
    (0.5, 6.0),
    (0.8, 20.0),
    (0.93, 60.0),
    (0.99, 240.0),
    (1.0, 2000.0),
)
# DfE: 6.5 incidents per child who went missing, so repeats are heavier than for police.
SSDA903_HIGH_REPEAT_SHARE = 0.25
SSDA903_HIGH_EXTRA_MEAN = 14.0
SSDA903_OTHER_EXTRA_MEAN = 1.5
SSDA903_GAP_DAYS_QUANTILES = ((0.0, 0.0), (0.3, 4.0), (0.6, 14.0), (0.85, 45.0), (1.0, 400))


def _minute(day: str) -> int:
    return int(np.datetime64(day, "m").astype(np.int64))


def _pick(rng: np.random.Generator, n: int, shares: Sequence[float]) -> np.ndarray:
    """Categorical draw: index into `shares` (need not sum to 1), as int8 (cheap to move)."""
    cum = np.cumsum(np.asarray(shares, dtype=float))
    return np.searchsorted(cum, rng.random(n) * cum[-1], side="right").astype(np.int8)


def _quantile_draw(
    rng: np.random.Generator, n: int, table: Quantiles, log: bool = False
) -> np.ndarray:
    p, v = np.asarray(table, dtype=float).T
    u = rng.random(n)
    return np.exp(np.interp(u, p, np.log(v))) if log else np.interp(u, p, v)


def _month_bounds(until: str) -> tuple[dt.date, dt.date]:
    if not re.fullmatch(r"\d{4}-(0[1-9]|1[0-2])", until or ""):
        raise UsageError(f"until must be YYYY-MM, got {until!r}")
    year, month = int(until[:4]), int(until[5:])
    if (year, month) < (2012, 4):
        raise UsageError("until must be 2012-04 or later (the first SSDA903 year is 2012_13)")
    first = dt.date(year, month, 1)
    return first, dt.date(year, month, calendar.monthrange(year, month)[1])


def _day(d: dt.date) -> int:
    return (d - dt.date(1970, 1, 1)).days


# --- simulation --------------------------------------------------------------------------
def _children_needed(n_target: int, episodes_in_range: float, span_days: int) -> int:
    """Children to simulate: chains start uniformly over burn-in + span, and only the part
    inside the span counts; ~20% spare, the surplus is discarded."""
    share_in_span = span_days / (span_days + BURN_IN_DAYS)
    return int(1.2 * n_target / (episodes_in_range * share_in_span)) + 50


def _children(
    rng: np.random.Generator, n: int, high_share: float, high_mean: float, other_mean: float
) -> dict:
    high = rng.random(n) < high_share
    r = HIGH_REPEAT_DISPERSION
    extra = np.where(
        high,
        rng.negative_binomial(r, r / (r + high_mean), n),
        rng.negative_binomial(1, 1 / (1 + other_mean), n),
    )
    ages = np.array(list(FIRST_AGE_WEIGHTS))
    age = ages[_pick(rng, n, list(FIRST_AGE_WEIGHTS.values()))] + rng.random(n)
    looked_after = rng.random(n) < np.where(
        high, LOOKED_AFTER_SHARE["high"], LOOKED_AFTER_SHARE["other"]
    )
    in_care = np.array(list(LOOKED_AFTER_FROM))[_pick(rng, n, list(LOOKED_AFTER_FROM.values()))]
    at_home = np.array(list(NOT_LOOKED_AFTER_FROM))[
        _pick(rng, n, list(NOT_LOOKED_AFTER_FROM.values()))
    ]
    return {
        "high": high,
        "count": 1 + extra,
        "age_days": np.round(age * 365.25).astype(np.int64),
        "sex": _pick(rng, n, SEX_SHARES),
        "looked_after": looked_after.astype(np.int8),
        "missing_from": np.where(looked_after, in_care, at_home).astype(np.int8),
        "cse_flag": (rng.random(n) < np.where(high, CSE_SHARE["high"], CSE_SHARE["other"])).astype(
            np.int8
        ),
    }


def _chains(
    rng: np.random.Generator,
    count: np.ndarray,
    start_day: np.ndarray,
    delay: np.ndarray,
    post: np.ndarray,
    gap_table: Quantiles,
    gap_scale: np.ndarray,
    next_day: bool,
) -> np.ndarray:
    """Report times (minutes) of each child's episodes, one after another.

    Each episode is reported on day D at time-of-day h; the next cannot start until this one
    has ended, plus a gap. The day increments depend only on each episode's own draws, so a
    per-child cumulative sum places every episode without a loop.
    """
    total = int(count.sum())
    first = np.cumsum(count) - count
    tod = rng.choice(
        24 * 60, total, p=np.repeat(np.asarray(HOUR_WEIGHTS) / sum(HOUR_WEIGHTS) / 60, 60)
    )
    gap = (_quantile_draw(rng, total, gap_table) * np.repeat(gap_scale, count)).astype(np.int64)
    prev_end = np.roll(tod + post, 1)  # minutes after its own report day's midnight
    if next_day:
        inc = prev_end // DAY + 1 + gap
    else:
        need = prev_end + delay + MIN_MINUTES_BETWEEN_EPISODES - tod
        inc = -(-need // DAY) + gap
    inc[first] = 0
    cs = np.cumsum(inc)
    day = np.repeat(start_day, count) + cs - np.repeat(cs[first], count)
    return day * DAY + tod


def _simulate_police(
    rng: np.random.Generator, source: str, n_target: int, t_final: int, t_hist: int
) -> dict[str, np.ndarray]:
    """Every episode of one force, sorted by report time, with the timeline of its changes."""
    t_first = _minute(FIRST_DAY)
    n_ch = _children_needed(n_target, 2.3, t_final // DAY - t_first // DAY)
    ch = _children(rng, n_ch, HIGH_REPEAT_CHILD_SHARE, HIGH_REPEAT_EXTRA_MEAN, OTHER_EXTRA_MEAN)
    start_day = rng.integers(t_first // DAY - BURN_IN_DAYS, t_final // DAY + 1, n_ch)
    count = ch["count"]
    total = int(count.sum())
    child = np.repeat(np.arange(n_ch), count)
    delay = (REPORT_DELAY_MAX_MINUTES * rng.random(total) ** 2).astype(np.int64)
    duration = (_quantile_draw(rng, total, DURATION_HOURS_QUANTILES, log=True) * 60).astype(
        np.int64
    )
    post = np.maximum(duration - delay, MIN_REPORT_TO_RETURN_MINUTES)
    gap_scale = np.where(ch["high"], HIGH_REPEAT_GAP_FACTOR, 1.0)
    reported = _chains(rng, count, start_day, delay, post, GAP_DAYS_QUANTILES, gap_scale, False)
    dob = start_day - ch["age_days"]
    adult_day = dob + int(18 * 365.25) - ADULT_MARGIN_DAYS
    keep = (
        (reported - delay >= t_first) & (reported <= t_final) & (reported // DAY < adult_day[child])
    )
    # Take whole children, in their (random) order, until the target is reached.
    taken = np.searchsorted(np.cumsum(np.bincount(child[keep], minlength=n_ch)), n_target) + 1
    keep &= child < taken
    child, reported, delay, post = child[keep], reported[keep], delay[keep], post[keep]

    # Three scripted episodes in the nightly window, so even a tiny run shows each kind of
    # change across nights: a return arriving, a risk re-graded, an absence escalated.
    show = _children(rng, 3, 0.0, 0.0, 0.0)
    jitter = rng.integers(-40, 40, 3)
    show_reported = t_hist + np.array([-5 * 60, 20 * 60, 44 * 60]) + jitter
    show_returned = t_hist + np.array([30 * 60, 60 * 60, 80 * 60]) + jitter
    show["age_days"] = 5479 + rng.integers(0, 700, 3)  # 15-16 years
    dob = np.concatenate([dob, show_reported // DAY - show["age_days"]])
    for key in ("sex", "looked_after", "missing_from"):
        ch[key] = np.concatenate([ch[key], show[key]])
    ch["cse_flag"] = np.concatenate([ch["cse_flag"], np.zeros(3, np.int8)])
    child = np.concatenate([child, n_ch + np.arange(3)])
    reported = np.concatenate([reported, show_reported])
    delay = np.concatenate([delay, rng.integers(15, 120, 3)])
    post = np.concatenate([post, show_returned - show_reported])

    n = len(reported)
    ep: dict[str, np.ndarray] = {
        "child": child,
        "reported_at": reported,
        "last_seen": reported - delay,
        "date_of_birth": dob[child],
    }
    for key in ("sex", "looked_after", "missing_from", "cse_flag"):
        ep[key] = ch[key][child]
    cse = ep["cse_flag"] == 1

    two_tier = _minute(TWO_TIER_FROM.get(source, NATIONAL_TWO_TIER))
    regime = np.searchsorted([two_tier, _minute(CONTINUUM)], reported, side="right").astype(np.int8)
    nar_ok = reported >= _minute(
        NAR_GRADE_FROM.get(source, TWO_TIER_FROM.get(source, NATIONAL_TWO_TIER))
    )
    cum = np.cumsum(np.array(list(GRADE_SHARES.values())), axis=1)[regime]
    grade0 = (rng.random(n)[:, None] >= cum).sum(axis=1)
    bump = cse & (rng.random(n) < CSE_GRADE_BUMP_SHARE)
    grade0 = np.where(bump, np.minimum(grade0 + 1, 3), grade0)
    absent = (regime == 1) & (
        rng.random(n) < TWO_TIER_ABSENT_SHARE * np.where(cse, CSE_ABSENT_FACTOR, 1.0)
    )
    grade0 = np.where(absent, np.where(nar_ok, 0, 1), grade0)

    returned = reported + post
    order = np.lexsort((reported, child))
    last_of_child = np.zeros(n, bool)
    last_of_child[order[np.r_[child[order][1:] != child[order][:-1], True]]] = True
    unresolved = (
        last_of_child & (reported > t_final - 365 * DAY) & (rng.random(n) < UNRESOLVED_SHARE)
    )
    unresolved[-3:] = False
    returned = np.where(unresolved, NEVER, returned)

    # An exact share (at least one) rather than coin flips: a force with a single two-tier
    # year has few absences, and the escalations must still show.
    escalates = np.zeros(n, bool)
    absences = np.flatnonzero(absent)
    if len(absences):
        k = max(1, round(ESCALATION_SHARE * len(absences)))
        escalates[rng.choice(absences, k, replace=False)] = True
    regraded = ~absent & (grade0 < 3) & (rng.random(n) < REGRADE_SHARE)
    escalated_to = 3 if source == "northshire" else 2 + (rng.random(n) < 0.5)
    grade1 = np.where(escalates, escalated_to, grade0)
    grade1 = np.where(regraded, np.minimum(grade0 + 1 + (rng.random(n) < 0.3), 3), grade1)
    span = np.where(unresolved, 72 * 60, returned - reported)
    upgrade_at = reported + ((0.1 + 0.8 * rng.random(n)) * span).astype(np.int64)
    upgrade_at = np.where(escalates | regraded, upgrade_at, NEVER)

    # The scripted three: open at the history cut-off, then regraded, then escalated.
    s = np.arange(n - 3, n)
    absent[s] = False
    escalates[s] = False
    grade0[s] = (2, 1, 1)
    grade1[s] = (2, 3, 2)
    upgrade_at[s] = (NEVER, t_hist + 30 * 60 + jitter[1], t_hist + 52 * 60 + jitter[2])
    if regime[-1] == 1:  # C is an absence escalated to missing
        absent[-1] = escalates[-1] = True
        grade0[-1] = 0 if nar_ok[-1] else 1
        grade1[-1] = 3 if source == "northshire" else 2
    elif regime[-1] == 2:  # C moves off the no-apparent-risk grade
        grade0[-1] = 0

    outcome = _pick(rng, n, OUTCOME_SHARES)
    absentish = (absent & ~escalates) | (grade1 == 0)
    offer_share = np.where(absentish, RHI_OFFER_SHARE["absent"], RHI_OFFER_SHARE["missing"])
    offered = (rng.random(n) < offer_share) & (returned < NEVER) & (outcome != 4)
    offer_at = returned + (_quantile_draw(rng, n, RHI_OFFER_HOURS_QUANTILES) * 60).astype(np.int64)
    done_at = offer_at + (_quantile_draw(rng, n, RHI_DONE_HOURS_QUANTILES) * 60).astype(np.int64)
    done = offered & (rng.random(n) < RHI_COMPLETED_SHARE)
    outcome[s] = 0

    ep.update(
        regime=regime,
        absent=absent,
        escalates=escalates,
        initial_grade=grade0.astype(np.int8),
        final_grade=grade1.astype(np.int8),
        upgrade_at=upgrade_at,
        returned=returned,
        outcome=outcome,
        rhi_offer=np.where(offered, offer_at, NEVER),
        rhi_done=np.where(done, done_at, NEVER),
        last_seen_blank=rng.random(n) < LAST_SEEN_BLANK_SHARE,
        circumstances=rng.integers(0, len(sl.CIRCUMSTANCES), n, dtype=np.int8),
        old_nar_label=rng.random(n) < NORTHSHIRE_OLD_LABEL_SHARE,
    )
    ep["last_seen_blank"][s] = False

    # Occurrence numbers run in report order; person numbers are shuffled.
    by_time = np.lexsort((child, reported))
    ep = {k: v[by_time] for k, v in ep.items()}
    ep["episode_no"] = 10_000 + np.arange(n)
    ep["report_year"] = (
        ep["reported_at"].astype("datetime64[m]").astype("datetime64[Y]").astype(np.int64) + 1970
    )
    present = np.zeros(int(ep["child"].max()) + 1, bool)
    present[ep["child"]] = True
    person_no = np.zeros(len(present), np.int64)
    person_no[present] = 1_000 + rng.permutation(int(present.sum()))
    ep["person_no"] = person_no[ep["child"]]
    return ep


# --- police files ------------------------------------------------------------------------
def _rows_as_of(ep: dict[str, np.ndarray], idx: np.ndarray, as_of: int, source: str) -> dict:
    """The chosen episodes as an extract taken at `as_of` shows them: later changes unseen."""
    rows = {
        key: ep[key][idx]
        for key in (
            "episode_no",
            "report_year",
            "person_no",
            "child",
            "date_of_birth",
            "reported_at",
            "sex",
            "looked_after",
            "missing_from",
            "cse_flag",
            "circumstances",
            "old_nar_label",
        )
    }
    rows["episode"] = idx
    rows["last_seen_at"] = np.where(ep["last_seen_blank"][idx], NEVER, ep["last_seen"][idx])
    back = ep["returned"][idx] <= as_of
    rows["returned_at"] = np.where(back, ep["returned"][idx], NEVER)
    rows["outcome"] = np.where(back, ep["outcome"][idx], -1)
    upgraded = ep["upgrade_at"][idx] <= as_of
    rows["initial_risk_grade"] = ep["initial_grade"][idx]
    rows["risk_grade"] = np.where(upgraded, ep["final_grade"][idx], ep["initial_grade"][idx])
    for key, src in (("rhi_offered_at", "rhi_offer"), ("rhi_completed_at", "rhi_done")):
        rows[key] = np.where(ep[src][idx] <= as_of, ep[src][idx], NEVER)
    rows["extracted_at"] = np.full(len(idx), as_of, np.int64)

    style = CATEGORY_STYLE[source]
    regime = ep["regime"][idx]
    category = np.full(len(idx), -1 if style is None else 0)
    if style is not None:
        absent = ep["absent"][idx] & (regime == 1)
        if style != "keeps_absent":
            absent &= ~(ep["escalates"][idx] & upgraded)
        category[absent] = 1
        if style == "blank_in_continuum":
            category[regime == 2] = -1
        elif style == "by_grade_in_continuum":
            category[(regime == 2) & (rows["risk_grade"] == 0)] = 1
    rows["category"] = category
    return rows


def _defect_plan(n_rows: int) -> dict[str, int]:
    """How many of each defect a file gets: rows (a duplicate costs two) share out the budget."""
    plan = dict.fromkeys(DEFECT_KINDS, 0)
    if n_rows < MIN_ROWS_FOR_DEFECTS:
        return plan
    budget = int(n_rows * DEFECT_ROW_SHARE)
    cost = {kind: 2 if kind == "duplicate_ref" else 1 for kind in DEFECT_KINDS}
    base, left = divmod(budget, sum(cost.values()))
    for kind in DEFECT_KINDS:
        plan[kind] = base * cost[kind]
        if cost[kind] <= left:
            plan[kind] += cost[kind]
            left -= cost[kind]
    return plan


def _plant_police_defects(
    rng: np.random.Generator, rows: dict, as_of: int
) -> tuple[dict[str, tuple[np.ndarray, object]], np.ndarray, np.ndarray, dict[str, int]]:
    """Plant defects, each on its own row. Returns text overrides per field, the rows to
    duplicate, each row's status (0 loads, 1 quarantined, 2 out of scope) and the counts."""
    n = len(rows["episode"])
    plan = _defect_plan(n)
    reported, last_seen, returned = rows["reported_at"], rows["last_seen_at"], rows["returned_at"]
    seen, back = last_seen < NEVER, returned < NEVER
    report_day = reported // DAY
    pools = {  # most constrained first, so the others cannot use up their rows
        "reported_after_return": seen & back & (reported - last_seen >= 20),
        # the earlier return must not fall before the data begins
        "returned_before_last_seen": seen & back & (last_seen - 180 >= _minute(FIRST_DAY)),
        "last_seen_after_reported": (~back | (returned - reported >= 30))
        & (reported + 30 <= as_of),
        "dob_after_reported": report_day < as_of // DAY,
    }
    used = np.zeros(n, bool)
    chosen: dict[str, np.ndarray] = {}
    for kind in list(pools) + [k for k in DEFECT_KINDS if k not in pools]:
        want = plan[kind] // 2 if kind == "duplicate_ref" else plan[kind]
        free = np.flatnonzero(pools.get(kind, True) & ~used)
        pick = np.sort(rng.choice(free, min(want, len(free)), replace=False))
        used[pick] = True
        chosen[kind] = pick

    i = chosen["returned_before_last_seen"]
    returned[i] = last_seen[i] - rng.integers(10, 180, len(i))
    i = chosen["reported_after_return"]
    returned[i] = last_seen[i] + (reported[i] - last_seen[i]) // 2
    i = chosen["last_seen_after_reported"]
    last_seen[i] = reported[i] + np.minimum(20, (returned[i] - reported[i]) // 2)
    i = chosen["dob_after_reported"]
    room = as_of // DAY - report_day[i]
    rows["date_of_birth"][i] = report_day[i] + 1 + (rng.random(len(i)) * room).astype(np.int64)
    rows["date_of_birth"][i] = np.minimum(rows["date_of_birth"][i], as_of // DAY)
    i = chosen["adult"]
    rows["date_of_birth"][i] = report_day[i] - 19 * 365 - rng.integers(0, 300, len(i))

    i = chosen["bad_date"]
    overrides: dict[str, tuple[np.ndarray, object]] = {
        "person_ref": (chosen["blank_required"], None),
        "reported_at": (i, None),  # text filled in by the caller, in the source's own style
        "risk_grade": (chosen["bad_code"], None),
    }
    status = np.zeros(n, np.int8)
    for kind in QUARANTINE_KINDS:
        status[chosen[kind]] = 1
    status[chosen["adult"]] = 2
    counts = {kind: len(chosen[kind]) for kind in DEFECT_KINDS}
    counts["duplicate_ref"] *= 2
    return overrides, chosen["duplicate_ref"], status, counts


def _replace(
    column: np.ndarray | pa.Array, idx: np.ndarray, values: object
) -> np.ndarray | pa.Array:
    """Set cells of a pyarrow text column or a numpy object column."""
    if len(idx) == 0:
        return column
    if isinstance(column, np.ndarray):
        column = column.copy()
        column[idx] = values
        return column
    mask = np.zeros(len(column), bool)
    mask[idx] = True
    if values is None:
        fill = pa.nulls(len(idx), pa.string())
    elif isinstance(values, str):
        fill = pa.array([values] * len(idx), pa.string())
    else:
        fill = pa.array(values, pa.string())
    return pc.replace_with_mask(column, pa.array(mask), fill)


def _write_police_file(
    rng: np.random.Generator,
    layout: sl.PoliceLayout,
    ep: dict[str, np.ndarray],
    idx: np.ndarray,
    as_of: int,
    path: Path,
    identity: dict[str, np.ndarray],
) -> tuple[dict, np.ndarray, np.ndarray]:
    """Write one extract; return its manifest entry, the episodes it loads and the person
    numbers of their children.
    `identity`: the identity columns per child (agencies.Plan.police, in child order)."""
    rows = _rows_as_of(ep, idx, as_of, layout.source)
    at = np.searchsorted(np.unique(ep["child"]), rows["child"])
    rows |= {field: values[at] for field, values in identity.items()}
    overrides, dup, status, counts = _plant_police_defects(rng, rows, as_of)
    # A duplicated row sits right after its original, as a double export would put it.
    order = np.sort(np.concatenate([np.arange(len(status)), dup]), kind="stable")
    first_copy = np.searchsorted(order, np.arange(len(status)))
    rows = {key: values[order] for key, values in rows.items()}
    status = status[order]
    overrides = {f: (first_copy[where], value) for f, (where, value) in overrides.items()}

    text = sl.police_columns(layout, rows)
    bad = overrides["reported_at"][0]
    impossible = sl.format_datetime(rows["reported_at"][bad], layout.bad_datetime_format)
    impossible = impossible.to_numpy(zero_copy_only=False)
    bad_text = np.where(np.arange(len(bad)) % 2 == 0, impossible, "unknown").tolist()
    overrides["reported_at"] = (bad, bad_text)
    overrides["risk_grade"] = (overrides["risk_grade"][0], layout.bad_grade)
    for field, (where, values) in overrides.items():
        text[field] = _replace(text[field], where, values)
    stamp = str(np.datetime64(int(as_of), "m")).replace("T", " ")
    if layout.fmt == "xlsx":
        cells = sl.xlsx_cells(layout, rows, text, rng)
        for field, (where, values) in overrides.items():
            cells[field] = _replace(cells[field], where, values)
        sl.write_xlsx(layout, path, cells, stamp)
    else:
        names = [name for _, name in layout.columns]
        sl.write_csv(layout, path, names, [text[field] for field, _ in layout.columns])

    entry = {
        "rows": int(len(order)),
        "loaded": int((status == 0).sum()),
        "quarantined": int((status == 1).sum()),
        "out_of_scope": int((status == 2).sum()),
        "defects": {k: counts[k] for k in QUARANTINE_KINDS + ("adult",)},
        "warnings": {k: counts[k] for k in WARNING_KINDS},
        "extracted_at": stamp,
    }
    loads = status == 0
    return entry, rows["episode"][loads], rows["person_no"][loads]


def _police_episodes(
    rng: np.random.Generator, source: str, scale: float, last_day: dt.date
) -> tuple[dict[str, np.ndarray], int, int]:
    """A force's episodes, and the times of its history extract and its last nightly."""
    t_final = _day(last_day) * DAY + EXTRACT_MINUTE
    t_hist = t_final - NIGHTLY_FILES * DAY
    years = (t_final - _minute(FIRST_DAY)) / DAY / 365.25
    n_target = max(1, round(EPISODES_PER_YEAR[source] * scale * years))
    return _simulate_police(rng, source, n_target, t_final, t_hist), t_final, t_hist


def _police_source(
    rng: np.random.Generator,
    source: str,
    out: Path,
    simulated: tuple[dict[str, np.ndarray], int, int],
    identity: dict[str, np.ndarray],
    kept: dict[str, np.ndarray],
) -> dict:
    """Write a force's files; note in `kept` the episodes they load."""
    layout = sl.POLICE_LAYOUTS[source]
    ep, t_final, t_hist = simulated
    events = [ep[k] for k in ("reported_at", "upgrade_at", "returned", "rhi_offer", "rhi_done")]

    extracts = [("history", t_hist, np.flatnonzero(ep["reported_at"] <= t_hist))]
    for night in range(1, NIGHTLY_FILES + 1):
        as_of = t_hist + night * DAY
        since = as_of - NIGHTLY_WINDOW_DAYS * DAY
        changed = np.zeros(len(ep["child"]), bool)
        for times in events:
            changed |= (times > since) & (times <= as_of)
        extracts.append(("nightly", as_of, np.flatnonzero(changed)))

    files, episodes, children = {}, [], []
    ext = layout.fmt
    for kind, as_of, idx in extracts:
        date = (dt.date(1970, 1, 1) + dt.timedelta(days=int(as_of // DAY))).isoformat()
        name = f"{source}_history_{date}.{ext}" if kind == "history" else f"{source}_{date}.{ext}"
        entry, eps, kids = _write_police_file(rng, layout, ep, idx, as_of, out / name, identity)
        files[name] = entry
        episodes.append(eps)
        children.append(kids)
    kept[source] = np.unique(np.concatenate(episodes))
    return {
        "layout": "standard" if source == "southbay" else "mapped",
        "format": ext,
        "files": files,
        "episodes": idf.distinct(episodes),
        "children": idf.distinct(children),
    }


# --- SSDA903 (Riverton Council) ------------------------------------------------------------
def _simulate_la(rng: np.random.Generator, n_target: int, final_day: int) -> dict[str, np.ndarray]:
    """Missing and away spells of the council's looked-after children, as whole days."""
    first_day = _day(dt.date.fromisoformat(FIRST_DAY))
    n_ch = _children_needed(n_target, 3.6, final_day - first_day)
    ch = _children(
        rng, n_ch, SSDA903_HIGH_REPEAT_SHARE, SSDA903_HIGH_EXTRA_MEAN, SSDA903_OTHER_EXTRA_MEAN
    )
    start_day = rng.integers(first_day - BURN_IN_DAYS, final_day + 1, n_ch)
    count = ch["count"]
    total = int(count.sum())
    child = np.repeat(np.arange(n_ch), count)
    post = (_quantile_draw(rng, total, SSDA903_DURATION_HOURS_QUANTILES, log=True) * 60).astype(
        np.int64
    )
    gap_scale = np.where(ch["high"], HIGH_REPEAT_GAP_FACTOR, 1.0)
    # next_day: a new spell starts at least the day after the last one ended, which keeps the
    # DfE overlap rule (574) clear of same-day ties whose order the validator leaves open.
    began = _chains(
        rng,
        count,
        start_day,
        np.zeros(total, np.int64),
        post,
        SSDA903_GAP_DAYS_QUANTILES,
        gap_scale,
        True,
    )
    start, end = began // DAY, (began + post) // DAY
    dob = start_day - ch["age_days"]
    adult_day = dob + int(18 * 365.25) - ADULT_MARGIN_DAYS
    keep = (start >= first_day) & (start <= final_day) & (start < adult_day[child])
    taken = np.searchsorted(np.cumsum(np.bincount(child[keep], minlength=n_ch)), n_target) + 1
    keep &= child < taken
    child, start, end = child[keep], start[keep], end[keep]
    person_no = 100 + rng.permutation(n_ch)
    return {
        "person_no": person_no[child],
        "date_of_birth": dob[child],
        "start": start,
        "end": np.where(end > final_day, NEVER, end),
        "away": (rng.random(len(child)) < SSDA903_AWAY_SHARE).astype(np.int64),
        "sex": ch["sex"][child],  # in no Missing table column: the header's SEX
    }


# One branch per DfE fault it plants, read against the DfE rule list: split up, the list scatters.
def _write_ssda903_file(  # noqa: C901
    rng: np.random.Generator,
    la: dict[str, np.ndarray],
    idx: np.ndarray,
    year: int,
    final_day: int,
    path: Path,
) -> tuple[dict, np.ndarray, np.ndarray]:
    """One collection year's Missing table with DfE faults planted at known row numbers."""
    year_start, year_end = _day(dt.date(year, 4, 1)), _day(dt.date(year + 1, 3, 31))
    cut = min(year_end, final_day)
    idx = idx[np.lexsort((la["start"][idx], la["person_no"][idx]))]
    child = la["person_no"][idx]
    dob = la["date_of_birth"][idx].copy()
    start = la["start"][idx].copy()
    end = np.where(la["end"][idx] <= cut, la["end"][idx], NEVER)
    code = la["away"][idx]
    n = len(idx)
    text: dict[str, tuple[np.ndarray, object]] = {}
    picked: dict[str, int] = {}
    extra: list[tuple[int, int, int, int]] = []  # rows added: (child, dob, start, end)

    if n >= MIN_ROWS_FOR_DEFECTS:
        _, inverse, per_child = np.unique(child, return_inverse=True, return_counts=True)
        # Faults go on away rows (the lower-case code on a missing one): a missing spell is
        # matched against the police reports (pipelines.synth.alignment) and must load as is.
        pool = (per_child[inverse] == 1) & (end < NEVER) & (start >= year_start + 12)
        pool &= end <= cut - 3
        budget = max(1, int(n * DEFECT_ROW_SHARE))
        plants = list(SSDA903_ERROR_PLANTS[:budget])
        # 570 needs a start after 31 March, which must still lie within the generated range.
        warnings = [w for w in SSDA903_WARNING_PLANTS if w != "570" or year_end + 3 <= final_day]
        young = dob + int(18 * 365.25) - ADULT_MARGIN_DAYS > year_end + 3
        used = np.zeros(n, bool)
        for plant in warnings + plants + ["lowercase", "adult"]:
            code_ok = code == (plant != "lowercase")
            free = np.flatnonzero(pool & code_ok & ~used & (young if plant == "570" else True))
            if len(free):
                picked[plant] = int(rng.choice(free))
                used[picked[plant]] = True

    iso_start = year % 2 == 0  # alternate the two ways a start date can be invalid
    for plant, i in picked.items():
        if plant == "1004":
            iso = str(np.datetime64(int(start[i]), "D"))
            text["MIS_START"] = (np.array([i]), iso if iso_start else None)
        elif plant == "1006":
            text["MISSING"] = (np.array([i]), "X")
        elif plant == "lowercase":
            text["MISSING_lower"] = (np.array([i]), "m")
        elif plant == "1005":
            year_text = str(np.datetime64(int(end[i]), "D"))[:4]
            text["MIS_END"] = (np.array([i]), f"31/04/{year_text}")
        elif plant == "567":
            end[i] = start[i] - 3
        elif plant == "586":
            dob[i] = start[i]
        elif plant == "571":
            start[i], end[i] = year_start - 10, year_start - 8
        elif plant == "570":
            start[i], end[i] = year_end + 2, NEVER
        elif plant == "574":
            extra.append((int(child[i]), int(dob[i]), int(start[i] - 1), int(end[i] + 1)))
        elif plant == "adult":
            dob[i] = start[i] - 19 * 365 - int(rng.integers(0, 300))

    order = np.arange(n)
    if extra:
        c, b, s, e = extra[0]
        child, dob = np.append(child, c), np.append(dob, b)
        start, end, code = np.append(start, s), np.append(end, e), np.append(code, 1)
        order = np.insert(order, picked["574"] + 1, n)
    row_of = np.empty(len(order), np.int64)
    row_of[order] = np.arange(len(order))

    columns = {
        "CHILD": sl.riverton_child(child),
        "DOB": sl.format_date(dob, "%d/%m/%Y"),
        "MISSING": sl.labels(code, ("M", "A")),
        "MIS_START": sl.format_date(start, "%d/%m/%Y"),
        "MIS_END": sl.format_date(end, "%d/%m/%Y"),
    }
    for key, (where, value) in text.items():
        field = key.removesuffix("_lower")
        columns[field] = _replace(columns[field], where, value)
    sl.write_csv(
        None,
        path,
        list(sl.SSDA903_COLUMNS),
        [columns[c].take(pa.array(order)) for c in sl.SSDA903_COLUMNS],
    )

    status = np.zeros(len(order), np.int8)
    dfe: dict[str, list[int]] = {}
    for plant, i in picked.items():
        if plant in SSDA903_ERROR_PLANTS:
            status[i] = 1
        if plant == "adult":
            status[i] = 2
        rules = [plant] if plant[0].isdigit() else []
        if plant == "1004" and not iso_start:
            rules.append("564")
        for rule in rules:
            # 574 flags the later of the two clashing spells: the added row.
            dfe.setdefault(rule, []).append(int(row_of[n if rule == "574" else i]))
    status = status[order]
    loads = status == 0
    entry = {
        "rows": int(len(order)),
        "loaded": int(loads.sum()),
        "quarantined": int((status == 1).sum()),
        "out_of_scope": int((status == 2).sum()),
        "defects": {k: int(k in picked) for k in SSDA903_ERROR_PLANTS + ("adult",)},
        "warnings": {k: int(k in picked) for k in SSDA903_WARNING_PLANTS},
        "dfe_planted": {rule: sorted(rows) for rule, rows in sorted(dfe.items())},
        "lowercase_code_rows": [int(row_of[picked["lowercase"]])] if "lowercase" in picked else [],
    }
    key = child[order][loads] * 1_000_000 + start[order][loads]
    return entry, key, child[order][loads]


def _riverton_spells(rng: np.random.Generator, scale: float, last: dt.date) -> dict:
    years = (_day(last) - _day(dt.date.fromisoformat(FIRST_DAY))) / 365.25
    return _simulate_la(rng, max(1, round(SSDA903_EPISODES_PER_YEAR * scale * years)), _day(last))


def _riverton(
    rng: np.random.Generator,
    out: Path,
    la: dict[str, np.ndarray],
    last_day: dt.date,
    loaded: dict[str, np.ndarray],
) -> dict:
    final_day = _day(last_day)
    last_year = last_day.year if last_day.month >= 4 else last_day.year - 1
    files, episodes, children = {}, [], []
    for year in range(2012, last_year + 1):
        cut = min(_day(dt.date(year + 1, 3, 31)), final_day)
        idx = np.flatnonzero((la["start"] <= cut) & (la["end"] >= _day(dt.date(year, 4, 1))))
        name = f"riverton_missing_{year}_{(year + 1) % 100:02d}.csv"
        entry, eps, kids = _write_ssda903_file(rng, la, idx, year, final_day, out / name)
        files[name] = entry
        episodes.append(eps)
        children.append(kids)
    loaded["riverton"] = np.unique(np.concatenate(children))
    return {
        "layout": "ssda903_missing",
        "format": "csv",
        "files": files,
        "episodes": idf.distinct(episodes),
        "children": idf.distinct(children),
    }


# --- entry point -------------------------------------------------------------------------
def generate(
    out_dir: Path,
    seed: int = 42,
    scale: float = 1.0,
    until: str | None = None,
    sources: list[str] | None = None,
) -> dict:
    """Write fictional extracts to out_dir/<source>/ and out_dir/synth_manifest.json.

    `until` is the last complete month, YYYY-MM (default: the month before today); every
    date written lies between 2012-01-01 and its last day. `scale` multiplies the volume.
    Returns the manifest: per file its rows and how many should load, be quarantined or be
    out of scope, with the defects planted.
    """
    if until is None:
        until = (dt.date.today().replace(day=1) - dt.timedelta(days=1)).strftime("%Y-%m")
    _, last_day = _month_bounds(until)
    if not scale > 0:
        raise UsageError(f"scale must be positive, got {scale}")
    if seed < 0:
        raise UsageError(f"seed must be non-negative, got {seed}")
    chosen = list(SOURCES) if sources is None else list(sources)
    unknown = sorted(set(chosen) - set(SOURCES))
    if unknown:
        raise UsageError(f"unknown sources: {', '.join(unknown)} (known: {', '.join(SOURCES)})")
    out_dir = Path(out_dir)
    manifest: dict = {"seed": seed, "scale": scale, "until": until, "sources": {}}
    # Episodes first, each source from its own stream; then, from another, who is who
    # (pipelines.synth.agencies), which leaves the episodes as they were.
    rngs = {s: np.random.default_rng([seed, SOURCE_STREAM[s]]) for s in SOURCES if s in chosen}
    police = {
        s: _police_episodes(rng, s, scale, last_day) for s, rng in rngs.items() if s != "riverton"
    }
    la = _riverton_spells(rngs["riverton"], scale, last_day) if "riverton" in rngs else None
    episodes = {s: ep for s, (ep, _, _) in police.items()}
    plan, aligned = ag.plan_for(seed, episodes, la, last_day)
    for source, flags in aligned.flags.items() if aligned else ():
        episodes[source]["looked_after"] = flags  # the council's reports decide them
    loaded: dict[str, np.ndarray] = {}  # per source, the children its files load
    kept: dict[str, np.ndarray] = {}  # per force, the episodes its files load
    for source, rng in rngs.items():
        folder = out_dir / source
        folder.mkdir(parents=True, exist_ok=True)
        if source == "riverton" and aligned:
            la = alignment.reported(aligned, kept)
        manifest["sources"][source] = (
            _riverton(rng, folder, la, last_day, loaded)  # type: ignore[arg-type]
            if source == "riverton"
            else _police_source(rng, source, folder, police[source], plan.police[source], kept)
        )
    loaded |= {s: np.unique(episodes[s]["person_no"][kept[s]]) for s in kept}
    manifest["sources"] |= council_files.write(plan, out_dir, last_day, loaded)
    if aligned and la is not None:
        manifest["reconciliation_gaps"] = planted_gaps.listed(aligned, episodes, la, kept)
    text = json.dumps(manifest, sort_keys=True, indent=2) + "\n"
    (out_dir / "synth_manifest.json").write_text(text, encoding="utf-8")
    return manifest
