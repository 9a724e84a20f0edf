"""The synthetic agencies agree about their shared children, except where a gap is planted.

Each source's episodes are simulated on their own (pipelines.synth.generator); left so, a
child's council missing-from-care spells and police reports fall on unrelated dates, and the
curated `agency_reconciliation` would flag thousands of artefacts. This module makes the
council's Missing tables follow the police instead:

- every council child missing from care is paired with a force's child (a looked-after one
  first) whose reports fall in the council's collection years, and takes that child's date of
  birth (as records differ: sometimes day and month swapped, or a day out) and sex; a fifth
  of the children with one or two spells are instead only ever away from placement (their
  whereabouts known, so never reported to the police), and their spells are all away;
- the council's missing spells (MISSING M) of that person are the days the police reported
  them missing, from any force that knows them: a spell starts on the day of the report
  (SSDA903 dates are whole days) and ends on the day of the return, or the day before the
  next report; a report whose every row is quarantined opens no missing spell (its day stays
  an away spell, A), since the council's record would then have no police report to match;
- the council's away spells (A) are its own, kept where they do not touch a missing spell;
- the police flag a report looked after only where the council has a missing spell starting
  that day, so a looked-after flag never falls on a child the council does not know.

Then a few gaps are planted on purpose, chosen from a stream of their own and listed in the
manifest (`reconciliation_gaps`), each one a real safeguarding failure of the kind HMIC's
"Missing children: who cares?" (2016) found:

- council_missing_no_police_report: an away spell of a child the police know, recorded
  instead as missing from care, with no police report within days of it. The council knew
  a looked-after child's whereabouts were unknown and the police were never told (statutory
  guidance requires a missing child in care to be reported to the police);
- police_missing_no_council_episode: a police missing report (risk graded low or above) of a
  child the police recorded as looked after, whose council spell is left out: the council
  responsible for the child never recorded the episode, so its return to the DfE, and its
  own safeguarding response, miss it;
- looked_after_unknown_to_council: one report of a child no council record names, flagged
  looked after: a child placed here by another authority without notice, or a wrong flag;
  either way nobody has confirmed who is caring for the child.

Planted gaps sit on episodes away from anything that could close them (no report of the
other agency within two days), so they stay gaps whatever the tolerance up to that.
Everything is seeded: the same seed gives the same pairs, spells, flags and gaps.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import numpy as np

from pipelines.synth import council_records as cr
from pipelines.synth.layouts import DAY, NEVER

ALIGN_STREAM = 22  # pairs, spells and planted gaps: stream [seed, ALIGN_STREAM]
KINDS = (
    "council_missing_no_police_report",
    "police_missing_no_council_episode",
    "looked_after_unknown_to_council",
)
PLANTED_PER_KIND = 5  # gaps planted of each kind (fewer where the data holds fewer chances)
QUIET_DAYS = 2  # no record of the other agency within this many days of a planted gap
CLEAR_OF_END_DAYS = 30  # planted gaps stay clear of the nightly extracts' last days
DOB_VARIANT_SHARES = (0.9, 0.05, 0.05)  # council's DOB: the same, day/month swapped, a day out
AWAY_SHARE = 0.12  # away spells among the council's rows (DfE: about 12% of incidents)
# Council children only ever away from placement (whereabouts known), drawn from those with
# few spells: never reported to the police, so left unpaired. The generator plants its DfE
# faults on away rows of a child's only row in a year, mostly theirs.
AWAY_ONLY_SHARE = 0.2
AWAY_ONLY_MAX_SPELLS = 2
ADULT_MARGIN_DAYS = 3  # as the generator's: no spell within days of the 18th birthday
FIRST_COUNCIL_DAY = dt.date(2012, 4, 1)  # the first SSDA903 collection year's start
MIN_AGE_DAYS = int(10 * 365.25)  # the council's own away spells: from age 10


@dataclass
class Aligned:
    """The council's spells after alignment, the police looked-after flags, which police
    episodes each derived spell came from, and the planted gaps."""

    la: dict[str, np.ndarray]
    flags: dict[str, np.ndarray]
    # Per police episode behind a derived missing spell: its source, episode and spell
    # (an index of la["spell"]).
    link_source: np.ndarray
    link_episode: np.ndarray
    link_spell: np.ndarray
    council_number: np.ndarray  # the council's children (Known order)
    council_person: np.ndarray  # ... and the person of each
    police_person: dict[str, np.ndarray]  # per force, per episode: the person
    planted: dict[str, list[tuple[str, int]]] = field(default_factory=dict)


def variant(rng: np.random.Generator, day: int) -> int:
    """A date of birth as another record of the child writes it."""
    kind = int(np.searchsorted(np.cumsum(DOB_VARIANT_SHARES), rng.random(), "right"))
    swapped, off = variants(day)
    options = [day, swapped if swapped is not None else day, off if off is not None else day]
    return options[kind]


def variants(day: int) -> tuple[int | None, int | None]:
    """A date of birth with day and month swapped (None where that is no other date), and
    one day out."""
    d = dt.date(1970, 1, 1) + dt.timedelta(days=day)
    swapped = (
        cr.day(d.replace(month=d.day, day=d.month)) if d.day <= 12 and d.day != d.month else None
    )
    return swapped, day + (1 if day % 2 else -1)


def _child_index(ep: dict[str, np.ndarray]) -> np.ndarray:
    """Each episode's child in Known order (sorted child numbers)."""
    return np.searchsorted(np.unique(ep["child"]), ep["child"])


