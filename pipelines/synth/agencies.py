"""Who is who across the synthetic sources, decided after the episodes are drawn.

The episodes of each source are simulated first (pipelines.synth.generator), each child with
its own date of birth and sex. Afterwards, from a random stream of its own, this module
decides which of those children are the same person: each council child missing from care
is paired with a force's child (pipelines.synth.alignment, whose date of birth and sex the
council then records, as records differ), a child known to two forces (dates of birth that
agree, or differ as records do: day and month swapped, one day out), a child given two
references by one force; which are twins (same date of birth, different child). The council's
missing spells then follow the police reports of the same person, and the police
looked-after flags the council's spells (pipelines.synth.alignment); the police episodes
themselves, and so every count asserted about them, stay exactly as they were. It then adds
the council's other children (in its case-management extract, its SSDA903 header and its
register of children missing education) and gives every person an identity
(pipelines.synth.identities).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from pipelines.synth import alignment as al
from pipelines.synth import council_records as cr
from pipelines.synth import identifiers as idf
from pipelines.synth import identities as ids
from pipelines.synth import record_errors as err

AGENCY_STREAM = 21  # identities of the generated sources: stream [seed, AGENCY_STREAM]
SECOND_FORCE_SHARE = 0.15  # council children paired with a force's child, sought in another
MULTI_FORCE_SHARE = 0.2  # police children sought in another force
TWO_REFS_SHARE = 0.1  # police children sought again in their own force (a second reference)
POLICE_TWIN_SHARE = 0.1  # police children sought as a twin in their own force
DOB_VARIANT_SHARES = (0.9, 0.05, 0.05)  # sought with the same date, day/month swapped, a day out
KNOWN_TO_COUNCIL_SHARE = 0.25  # persons only the police know who are on the council's system
COUNCIL_ONLY_SHARE = 0.5  # further council children (never missing), per child missing
COUNCIL_TWIN_SHARE = 0.05  # of those further children: a twin of a child missing from care
SIBLING_SHARE = 0.03
CME_ONLY_SHARE = 0.3  # of the CME register's children: known to no other service


@dataclass(frozen=True)
class Known:
    """The children one source's episodes record (person numbers, dates of birth in days
    since 1970, sexes as layouts.SEX codes), and for the council the collection years in
    which each was missing (year_child, year)."""

    source: str
    number: np.ndarray
    dob: np.ndarray
    sex: np.ndarray
    year_child: np.ndarray | None = None
    year: np.ndarray | None = None


@dataclass(frozen=True)
class Plan:
    """What the generator writes: per police source, per child (in Known order), forename,
    surname, postcode and la_child_ref; the council's files; and the truth."""

    police: dict[str, dict[str, np.ndarray]]
    la_children: pd.DataFrame
    header: pd.DataFrame  # one row per child and collection year
    cme: pd.DataFrame
    truth: pd.DataFrame  # source, person_ref, true_person


def plan_for(
    seed: int,
    police: dict[str, dict[str, np.ndarray]],
    la: dict[str, np.ndarray] | None,
    last_day: dt.date,
) -> tuple[Plan, al.Aligned | None]:
    """`plan` for the generator's simulated episodes: each force's, and the council's spells;
    where both are made, the council's spells aligned with the forces' reports
    (pipelines.synth.alignment), which the generator then writes in their place."""
    known = [known_police(s, ep) for s, ep in police.items()]
    if la is None or not police:
        council = None if la is None else known_council(la, last_day)
        return plan(seed, known, council, last_day), None
    rng = np.random.default_rng([seed, al.ALIGN_STREAM])
    council = known_council(la, last_day)
    assert council.year_child is not None
    spells = np.bincount(
        np.searchsorted(council.number, council.year_child), None, len(council.number)
    )
    counterpart, dob, sex = al.pair(rng, police, spells, last_day)
    paired = counterpart >= 0
    council = Known(
        council.source,
        council.number,
        np.where(paired, dob, council.dob),
        np.where(paired, sex, council.sex),
    )
    n_police = sum(len(k.number) for k in known)
    pairs = np.stack([n_police + np.flatnonzero(paired), counterpart[paired]], 1)
    box: list[al.Aligned] = []

    def aligned(person: np.ndarray) -> Known:
        triple = (council.number, council.dob, council.sex)
        box.append(al.align(rng, police, person, triple, counterpart, la, last_day))
        after = known_council(box[0].la, last_day)
        assert np.array_equal(after.number, council.number)  # every child keeps a spell
        return after

    made = plan(seed, known, council, last_day, pairs, aligned)
    # Persons some council record names: its children, looked after or not, and the register.
    named = [made.la_children["person"], made.header["person"], made.cme["person"]]
    named_people = np.unique(np.concatenate([f.to_numpy(np.int64) for f in named]))
    al.plant_unknown(rng, box[0], police, named_people, last_day)
    return made, box[0]


