"""Fictional children and the identity records agencies keep about them, with the errors real
records have, and the truth of who is who.

A child is a row of `people`: names from pipelines.synth.names, a date of birth, sex, a home
postcode, a UPN and perhaps an NHS number; twins and siblings share a surname, an address and
(twins) a date of birth. Each source's record of a child is a noisy copy (record_errors).
Everything draws from its own random stream, so adding identities to the synthetic sources
leaves their episodes as they were. Vectorised: 500,000 records in a few seconds.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from pipelines.synth import record_errors as err
from pipelines.synth.identifiers import (
    council_refs,
    nhs_numbers,
    police_refs,
    postcodes,
    upns,
)
from pipelines.synth.names import ETHNIC_CODES, ETHNIC_SHARES, FORENAMES, SURNAME_POOL

# Identities draw from stream [seed, IDENTITY_STREAM], apart from every episode stream.
IDENTITY_STREAM = 20
POLICE_SOURCES = ("northshire", "eastmoor", "westvale", "southbay")
POLICE_SHARES = (0.20, 0.15, 0.15, 0.50)
COUNCIL = "riverton"  # the council's agency; its sources share its child ids (CHILD)
HEADER, CHILDREN, CME = "riverton", "riverton_children", "riverton_cme"
SOURCE_KIND = {HEADER: "ssda903_header", CHILDREN: "la_children", CME: "cme"}
# Shares of the council's records by source: every looked-after child (header) is also in
# the case-management extract; some children missing education are known to nobody else.
COUNCIL_SHARES = {CHILDREN: 0.6, HEADER: 0.3, CME: 0.1}
CME_ONLY_SHARE = 0.3
FORCES_PER_CHILD = (0.85, 0.12, 0.03)  # a child reported by 1, 2 or 3 forces
TWO_REFS_SHARE = 0.02  # children given a second person reference by one force
KNOWN_TO_COUNCIL_SHARE = 0.3  # police children who are also the council's children
TWIN_SHARE = 0.02  # children who are one of twins
SIBLING_SHARE = 0.03  # children who have a brother or sister among the others
DOUBLE_BARRELLED_SHARE = 0.04
LA_CHILD_REF_SHARE = 0.3  # police records of a council's child that carry its child id
POLICE_REF_SHARE = 0.3  # case-management records of a reported child that carry a police ref
# The identity fields each kind of source carries, and the share of its records that do.
CARRIES: dict[str, dict[str, float]] = {
    "police": {"forename": 1, "surname": 1, "date_of_birth": 1, "sex": 1, "postcode": 1}
    | {"upn": 0.02, "nhs_number": 0.10},
    "la_children": {"forename": 1, "surname": 1, "date_of_birth": 1, "sex": 1, "postcode": 1}
    | {"upn": 0.85, "nhs_number": 0.60},
    "ssda903_header": {"date_of_birth": 1, "sex": 1, "upn": 0.9},
    "cme": {"forename": 1, "surname": 1, "date_of_birth": 1, "postcode": 1, "upn": 0.7},
}
BIRTHS = ("2006-04-01", "2016-03-31")  # dates of birth drawn between these
RECORD_COLUMNS = (
    *("record_id", "source", "agency", "person_ref", "forename", "surname", "date_of_birth"),
    *("sex", "postcode", "upn", "nhs_number", "la_child_ref", "police_ref"),
)


@dataclass(frozen=True)
class Draw:
    """Identity records, their truth, and which errors each record carries."""

    records: pd.DataFrame
    truth: pd.DataFrame
    errors: pd.DataFrame  # a boolean column per error kind (record_errors.RATES), second_reference
    people: pd.DataFrame  # per true person: date_of_birth, sex, twin_of, sibling_of (-1: none)


def identity_rng(seed: int) -> np.random.Generator:
    """The identity stream for a seed, independent of the episode streams."""
    return np.random.default_rng([seed, IDENTITY_STREAM])


def _pick(rng: np.random.Generator, n: int, shares: tuple[float, ...]) -> np.ndarray:
    return np.searchsorted(np.cumsum(shares), rng.random(n) * sum(shares), side="right")


def pairs(rng: np.random.Generator, n: int, share: float, taken: np.ndarray) -> np.ndarray:
    """Disjoint (first, second) pairs of people, share x n people in all, none already taken."""
    free = np.flatnonzero(~taken)
    k = min(int(round(share * n / 2)), len(free) // 2)
    chosen = rng.choice(free, 2 * k, replace=False).reshape(k, 2)
    taken[chosen.ravel()] = True
    return chosen


def people(
    rng: np.random.Generator,
    dob: np.ndarray,
    sex: np.ndarray,
    twins: np.ndarray,
    siblings: np.ndarray,
) -> dict[str, np.ndarray]:
    """True identities for children with these dates of birth (days) and sexes (M/F/X/U);
    each (first, second) pair of twins or siblings shares a surname, group and home."""
    n = len(dob)
    group = _pick(rng, n, ETHNIC_SHARES)
    for first, second in (twins.T, siblings.T):
        group[second] = group[first]
    girl = (sex == "F") | ((sex != "M") & (rng.random(n) < 0.5))
    forename = np.zeros(n, np.int64)
    surname = np.zeros(n, np.int64)
    for g in range(len(ETHNIC_CODES)):
        for is_girl in (False, True):
            mine = (group == g) & (girl == is_girl)
            options = FORENAMES.of(g, is_girl)
            forename[mine] = options[rng.integers(0, len(options), int(mine.sum()))]
        options = SURNAME_POOL.of(g)
        surname[group == g] = options[rng.integers(0, len(options), int((group == g).sum()))]
    second_surname = np.where(
        rng.random(n) < DOUBLE_BARRELLED_SHARE, rng.integers(0, len(SURNAME_POOL.name), n), -1
    )
    second_surname[second_surname == surname] = -1
    household = np.arange(n)
    for first, second in (twins.T, siblings.T):
        surname[second], second_surname[second] = surname[first], second_surname[first]
        household[second] = household[first]
        # Brothers and sisters never share a forename: the second takes the next name.
        same = np.flatnonzero(forename[first] == forename[second])
        forename[second[same]] = _next_in_group(forename[second[same]])
    full_surname = SURNAME_POOL.name[surname].astype(object)
    double = second_surname >= 0
    full_surname[double] = full_surname[double] + "-" + SURNAME_POOL.name[second_surname[double]]
    twin_of, sibling_of = np.full(n, -1), np.full(n, -1)
    twin_of[twins[:, 1]], twin_of[twins[:, 0]] = twins[:, 0], twins[:, 1]
    sibling_of[siblings[:, 1]], sibling_of[siblings[:, 0]] = siblings[:, 0], siblings[:, 1]
    return {
        "group": np.array(ETHNIC_CODES)[group],
        "group_idx": group,
        "forename_idx": forename,
        "surname_idx": surname,
        "second_surname_idx": second_surname,
        "forename": FORENAMES.name[forename],
        "surname": full_surname,
        "date_of_birth": dob.astype(np.int64),
        "sex": sex,
        "postcode": postcodes(rng, n)[household],
        "upn": upns(rng, n),
        "nhs_number": nhs_numbers(rng, n),
        "twin_of": twin_of,
        "sibling_of": sibling_of,
    }


def _next_in_group(idx: np.ndarray) -> np.ndarray:
    """The next forename of the same group and sex (wrapping round)."""
    out = idx.copy()
    for k, i in enumerate(idx):
        options = FORENAMES.of(int(FORENAMES.group[i]), bool(FORENAMES.girl[i]))
        out[k] = options[(np.searchsorted(options, i) + 1) % len(options)]
    return out


KINDS = tuple(CARRIES)
SSDA903_SEX = {"M": "1", "F": "2"}


def noisy_records(
    rng: np.random.Generator,
    folk: dict[str, np.ndarray],
    person: np.ndarray,
    kind: np.ndarray,
    fixed_dob: np.ndarray | None = None,
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Each source's record of each child (kind: index into KINDS): the fields its kind
    carries, with errors planted; and which records carry which error. Dates of birth marked
    fixed_dob are left as they are (a police extract's own, already written)."""
    n = len(person)
    hits = {k: np.zeros(n, bool) for k in err.RATES}
    carried = {
        field: rng.random(n) < np.array([CARRIES[k].get(field, 0.0) for k in KINDS])[kind]
        for field in (
            "forename",
            "surname",
            "date_of_birth",
            "sex",
            "postcode",
            "upn",
            "nhs_number",
        )
    }

    def copy(field: str) -> np.ndarray:
        values = folk[field].astype(object)[person]
        values[~carried[field] | (values == None)] = None  # noqa: E711
        return values

    forename, surname, postcode = copy("forename"), copy("surname"), copy("postcode")
    upn, nhs = copy("upn"), copy("nhs_number")
    err.plant_forename(rng, forename, folk["forename_idx"][person], FORENAMES, hits)
    err.plant_surname(
        rng,
        surname,
        folk["surname_idx"][person],
        folk["second_surname_idx"][person],
        folk["group_idx"][person],
        SURNAME_POOL,
        hits,
    )
    days = folk["date_of_birth"][person].copy()
    dob_noisy = carried["date_of_birth"] & (True if fixed_dob is None else ~fixed_dob)
    err.plant_dob(rng, days, dob_noisy, hits)
    dob = days.astype("datetime64[D]")
    dob[~carried["date_of_birth"]] = np.datetime64("NaT")
    err.plant_postcode(rng, postcode, folk["postcode"], hits)
    err.plant_codes(rng, upn, nhs, hits)
    sex = folk["sex"][person]
    header = kind == KINDS.index("ssda903_header")
    sex[header] = [SSDA903_SEX.get(s) for s in sex[header]]
    sex[~carried["sex"]] = None
    columns = {"forename": forename, "surname": surname, "date_of_birth": dob, "sex": sex}
    return columns | {"postcode": postcode, "upn": upn, "nhs_number": nhs}, hits