def pair(
    rng: np.random.Generator,
    police: dict[str, dict[str, np.ndarray]],
    spells: np.ndarray,
    last_day: dt.date,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each council child's police counterpart (an index into the forces' children, in Known
    order, source after source; -1 for a child only ever away, or where none is left), with
    the date of birth and sex the council then records. `spells`: each child's spell count."""
    n_council = len(spells)
    first, final = cr.day(FIRST_COUNCIL_DAY), cr.day(last_day)
    looked_after, usable, dob, sex = [], [], [], []
    for ep in police.values():
        k = _child_index(ep)
        n = int(k.max()) + 1 if len(k) else 0
        day = ep["reported_at"] // DAY
        # A report in the council's years while the child is young enough that any date of
        # birth the council may record (a swap moves it by under a year) leaves it a child.
        ok = (day >= first) & (day <= final) & (day < ep["date_of_birth"] + int(17 * 365.25))
        usable.append(np.bincount(k, ok, n) > 0)
        looked_after.append(np.bincount(k, ep["looked_after"], n) > 0)
        at = np.zeros(n, np.int64)
        at[k[::-1]] = np.arange(len(k))[::-1]
        dob.append(ep["date_of_birth"][at])
        sex.append(ep["sex"][at])
    if not usable:
        return np.full(n_council, -1), np.zeros(0, np.int64), np.zeros(0, np.int64)
    ok, la = np.concatenate(usable), np.concatenate(looked_after)
    candidates = np.concatenate(
        [rng.permutation(np.flatnonzero(ok & la)), rng.permutation(np.flatnonzero(ok & ~la))]
    )
    counterpart = np.full(n_council, -1)
    few = rng.permutation(np.flatnonzero(spells <= AWAY_ONLY_MAX_SPELLS))
    away_only = few[: int(round(AWAY_ONLY_SHARE * n_council))]
    order = rng.permutation(np.setdiff1d(np.arange(n_council), away_only))[: len(candidates)]
    counterpart[order] = candidates[: len(order)]
    police_dob, police_sex = np.concatenate(dob), np.concatenate(sex)
    new_dob = np.array([variant(rng, int(police_dob[j])) if j >= 0 else -1 for j in counterpart])
    new_sex = np.where(counterpart >= 0, police_sex[counterpart], -1)
    return counterpart, new_dob, new_sex


def _isolated(child: np.ndarray, day: np.ndarray, gap: int) -> np.ndarray:
    """Rows (sorted by child, day) with no other row of the child within `gap` days."""
    same_prev = np.r_[False, child[1:] == child[:-1]]
    same_next = np.r_[child[1:] == child[:-1], False]
    prev_far = ~same_prev | (np.r_[0, np.diff(day)] > gap)
    next_far = ~same_next | (np.r_[np.diff(day), 0] > gap)
    return prev_far & next_far