def known_police(source: str, ep: dict[str, np.ndarray]) -> Known:
    """A force's children as its episodes record them, in child order."""
    _, first = np.unique(ep["child"], return_index=True)
    return Known(source, ep["person_no"][first], ep["date_of_birth"][first], ep["sex"][first])


def known_council(la: dict[str, np.ndarray], last_day: dt.date) -> Known:
    """The council's children missing from care (those in a Missing table), and the
    collection years of their spells."""
    first_year, last_year = cr.collection_years(last_day)
    start = la["start"].astype("datetime64[D]")
    year = start.astype("datetime64[Y]").astype(np.int64) + 1970
    year -= (start.astype("datetime64[M]").astype(np.int64) % 12 < 3).astype(np.int64)
    ends = la["end"]
    in_files = (year <= last_year) & (ends >= cr.day(dt.date(first_year, 4, 1)))
    number, first = np.unique(la["person_no"][in_files], return_index=True)
    rows = np.flatnonzero(in_files)[first]
    return Known(
        "riverton",
        number,
        la["date_of_birth"][rows],
        la["sex"][rows],
        la["person_no"][in_files],
        np.maximum(year[in_files], first_year),
    )


class _Finder:
    """Records by (source, date of birth), to find a counterpart for a record."""

    def __init__(self, source: np.ndarray, dob: np.ndarray, sex: np.ndarray) -> None:
        self.sex = sex
        self.taken = np.zeros(len(dob), bool)
        self.index: dict[tuple[int, int], list[int]] = {}
        for i, key in enumerate(zip(source.tolist(), dob.tolist(), strict=True)):
            self.index.setdefault(key, []).append(i)

    def find(self, rng: np.random.Generator, i: int, sources: list[int], day: int) -> int | None:
        """An untaken record of one of the sources (tried in turn) born on `day`, whose sex
        does not contradict record i's."""
        for s in sources:
            options = [
                j
                for j in self.index.get((s, day), [])
                if j != i and not self.taken[j] and _same_sex(self.sex[i], self.sex[j])
            ]
            if options:
                return options[int(rng.integers(0, len(options)))]
        return None


def _same_sex(a: int, b: int) -> bool:
    return a == b or a >= 2 or b >= 2  # X and U contradict nothing


def _link(
    rng: np.random.Generator,
    source: np.ndarray,
    dob: np.ndarray,
    sex: np.ndarray,
    n_police: int,
    pairs: np.ndarray | None,
) -> tuple[np.ndarray, np.ndarray]:
    """Each record's person (records of one person share it), and twin pairs (records).
    `pairs`: council and police records known to be one child."""
    finder = _Finder(source, dob, sex)
    parent = np.arange(len(dob))
    police_sources = sorted(set(source[:n_police].tolist()))

    def seek(i: int, sources: list[int]) -> int | None:
        kind = int(np.searchsorted(np.cumsum(DOB_VARIANT_SHARES), rng.random() * 1.0, "right"))
        swapped, off = al.variants(int(dob[i]))
        days = [int(dob[i]), swapped, off][kind]
        j = finder.find(rng, i, sources, days if days is not None else int(dob[i]))
        return finder.find(rng, i, sources, int(dob[i])) if j is None and kind else j

    def join(i: int, j: int | None) -> bool:
        if j is None:
            return False
        finder.taken[[i, j]] = True
        parent[j] = parent[i]
        return True

    # Council children sought in the forces' records: those paired with a force's child.
    for i, j in [] if pairs is None else pairs.tolist():
        order = list(rng.permutation(police_sources))
        if join(int(i), j) and rng.random() < SECOND_FORCE_SHARE:
            join(int(i), seek(int(i), [s for s in order if s != source[j]]))
    twins: list[tuple[int, int]] = []
    for i in rng.permutation(n_police):
        u = rng.random()
        own = int(source[i])
        if finder.taken[i] or u >= MULTI_FORCE_SHARE + TWO_REFS_SHARE + POLICE_TWIN_SHARE:
            continue
        if u < MULTI_FORCE_SHARE:
            join(int(i), seek(int(i), [s for s in rng.permutation(police_sources) if s != own]))
        elif u < MULTI_FORCE_SHARE + TWO_REFS_SHARE:
            join(int(i), seek(int(i), [own]))
        else:
            j = finder.find(rng, int(i), [own], int(dob[i]))
            if j is not None:
                finder.taken[[i, j]] = True
                twins.append((int(i), j))
    return parent, np.array(twins, np.int64).reshape(-1, 2)


