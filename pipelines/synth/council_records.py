"""Riverton Council's records of its children, for pipelines.synth.agencies: its
case-management extract (`la_children`), its SSDA903 header rows (`ssda903_header`, per
collection year) and its register of children missing education (`cme`)."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from pipelines.synth import identities as ids
from pipelines.synth import record_errors as err

LA_CHILDREN_COLUMNS = (
    *("person_ref", "forename", "surname", "date_of_birth", "sex", "postcode", "upn"),
    *("nhs_number", "looked_after", "police_ref"),
)
HEADER_COLUMNS = ("CHILD", "SEX", "DOB", "ETHNIC", "UPN")
CME_COLUMNS = (
    *("person_ref", "forename", "surname", "date_of_birth", "upn", "postcode"),
    *("off_roll_on", "reason", "resolved_on"),
)
# SSDA903's codes for a child without a UPN (DfE): under 6, never in school, abroad, newly
# arrived, sources not available.
UPN_UNKNOWN = ("UN1", "UN2", "UN3", "UN4", "UN5")
CME_SECOND_SPELL_SHARE = 0.2
CME_OPEN_SHARE = 0.25
YEAR = 365.25
LOOKED_AFTER_SHARE = 0.4  # of the council's children never missing from care, looked after
CME_SHARE = 0.08  # council children on the register of children missing education
CME_REASONS = (
    "moved away, destination unknown",
    "not registered at any school",
    "failed to start at allocated school",
    "removed from roll after 20 days' absence",
    "left for elective home education, not confirmed",
)
CME_SINCE = dt.date(2019, 9, 1)  # the register as the council keeps it: entries since then
ETHNIC_UNKNOWN = ("REFU", "NOBT")  # refused, not obtained
ETHNIC_UNKNOWN_SHARE = 0.03


def day(d: dt.date) -> int:
    """Days since 1970-01-01."""
    return (d - dt.date(1970, 1, 1)).days


def collection_years(last_day: dt.date) -> tuple[int, int]:
    """The first and last SSDA903 collection years (starting 1 April) the sources cover."""
    return 2012, last_day.year if last_day.month >= 4 else last_day.year - 1


def _kind(n: int, kind: str) -> np.ndarray:
    return np.full(n, ids.KINDS.index(kind))


def la_children(
    rng: np.random.Generator,
    folk: dict[str, np.ndarray],
    la: np.ndarray,
    missing: np.ndarray,
    council_ref: np.ndarray,
    police_person: np.ndarray,
    police_refs: np.ndarray,
) -> pd.DataFrame:
    """The case-management extract: every council child but those on the CME register
    alone; looked after: all who went missing from care, some others; a police reference
    on some records of children a force has reported."""
    columns, _ = ids.noisy_records(rng, folk, la, _kind(len(la), "la_children"))
    looked_after = np.isin(la, missing) | (rng.random(len(la)) < LOOKED_AFTER_SHARE)
    first_ref = np.full(len(folk["date_of_birth"]), None, object)
    owners, at = np.unique(police_person, return_index=True)
    first_ref[owners] = police_refs[at]
    police_ref = np.full(len(la), None, object)
    i = err.choose(rng, first_ref[la] != None, ids.POLICE_REF_SHARE)  # noqa: E711
    police_ref[i] = first_ref[la[i]]
    frame = pd.DataFrame(
        {"person_ref": council_ref[la]}
        | {c: columns[c] for c in LA_CHILDREN_COLUMNS[1:8]}
        | {"looked_after": np.where(looked_after, "Y", "N"), "police_ref": police_ref}
        | {"person": la}
    )
    return frame.sort_values("person_ref", ignore_index=True)


def header(
    rng: np.random.Generator,
    folk: dict[str, np.ndarray],
    council_number: np.ndarray,
    council_dob: np.ndarray,
    council_person: np.ndarray,
    year_child: np.ndarray,
    year: np.ndarray,
    children: pd.DataFrame,
    last_day: dt.date,
) -> pd.DataFrame:
    """One row per looked-after child and collection year: a child missing from care in the
    years of its Missing table rows (with that table's DOB), any other in one year of its
    childhood."""
    first, last = collection_years(last_day)
    lac = children.loc[children["looked_after"] == "Y", ["person", "person_ref"]]
    person = lac["person"].to_numpy()
    columns, _ = ids.noisy_records(rng, folk, person, _kind(len(person), "ssda903_header"))
    # A child missing from care: the DOB of its Missing table rows, the same return's.
    own = dict(zip(council_person.tolist(), council_dob.tolist(), strict=True))
    dob = np.array([own.get(p, -1) for p in person.tolist()], np.int64)
    days = columns["date_of_birth"].astype("datetime64[D]").astype(np.int64)
    dob = np.where(dob >= 0, dob, days)
    sex = columns["sex"]
    unsure = (sex != "1") & (sex != "2")
    sex[unsure] = np.where(rng.random(int(unsure.sum())) < 0.5, "1", "2")
    ethnic = folk["group"][person].astype(object)
    unknown = rng.random(len(person)) < ETHNIC_UNKNOWN_SHARE
    ethnic[unknown] = np.array(ETHNIC_UNKNOWN, object)[rng.integers(0, 2, int(unknown.sum()))]
    upn = columns["upn"]
    blank = upn == None  # noqa: E711
    upn[blank] = np.array(UPN_UNKNOWN, object)[rng.integers(0, 5, int(blank.sum()))]
    rows = pd.DataFrame(
        {"CHILD": lac["person_ref"].to_numpy(), "SEX": sex, "DOB": dob, "ETHNIC": ethnic}
        | {"UPN": upn, "person": person}
    )
    # Years: those of the child's Missing table rows, else one while aged 10 to 17.
    by_number = dict(zip(council_number.tolist(), council_person.tolist(), strict=True))
    years = pd.DataFrame(
        {
            "person": [by_number[c] for c in year_child.tolist()],
            "year": year,
        }
    ).drop_duplicates()
    others = rows.loc[~rows["person"].isin(years["person"]), ["person", "DOB"]]
    born = (others["DOB"].to_numpy().astype("datetime64[D]").astype("datetime64[Y]")).astype(
        np.int64
    ) + 1970
    lo, hi = np.maximum(first, born + 10), np.minimum(last, born + 17)
    ok = lo <= hi
    pick = lo + (rng.random(len(lo)) * (hi - lo + 1)).astype(np.int64)
    years = pd.concat(
        [years, pd.DataFrame({"person": others["person"].to_numpy()[ok], "year": pick[ok]})]
    )
    years = years[(years["year"] >= first) & (years["year"] <= last)]
    return rows.merge(years, on="person").sort_values(["year", "CHILD"], ignore_index=True)


def cme(
    rng: np.random.Generator,
    folk: dict[str, np.ndarray],
    la: np.ndarray,
    cme_only: np.ndarray,
    council_ref: np.ndarray,
    last_day: dt.date,
) -> pd.DataFrame:
    """The register of children missing education: some council children and some known
    to no other service, each off roll once or twice while of compulsory school age."""
    last = day(last_day) - 7
    since = day(CME_SINCE)
    dob = folk["date_of_birth"]

    def window(p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return np.maximum(dob[p] + int(5 * YEAR), since), np.minimum(dob[p] + int(16 * YEAR), last)

    lo, hi = window(la)
    eligible = la[lo < hi - 30]
    k = min(int(round(CME_SHARE * len(la))), len(eligible))
    lo, hi = window(cme_only)
    person = np.concatenate([rng.choice(eligible, k, replace=False), cme_only[lo < hi - 30]])
    person = np.sort(person)
    columns, _ = ids.noisy_records(rng, folk, person, _kind(len(person), "cme"))
    lo, hi = window(person)
    off = lo + (rng.random(len(person)) * (hi - lo - 30)).astype(np.int64)
    back = off + rng.integers(5, 150, len(person))
    open_ = (back > last) | (rng.random(len(person)) < CME_OPEN_SHARE)
    again = ~open_ & (back + 60 < hi) & (rng.random(len(person)) < CME_SECOND_SPELL_SHARE)
    off2 = back + 30 + (rng.random(len(person)) * (hi - back - 30)).astype(np.int64)
    back2 = np.where(rng.random(len(person)) < 0.5, off2 + rng.integers(5, 150, len(person)), -1)
    spells = pd.DataFrame(
        {
            "row": np.concatenate([np.arange(len(person)), np.flatnonzero(again)]),
            "off_roll_on": np.concatenate([off, off2[again]]),
            "resolved_on": np.concatenate([np.where(open_, -1, back), back2[again]]),
        }
    )
    spells.loc[spells["resolved_on"] > last, "resolved_on"] = -1
    spells["reason"] = np.array(CME_REASONS, object)[rng.integers(0, len(CME_REASONS), len(spells))]
    base = pd.DataFrame(
        {"person_ref": council_ref[person]}
        | {c: columns[c] for c in ("forename", "surname", "date_of_birth", "upn", "postcode")}
        | {"person": person}
    )
    frame = base.iloc[spells["row"]].reset_index(drop=True)
    for c in ("off_roll_on", "reason", "resolved_on"):
        frame[c] = spells[c].to_numpy()
    return frame.sort_values(["person_ref", "off_roll_on"], ignore_index=True)