def _pick_distinct(rng: np.random.Generator, rows: np.ndarray, owner: np.ndarray) -> np.ndarray:
    """Up to PLANTED_PER_KIND of `rows`, at random, no two of the same owner."""
    chosen: list[int] = []
    seen: set[int] = set()
    for r in rng.permutation(rows).tolist():
        if int(owner[r]) not in seen:
            seen.add(int(owner[r]))
            chosen.append(r)
        if len(chosen) == PLANTED_PER_KIND:
            break
    return np.array(sorted(chosen), np.int64)


def align(
    rng: np.random.Generator,
    police: dict[str, dict[str, np.ndarray]],
    person: np.ndarray,
    council: tuple[np.ndarray, np.ndarray, np.ndarray],
    paired: np.ndarray,
    la: dict[str, np.ndarray],
    last_day: dt.date,
) -> Aligned:
    """The council's spells derived from the police reports of each person (`person`: per
    record, police children then council children), flags to match, two kinds planted."""
    number, dob, sex = council
    n_police = len(person) - len(number)
    first, final = cr.day(FIRST_COUNCIL_DAY), cr.day(last_day)
    council_of = np.full(int(person.max()) + 1 if len(person) else 0, -1)
    council_of[person[n_police:]] = np.arange(len(number))
    adult = dob + int(18 * 365.25) - ADULT_MARGIN_DAYS
    sources = list(police)
    parts: dict[str, list[np.ndarray]] = {k: [] for k in ("src", "ep", "c", "day", "back")}
    police_person, offset = {}, 0
    for s, (name, ep) in enumerate(police.items()):
        k = _child_index(ep)
        police_person[name] = person[offset + k]
        offset += int(k.max()) + 1 if len(k) else 0
        c = council_of[police_person[name]]
        day = ep["reported_at"] // DAY
        keep = (c >= 0) & (day >= first) & (day <= final) & (day < adult[c])
        parts["src"].append(np.full(int(keep.sum()), s))
        parts["ep"].append(np.flatnonzero(keep))
        parts["c"].append(c[keep])
        parts["day"].append(day[keep])
        back = ep["returned"][keep]
        parts["back"].append(np.where(back < NEVER, back // DAY, NEVER))
    got = {
        k: np.concatenate(v + [np.zeros(0, np.int64)]).astype(np.int64) for k, v in parts.items()
    }
    order = np.lexsort((got["ep"], got["src"], got["day"], got["c"]))
    got = {k: v[order] for k, v in got.items()}
    looked_after, graded = np.zeros(len(order), bool), np.zeros(len(order), bool)
    for s, ep in enumerate(police.values()):
        mine = got["src"] == s
        e = got["ep"][mine]
        looked_after[mine] = ep["looked_after"][e] == 1
        # Planted below: a looked-after child's missing report (graded low or above under
        # the continuum, so a missing episode) whose council spell is left out.
        graded[mine] = (ep["regime"][e] == 2) & (ep["initial_grade"][e] >= 1)
    first_of_day = np.r_[True, (np.diff(got["c"]) != 0) | (np.diff(got["day"]) != 0)]
    days_of = np.bincount(got["c"], first_of_day[: len(got["c"])], len(number))
    spare = days_of[got["c"]] >= 2  # the child keeps another spell
    chance = (
        looked_after
        & graded
        & spare
        & _isolated(got["c"], got["day"], QUIET_DAYS)
        & (got["day"] <= final - CLEAR_OF_END_DAYS)
    )
    no_spell = _pick_distinct(rng, np.flatnonzero(chance), got["c"])
    flags = {name: np.zeros(len(ep["child"]), np.int8) for name, ep in police.items()}
    for s, e in zip(got["src"][looked_after], got["ep"][looked_after], strict=True):
        flags[sources[s]][e] = 1
    planted = {KINDS[1]: [(sources[got["src"][r]], int(got["ep"][r])) for r in no_spell]}
    derived = np.ones(len(got["c"]), bool)
    derived[no_spell] = False
    got = {k: v[derived] for k, v in got.items()}

    spell_of, m_child, m_start, m_end = _missing_spells(got["c"], got["day"], got["back"])

    # The council's own away spells, where they touch no missing spell.
    at = np.searchsorted(number, la["person_no"])
    at = np.minimum(at, max(len(number) - 1, 0))
    mine = (number[at] == la["person_no"]) if len(number) else np.zeros(len(at), bool)
    a_child = at[mine]
    a_start, a_end = la["start"][mine], la["end"][mine]
    own = paired[a_child] >= 0
    ok = (
        (la["away"][mine] == 1)
        & (a_start >= first)
        & (a_start <= final)
        & (a_start >= dob[a_child] + MIN_AGE_DAYS)
        & (a_start < adult[a_child])
    )
    ok &= own & _clear_of((m_child, m_start, m_end), (a_child, a_start, a_end))
    # Planted: an away spell recorded as missing, with no police report near it.
    reports = _reports_by_person(police, police_person)
    person_a = person[n_police + a_child]
    quiet = np.array(
        [
            _far(reports.get(int(p), np.zeros(0, np.int64)), int(s) * DAY, QUIET_DAYS * DAY)
            for p, s in zip(person_a, a_start, strict=True)
        ],
        bool,
    )
    chance = np.flatnonzero(ok & quiet & (a_start <= final - CLEAR_OF_END_DAYS))
    unreported = _pick_distinct(rng, chance, a_child)
    rest = np.setdiff1d(np.flatnonzero(ok), unreported)
    # A council child with no police counterpart keeps its spells, all away.
    alone = np.flatnonzero(paired[a_child] < 0)
    want = AWAY_SHARE / (1 - AWAY_SHARE) * (len(m_start) + len(unreported)) - len(alone)
    away = np.sort(rng.permutation(rest)[: max(int(round(want)), 0)])

    child = np.concatenate([m_child, a_child[unreported], a_child[away], a_child[alone]])
    spells = {
        "child": child,
        "start": np.concatenate([m_start, a_start[unreported], a_start[away], a_start[alone]]),
        "end": np.concatenate([m_end, a_end[unreported], a_end[away], a_end[alone]]),
        "away": np.r_[np.zeros(len(m_start) + len(unreported)), np.ones(len(away) + len(alone))],
        "spell": np.r_[np.arange(len(m_start)), np.full(len(child) - len(m_start), -1)],
        "planted": np.r_[
            np.zeros(len(m_start)), np.ones(len(unreported)), np.zeros(len(away) + len(alone))
        ],
    }
    o = np.lexsort((spells["start"], number[child] if len(child) else child))
    spells = {k: v[o].astype(np.int64) for k, v in spells.items()}
    child = spells.pop("child")
    final_end = np.where(spells["end"] > final, NEVER, spells["end"])
    new_la = {
        "person_no": number[child],
        "date_of_birth": dob[child],
        "start": spells["start"],
        "end": final_end,
        "away": spells["away"],
        "sex": sex[child],
        "spell": spells["spell"],
        "planted": spells["planted"],
    }
    return Aligned(
        new_la,
        flags,
        got["src"],
        got["ep"],
        spell_of,
        number,
        person[n_police:],
        police_person,
        planted,
    )


def _missing_spells(
    child: np.ndarray, day: np.ndarray, back: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Reports (sorted by child, day) as missing spells: one per child and report day, ending
    at the latest return, or the day before the child's next spell. Returns each report's
    spell, and each spell's child, start and end (days)."""
    new = np.r_[True, (child[1:] != child[:-1]) | (day[1:] != day[:-1])][: len(child)]
    spell_of = np.cumsum(new) - 1
    m_child, m_start = child[new], day[new]
    m_end = np.full(len(m_child), -1, np.int64)
    np.maximum.at(m_end, spell_of, back)
    last_of_child = np.r_[m_child[1:] != m_child[:-1], True][: len(m_child)]
    m_end = np.where(last_of_child, m_end, np.minimum(m_end, np.r_[m_start[1:], 0] - 1))
    return spell_of, m_child, m_start, m_end


def _clear_of(spells: tuple[np.ndarray, ...], others: tuple[np.ndarray, ...]) -> np.ndarray:
    """Which `others` (child, start, end) end before any of the child's `spells` (sorted by
    child, start) that starts later, and start after any that starts earlier has ended: the
    day after at the soonest, so the DfE overlap rule (574) has no tie to break."""
    m_child, m_start, m_end = spells
    a_child, a_start, a_end = others
    if not len(m_child):
        return np.ones(len(a_child), bool)
    key = m_child * 1_000_000 + m_start
    pos = np.searchsorted(key, a_child * 1_000_000 + a_start)
    prev, nxt = np.maximum(pos - 1, 0), np.minimum(pos, len(key) - 1)
    prev_ok = (pos == 0) | (m_child[prev] != a_child) | (m_end[prev] < a_start)
    next_ok = (pos == len(key)) | (m_child[nxt] != a_child) | (m_start[nxt] > a_end)
    return np.asarray(prev_ok & next_ok)


def _reports_by_person(
    police: dict[str, dict[str, np.ndarray]], police_person: dict[str, np.ndarray]
) -> dict[int, np.ndarray]:
    """Every police report time (minutes), sorted, per person."""
    people = np.concatenate([police_person[s] for s in police] + [np.zeros(0, np.int64)])
    times = np.concatenate([police[s]["reported_at"] for s in police] + [np.zeros(0, np.int64)])
    o = np.lexsort((times, people))
    people, times = people[o], times[o]
    cuts = np.flatnonzero(np.r_[True, people[1:] != people[:-1]]) if len(people) else people
    bounds = cuts.tolist() + [len(people)]
    return {int(people[a]): times[a:b] for a, b in zip(bounds[:-1], bounds[1:], strict=True)}


def _far(times: np.ndarray, at: int, gap: int) -> bool:
    """No time within `gap` minutes of `at`."""
    i = int(np.searchsorted(times, at - gap))
    return i == len(times) or times[i] > at + gap


def plant_unknown(
    rng: np.random.Generator,
    aligned: Aligned,
    police: dict[str, dict[str, np.ndarray]],
    council_people: np.ndarray,
    last_day: dt.date,
) -> None:
    """Planted: one report flagged looked after of a child no council record names (persons
    `council_people` are named by one)."""
    first, final = cr.day(FIRST_COUNCIL_DAY), cr.day(last_day) - CLEAR_OF_END_DAYS
    rows, owner, where = [], [], []
    for name, ep in police.items():
        day = ep["reported_at"] // DAY
        person = aligned.police_person[name]
        ok = (day >= first) & (day <= final) & ~np.isin(person, council_people)
        ok &= ep["looked_after"] == 1
        rows.append(np.flatnonzero(ok))
        owner.append(person[ok])
        where += [name] * int(ok.sum())
    flat = np.concatenate(rows + [np.zeros(0, np.int64)])
    chosen = _pick_distinct(rng, np.arange(len(flat)), np.concatenate(owner + [flat[:0]]))
    aligned.planted[KINDS[2]] = [(where[i], int(flat[i])) for i in chosen]
    for source, e in aligned.planted[KINDS[2]]:
        aligned.flags[source][e] = 1


def reported(aligned: Aligned, loaded: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The council's spells once the forces' files are written: a missing spell none of whose
    police reports loads (every row quarantined) is an away spell."""
    sources = list(aligned.police_person)
    hit = np.zeros(len(aligned.link_spell), bool)
    for s, name in enumerate(sources):
        mine = aligned.link_source == s
        hit[mine] = np.isin(aligned.link_episode[mine], loaded.get(name, np.zeros(0, np.int64)))
    spell_loaded = np.zeros(int(aligned.la["spell"].max(initial=-1)) + 1, bool)
    spell_loaded[aligned.link_spell[hit]] = True
    la = dict(aligned.la)
    derived = la["spell"] >= 0
    lost = np.zeros(len(la["spell"]), bool)
    lost[derived] = ~spell_loaded[la["spell"][derived]]
    la["away"] = np.where(lost, 1, la["away"])
    return la