def plan(
    seed: int,
    police: list[Known],
    council: Known | None,
    last_day: dt.date,
    pairs: np.ndarray | None = None,
    aligned: Callable[[np.ndarray], Known] | None = None,
) -> Plan:
    """Decide who is who among the sources' children, add the council's other children, and
    give every record an identity with the errors real records have. `aligned`, given each
    record's person, returns the council's children with the years of their aligned spells."""
    rng = np.random.default_rng([seed, AGENCY_STREAM])
    known = police + ([council] if council is not None else [])
    n_police = sum(len(k.number) for k in police)
    source = np.concatenate([np.full(len(k.number), s) for s, k in enumerate(known)] + [[]])
    dob = np.concatenate([k.dob for k in known] + [[]]).astype(np.int64)
    sex = np.concatenate([k.sex for k in known] + [[]]).astype(np.int64)
    parent, twin_records = _link(rng, source.astype(np.int64), dob, sex, n_police, pairs)
    _, person = np.unique(parent, return_inverse=True)
    if aligned is not None:
        known[-1] = aligned(person)
    n_people = int(person.max()) + 1 if len(person) else 0
    first = np.zeros(n_people, np.int64)
    first[person[::-1]] = np.arange(len(person))[::-1]  # each person's first record

    # The council's children: those missing from care, some only the police know of, others
    # never missing (a few the twin of one who was), and some on the CME register alone.
    last = cr.day(last_day)
    missing = np.unique(person[n_police:])
    police_only = np.setdiff1d(np.arange(n_people), missing)
    on_system = police_only[rng.random(len(police_only)) < KNOWN_TO_COUNCIL_SHARE]
    if council is None:
        on_system = on_system[:0]
    n_other = int(round(COUNCIL_ONLY_SHARE * len(missing)))
    n_twins = min(int(round(COUNCIL_TWIN_SHARE * n_other)), len(missing))
    n_la = len(missing) + len(on_system) + n_other
    n_cme_only = int(round(cr.CME_SHARE * n_la * CME_ONLY_SHARE / (1 - CME_ONLY_SHARE)))
    twin_of = rng.choice(missing, n_twins, replace=False)
    extra_dob = np.concatenate(
        [
            last - rng.integers(int(5 * 365.25), int(17.5 * 365.25), n_other),
            last - rng.integers(int(6 * 365.25), int(15.5 * 365.25), n_cme_only),
        ]
    )
    extra_dob[:n_twins] = dob[first[twin_of]]
    extra = n_people + np.arange(n_other + n_cme_only)
    all_dob = np.concatenate([dob[first], extra_dob])
    all_sex = np.concatenate([sex[first], (rng.random(len(extra)) < 0.5).astype(np.int64)])
    twins = np.concatenate(
        [person[twin_records].reshape(-1, 2), np.stack([twin_of, extra[:n_twins]], 1)]
    ).astype(np.int64)
    taken = np.zeros(len(all_dob), bool)
    taken[twins.ravel()] = True
    siblings = ids.pairs(rng, len(all_dob), SIBLING_SHARE, taken)
    siblings = siblings[np.abs(all_dob[siblings[:, 0]] - all_dob[siblings[:, 1]]) > 300]
    sex_text = np.array(["M", "F", "X", "U"], object)[all_sex]
    folk = ids.people(rng, all_dob, sex_text, twins, siblings)
    la = np.concatenate([missing, on_system, extra[:n_other]])
    return _records(rng, known, n_police, person, folk, la, missing, extra[n_other:], last_day)


