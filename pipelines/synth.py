"""Seeded, deterministic synthetic nightly extracts of five fictional sources.

`generate()` simulates children and their missing episodes, calibrated to the public figures in
DOMAIN.md, then writes what each fictional source would send: for a police force one history
file and seven overlapping nightly files, for Riverton Council one SSDA903 Missing table per
collection year. Known defects are planted at known rates and recorded in
`synth_manifest.json`, so ingest tests can check their accounting row for row.

Same seed, scale and `until` give byte-identical files: every random draw comes from one
numpy Generator per source, and no wall-clock time is written anywhere. All names and
references are fictional and shaped so that a test can grep for any leak of them.
"""

from __future__ import annotations

import calendar
import datetime as dt
import json
import re
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from pipelines import synth_layouts as sl
from pipelines.synth_layouts import DAY, NEVER

SOURCES = ("northshire", "eastmoor", "westvale", "southbay", "riverton")
POLICE_SOURCES = SOURCES[:4]
# A fixed stream number per source: a source's files do not depend on which others are made.
SOURCE_STREAM = {name: i + 1 for i, name in enumerate(SOURCES)}
FIRST_DAY = "2012-01-01"

# --- volume ------------------------------------------------------------------------------
# Episodes per police source at scale 1. Southbay is the big force: 1700 x 2950 is the
# five-million-episode benchmark the brief asks for; the others stay at a demo-friendly size.
EPISODES_PER_SCALE = {"northshire": 800, "eastmoor": 700, "westvale": 750, "southbay": 2950}
# SSDA903 rows per collection year at scale 1. A real authority sends ~550 (DfE 2024: 83,920
# incidents / 153 authorities); fewer than ~200 would let a handful of planted errors trip the
# 5% quarantine gate.
SSDA903_EPISODES_PER_YEAR = 300