def _refs_by_source(
    rng: np.random.Generator, source: np.ndarray, person: np.ndarray, council_people: int
) -> np.ndarray:
    """Each record's person reference: a force numbers each of its records of a child
    afresh; the council's sources share the council's child id (agency `riverton`)."""
    ref = np.empty(len(source), object)
    for force in POLICE_SOURCES:
        mine = np.flatnonzero(source == force)
        ref[mine] = police_refs(force, 1_000 + rng.permutation(len(mine)))
    council = council_refs(100_000 + rng.permutation(council_people))
    at_council = np.isin(source, list(SOURCE_KIND))
    ref[at_council] = council[person[at_council]]
    return ref


def _police_layout(
    rng: np.random.Generator, n_police: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(police child, force, second reference?) of each of n_police records: a child
    reported by one to three forces, a few given two references by one of them."""
    k = _pick(rng, n_police, FORCES_PER_CHILD) + 1
    two = rng.random(n_police) < TWO_REFS_SHARE
    per = k + two
    children = int(np.searchsorted(np.cumsum(per), n_police)) + 1
    first = _pick(rng, children, POLICE_SHARES)
    step = rng.integers(1, 4, children)  # the other forces: first + step, first + step % 3 + 1
    forces = np.stack([first, (first + step) % 4, (first + step % 3 + 1) % 4, first], axis=1)
    has = np.stack(
        [np.ones(children, bool), k[:children] >= 2, k[:children] >= 3, two[:children]], 1
    )
    child = np.repeat(np.arange(children), has.sum(axis=1))[:n_police]
    second = np.broadcast_to(np.arange(4) == 3, has.shape)[has][:n_police]
    return child, forces[has][:n_police], second


def draw(n_police: int, n_council: int, seed: int) -> Draw:
    """A seeded population and its records: n_police across the four forces, n_council
    across the council's SSDA903 header, case-management extract and CME register."""
    rng = identity_rng(seed)
    n_children = int(round(n_council * COUNCIL_SHARES[CHILDREN]))
    n_header = int(round(n_council * COUNCIL_SHARES[HEADER]))
    n_cme = n_council - n_children - n_header
    n_cme_only = int(round(n_cme * CME_ONLY_SHARE))
    council_people = n_children + n_cme_only
    header = rng.choice(n_children, n_header, replace=False)
    cme = np.concatenate(
        [
            rng.choice(n_children, n_cme - n_cme_only, replace=False),
            n_children + np.arange(n_cme_only),
        ]
    )
    police_child, force, second_ref = _police_layout(rng, n_police)
    n_police_children = int(police_child.max()) + 1 if n_police else 0
    known = min(int(round(KNOWN_TO_COUNCIL_SHARE * n_police_children)), council_people)
    police_person = council_people + np.arange(n_police_children)
    shuffled = rng.permutation(n_police_children)[:known]
    police_person[shuffled] = rng.choice(council_people, known, replace=False)
    police_person[np.sort(np.setdiff1d(np.arange(n_police_children), shuffled))] = (
        council_people + np.arange(n_police_children - known)
    )
    n_people = council_people + n_police_children - known

    taken = np.zeros(n_people, bool)
    twins, siblings = (
        pairs(rng, n_people, TWIN_SHARE, taken),
        pairs(rng, n_people, SIBLING_SHARE, taken),
    )
    lo, hi = (np.datetime64(d).astype(np.int64) for d in BIRTHS)
    dob = rng.integers(lo, hi + 1, n_people)
    dob[twins[:, 1]] = dob[twins[:, 0]]
    gap = rng.integers(366, 5 * 365, len(siblings)) * np.where(
        rng.random(len(siblings)) < 0.5, -1, 1
    )
    dob[siblings[:, 1]] = dob[siblings[:, 0]] + gap
    sex = np.where(rng.random(n_people) < 0.5, "M", "F").astype(object)
    folk = people(rng, dob, sex, twins, siblings)

    source = np.concatenate(
        [
            np.array(POLICE_SOURCES, object)[force],
            np.full(n_children, CHILDREN, object),
            np.full(n_header, HEADER, object),
            np.full(n_cme, CME, object),
        ]
    )
    person = np.concatenate([police_person[police_child], np.arange(n_children), header, cme])
    kind = _kinds(source)
    ref = _refs_by_source(rng, source, person, council_people)
    columns, hits = noisy_records(rng, folk, person, kind)
    la_child_ref, police_ref = cross_references(rng, source, person, ref, council_people)
    records = _frame(
        {
            "record_id": source + ":" + ref,
            "source": source,
            "agency": np.where(np.isin(source, list(SOURCE_KIND)), COUNCIL, source).astype(object),
            "person_ref": ref,
            **columns,
            "la_child_ref": la_child_ref,
            "police_ref": police_ref,
        }
    )
    label = np.char.add("P", np.char.zfill(rng.permutation(n_people).astype(str), 7)).astype(object)
    truth = pd.DataFrame({"record_id": records["record_id"], "true_person": label[person]})
    hits["second_reference"] = np.concatenate([second_ref, np.zeros(n_council, bool)])
    kin = pd.DataFrame({k: folk[k] for k in ("date_of_birth", "sex", "twin_of", "sibling_of")})
    return Draw(records, truth, pd.DataFrame(hits), kin)


def _frame(columns: dict[str, np.ndarray]) -> pd.DataFrame:
    """Columns as a frame, text kept as Python objects (None for blank): converting half a
    million values to pandas' string type would cost more than drawing them."""
    return pd.DataFrame(
        {k: pd.Series(v, dtype=object) if v.dtype == object else v for k, v in columns.items()}
    )[[c for c in RECORD_COLUMNS if c in columns]]


def _kinds(source: np.ndarray) -> np.ndarray:
    """Each record's kind of source (index into KINDS)."""
    kind = np.full(len(source), KINDS.index("police"))
    for name, layout in SOURCE_KIND.items():
        kind[source == name] = KINDS.index(layout)
    return kind


def cross_references(
    rng: np.random.Generator,
    source: np.ndarray,
    person: np.ndarray,
    ref: np.ndarray,
    council_people: int,
) -> tuple[np.ndarray, np.ndarray]:
    """The council's child id on some police records of its children, and a police
    reference on some case-management records of children the police have reported."""
    police = np.isin(source, POLICE_SOURCES)
    council_child_ref = np.full(council_people, None, object)
    council = np.flatnonzero(~police)
    council_child_ref[person[council]] = ref[council]
    la_child_ref = np.full(len(source), None, object)
    i = err.choose(rng, police & (person < council_people), LA_CHILD_REF_SHARE)
    la_child_ref[i] = council_child_ref[person[i]]
    first_police_ref = np.full(int(person.max()) + 1 if len(person) else 0, None, object)
    p_rows = np.flatnonzero(police)
    owners, at = np.unique(person[p_rows], return_index=True)
    first_police_ref[owners] = ref[p_rows[at]]
    police_ref = np.full(len(source), None, object)
    reported = (source == CHILDREN) & (first_police_ref[person] != None)  # noqa: E711
    i = err.choose(rng, reported, POLICE_REF_SHARE)
    police_ref[i] = first_police_ref[person[i]]
    return la_child_ref, police_ref


def person_records(n_police: int, n_council: int, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Identity records (RECORD_COLUMNS; raw values with realistic errors) and their truth
    (record_id, true_person) for a seeded population; record_id is "<source>:<person_ref>"."""
    result = draw(n_police, n_council, seed)
    return result.records, result.truth