def _records(
    rng: np.random.Generator,
    known: list[Known],
    n_police: int,
    person: np.ndarray,
    folk: dict[str, np.ndarray],
    la: np.ndarray,
    missing: np.ndarray,
    cme_only: np.ndarray,
    last_day: dt.date,
) -> Plan:
    """Every source's records of these persons, with errors, and the truth behind them."""
    total = len(folk["date_of_birth"])
    police_known, council = (known[:-1], known[-1]) if len(person) > n_police else (known, None)
    police_person, council_person = person[:n_police], person[n_police:]
    # Council references: a child missing from care keeps its CHILD; the rest get new ones.
    council_ref = np.full(total, None, object)
    if council is not None:
        council_ref[council_person] = idf.council_refs(council.number)
        new = np.setdiff1d(np.concatenate([la, cme_only]), missing)
        base = max(500_000, (int(council.number.max(initial=0)) // 100_000 + 1) * 100_000)
        council_ref[new] = idf.council_refs(base + rng.permutation(len(new)))
    police_refs = np.concatenate(
        [idf.police_refs(k.source, k.number) for k in police_known] + [np.zeros(0, object)]
    )
    kinds = np.full(n_police, ids.KINDS.index("police"))
    columns, _ = ids.noisy_records(rng, folk, police_person, kinds, np.ones(n_police, bool))
    la_child_ref = np.full(n_police, None, object)
    reported = council_ref[police_person] != None  # noqa: E711
    i = err.choose(rng, reported, ids.LA_CHILD_REF_SHARE)
    # A force reporting a child the council reports missing from care (their records agree,
    # pipelines.synth.alignment) records the council's id: such a child is always linked.
    i = np.union1d(i, np.flatnonzero(np.isin(police_person, council_person)))
    la_child_ref[i] = council_ref[police_person[i]]
    police: dict[str, dict[str, np.ndarray]] = {}
    start = 0
    for k in police_known:
        part = slice(start, start + len(k.number))
        police[k.source] = {f: columns[f][part] for f in ("forename", "surname", "postcode")}
        police[k.source]["la_child_ref"] = la_child_ref[part]
        start += len(k.number)

    truth = [
        pd.DataFrame(
            {
                "source": np.concatenate([np.full(len(k.number), k.source, object) for k in known]),
                "person_ref": np.concatenate([police_refs, council_ref[council_person]]),
                "person": person,
            }
        )
    ]
    la_children = header = register = pd.DataFrame({"person": np.zeros(0, np.int64)})
    if council is not None:
        la_children = cr.la_children(
            rng, folk, la, missing, council_ref, police_person, police_refs
        )
        assert council.year_child is not None and council.year is not None
        header = cr.header(
            rng,
            folk,
            council.number,
            council.dob,
            council_person,
            council.year_child,
            council.year,
            la_children,
            last_day,
        )
        register = cr.cme(rng, folk, la, cme_only, council_ref, last_day)
        for name, frame, ref in (
            ("riverton_children", la_children, "person_ref"),
            ("riverton_header", header, "CHILD"),
            ("riverton_cme", register, "person_ref"),
        ):
            unique = frame.drop_duplicates(ref)
            truth.append(
                pd.DataFrame(
                    {"source": name, "person_ref": unique[ref], "person": unique["person"]}
                )
            )
    everyone = pd.concat(truth, ignore_index=True)
    label = idf.join_text("P", idf.zfill(rng.permutation(total), 6))
    everyone["true_person"] = label[everyone.pop("person").to_numpy()]
    return Plan(police, la_children, header, register, everyone)


def loaded_only(plan: Plan, loaded: dict[str, np.ndarray]) -> Plan:
    """The plan with the truth of these sources cut to the children their files load (by
    person number): a child whose every row is quarantined is in no identity record."""
    refs = {
        source: set(
            (
                idf.council_refs(numbers)
                if source == "riverton"
                else idf.police_refs(source, numbers)
            ).tolist()
        )
        for source, numbers in loaded.items()
    }
    truth = plan.truth
    keep = [
        s not in refs or r in refs[s]
        for s, r in zip(truth["source"], truth["person_ref"], strict=True)
    ]
    return Plan(plan.police, plan.la_children, plan.header, plan.cme, truth[keep])