# --- calibration to DOMAIN.md ------------------------------------------------------------
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
# Hour of day of reports. ASSUMPTION: no national table exists (DOMAIN.md); an evening peak,
# trough before dawn.
HOUR_WEIGHTS = (
    (3.0, 2.0, 1.5, 1.0, 0.8, 0.6, 0.6, 0.8, 1.2, 1.8, 2.2, 2.5)
    + (2.8, 3.0, 3.3, 3.8, 4.5, 5.2, 6.0, 6.8, 7.2, 7.0, 6.0, 4.5)
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
# at 15-17 (DOMAIN.md: most child incidents involve 12-17 year olds).
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
ESCALATION_SHARE = 0.10
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


def _pick(rng: np.random.Generator, n: int, shares) -> np.ndarray:
    """Categorical draw: index into `shares` (need not sum to 1)."""
    cum = np.cumsum(np.asarray(shares, dtype=float))
    return np.searchsorted(cum, rng.random(n) * cum[-1], side="right")


def _quantile_draw(rng: np.random.Generator, n: int, table, log: bool = False) -> np.ndarray:
    p, v = np.asarray(table, dtype=float).T
    u = rng.random(n)
    return np.exp(np.interp(u, p, np.log(v))) if log else np.interp(u, p, v)


def _month_bounds(until: str) -> tuple[dt.date, dt.date]:
    if not re.fullmatch(r"\d{4}-(0[1-9]|1[0-2])", until or ""):
        raise ValueError(f"until must be YYYY-MM, got {until!r}")
    year, month = int(until[:4]), int(until[5:])
    if (year, month) < (2012, 4):
        raise ValueError("until must be 2012-04 or later (the first SSDA903 year is 2012_13)")
    first = dt.date(year, month, 1)
    return first, dt.date(year, month, calendar.monthrange(year, month)[1])


def _day(d: dt.date) -> int:
    return (d - dt.date(1970, 1, 1)).days


# --- simulation --------------------------------------------------------------------------
def _children(rng: np.random.Generator, n: int, high_share: float, high_mean: float, other_mean: float) -> dict:
    high = rng.random(n) < high_share
    r = HIGH_REPEAT_DISPERSION
    extra = np.where(
        high,
        rng.negative_binomial(r, r / (r + high_mean), n),
        rng.negative_binomial(1, 1 / (1 + other_mean), n),
    )
    ages = np.array(list(FIRST_AGE_WEIGHTS))
    age = ages[_pick(rng, n, list(FIRST_AGE_WEIGHTS.values()))] + rng.random(n)
    looked_after = rng.random(n) < np.where(high, LOOKED_AFTER_SHARE["high"], LOOKED_AFTER_SHARE["other"])
    in_care = np.array(list(LOOKED_AFTER_FROM))[_pick(rng, n, list(LOOKED_AFTER_FROM.values()))]
    at_home = np.array(list(NOT_LOOKED_AFTER_FROM))[
        _pick(rng, n, list(NOT_LOOKED_AFTER_FROM.values()))
    ]
    return {
        "high": high,
        "count": 1 + extra,
        "age_days": np.round(age * 365.25).astype(np.int64),
        "sex": _pick(rng, n, SEX_SHARES),
        "looked_after": looked_after.astype(np.int64),
        "missing_from": np.where(looked_after, in_care, at_home),
        "cse_flag": (rng.random(n) < np.where(high, CSE_SHARE["high"], CSE_SHARE["other"])).astype(np.int64),
    }


def _chains(
    rng: np.random.Generator,
    count: np.ndarray,
    start_day: np.ndarray,
    delay: np.ndarray,
    post: np.ndarray,
    gap_table,
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
    tod = rng.choice(24 * 60, total, p=np.repeat(np.asarray(HOUR_WEIGHTS) / sum(HOUR_WEIGHTS) / 60, 60))
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
    n_ch = int(n_target / 1.9) + 50  # ~1.4x the children needed; the surplus is discarded
    ch = _children(rng, n_ch, HIGH_REPEAT_CHILD_SHARE, HIGH_REPEAT_EXTRA_MEAN, OTHER_EXTRA_MEAN)
    start_day = rng.integers(t_first // DAY - BURN_IN_DAYS, t_final // DAY + 1, n_ch)
    count = ch["count"]
    total = int(count.sum())
    child = np.repeat(np.arange(n_ch), count)
    delay = (REPORT_DELAY_MAX_MINUTES * rng.random(total) ** 2).astype(np.int64)
    duration = (_quantile_draw(rng, total, DURATION_HOURS_QUANTILES, log=True) * 60).astype(np.int64)
    post = np.maximum(duration - delay, MIN_REPORT_TO_RETURN_MINUTES)
    gap_scale = np.where(ch["high"], HIGH_REPEAT_GAP_FACTOR, 1.0)
    reported = _chains(rng, count, start_day, delay, post, GAP_DAYS_QUANTILES, gap_scale, False)
    dob = start_day - ch["age_days"]
    adult_day = dob + int(18 * 365.25) - ADULT_MARGIN_DAYS
    keep = (reported >= t_first) & (reported <= t_final) & (reported // DAY < adult_day[child])
    # Take whole children, in their (random) order, until the target is reached.
    taken = np.searchsorted(np.cumsum(np.bincount(child[keep], minlength=n_ch)), n_target) + 1
    keep &= child < taken
    child, reported, delay, post = child[keep], reported[keep], delay[keep], post[keep]

    # Three scripted episodes in the nightly window, so even a tiny run shows each kind of
    # change across nights: a return arriving, a risk re-graded, an absence escalated.
    show = _children(rng, 3, 0.0, 0.0, 0.0)
    show_reported = t_hist + np.array([-5 * 60, 20 * 60, 44 * 60])
    show_returned = t_hist + np.array([30 * 60, 60 * 60, 80 * 60])
    show["age_days"] = 5479 + rng.integers(0, 700, 3)  # 15-16 years
    dob = np.concatenate([dob, show_reported // DAY - show["age_days"]])
    for key in ("sex", "looked_after", "missing_from"):
        ch[key] = np.concatenate([ch[key], show[key]])
    ch["cse_flag"] = np.concatenate([ch["cse_flag"], np.zeros(3, np.int64)])
    child = np.concatenate([child, n_ch + np.arange(3)])
    reported = np.concatenate([reported, show_reported])
    delay = np.concatenate([delay, np.full(3, 60)])
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
    regime = np.searchsorted([two_tier, _minute(CONTINUUM)], reported, side="right")
    nar_ok = reported >= _minute(NAR_GRADE_FROM.get(source, TWO_TIER_FROM.get(source, NATIONAL_TWO_TIER)))
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
        last_of_child
        & (reported > t_final - 365 * DAY)
        & (rng.random(n) < UNRESOLVED_SHARE)
    )
    unresolved[-3:] = False
    returned = np.where(unresolved, NEVER, returned)

    escalates = absent & (rng.random(n) < ESCALATION_SHARE)
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
    upgrade_at[s] = (NEVER, t_hist + 30 * 60, t_hist + 52 * 60)
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
        initial_grade=grade0,
        final_grade=grade1,
        upgrade_at=upgrade_at,
        returned=returned,
        outcome=outcome,
        rhi_offer=np.where(offered, offer_at, NEVER),
        rhi_done=np.where(done, done_at, NEVER),
        last_seen_blank=rng.random(n) < LAST_SEEN_BLANK_SHARE,
        circumstances=rng.integers(0, len(sl.CIRCUMSTANCES), n),
        old_nar_label=rng.random(n) < NORTHSHIRE_OLD_LABEL_SHARE,
    )
    ep["last_seen_blank"][s] = False

    # Occurrence numbers run in report order; person numbers are shuffled.
    by_time = np.lexsort((child, reported))
    ep = {k: v[by_time] for k, v in ep.items()}
    ep["episode_no"] = 10_000 + np.arange(n)
    ep["report_year"] = ep["reported_at"].astype("datetime64[m]").astype("datetime64[Y]").astype(
        np.int64
    ) + 1970
    uniq, compact = np.unique(ep["child"], return_inverse=True)
    ep["person_no"] = (1_000 + rng.permutation(len(uniq)))[compact]
    return ep
