"""The errors real identity records have, planted in synthetic ones: each kind hits exactly
round(rate x eligible) records, chosen at random among those it can apply to, so a test can
state the count for a seed and a benchmark the rate (identities.person_records, agencies)."""

from __future__ import annotations

import datetime as dt

import numpy as np

from pipelines.synth.names import Pool

# Per-record error rates, each among the records the kind can apply to (see `plant`).
RATES: dict[str, float] = {
    "forename_blank": 0.01,
    "forename_placeholder": 0.005,
    "nickname": 0.12,  # a short form: Bill for William (among names that have one)
    "transliteration": 0.30,  # another spelling: Mohammed for Muhammad (among names with one)
    "forename_typo": 0.02,
    "surname_blank": 0.01,
    "surname_change": 0.04,  # another family name, e.g. on entering care; one half if double
    "surname_spelling": 0.15,  # another spelling: Choudhury for Chowdhury
    "surname_typo": 0.02,
    "dob_swap": 0.03,  # day and month swapped (among dates where that gives another date)
    "dob_off_by_one": 0.01,
    "moved": 0.10,  # another address: a placement move
    "postcode_blank": 0.04,
    "postcode_placeholder": 0.005,
    "postcode_format": 0.10,  # lower case or no space, as typed
    "upn_placeholder": 0.05,  # UN2: the UPN is not known
    "nhs_typo": 0.005,  # a mistyped NHS number (its check digit then fails)
}
PLACEHOLDERS = ("unknown", "Unknown", "N/K", "not known")
# Letters next to each other on a keyboard, for plausible typos.
KEYBOARD_ROWS = ("qwertyuiop", "asdfghjkl", "zxcvbnm")
NEIGHBOURS = {
    row[i]: row[i + 1] if i + 1 < len(row) else row[i - 1]
    for row in KEYBOARD_ROWS
    for i in range(len(row))
}


def choose(rng: np.random.Generator, eligible: np.ndarray, rate: float) -> np.ndarray:
    """Indexes of exactly round(rate x eligible) of the eligible records, in order."""
    pool = np.flatnonzero(eligible)
    k = int(round(rate * len(pool)))
    return np.sort(rng.choice(pool, k, replace=False)) if k else pool[:0]


def typo(rng: np.random.Generator, word: str) -> str:
    """One slip of the keyboard: two letters swapped, one dropped, doubled or mis-hit."""
    if len(word) < 3:
        return word + word[-1]
    i = int(rng.integers(1, len(word) - 1))
    kind = int(rng.integers(0, 4))
    if kind == 0 and word[i] != word[i + 1]:
        return word[:i] + word[i + 1] + word[i] + word[i + 2 :]
    if kind == 1:
        return word[:i] + word[i + 1 :]
    if kind == 2:
        return word[:i] + word[i] + word[i:]
    hit = NEIGHBOURS.get(word[i].lower(), "e")
    return word[:i] + (hit if word[i] != hit else "x") + word[i + 1 :]


def plant_forename(
    rng: np.random.Generator,
    values: np.ndarray,
    name_idx: np.ndarray,
    pool: Pool,
    hits: dict[str, np.ndarray],
) -> None:
    """Forename errors in place: blanks, placeholders, short forms, spellings, typos."""
    untouched = values != None  # noqa: E711 - elementwise on an object array
    for kind in ("forename_blank", "forename_placeholder"):
        i = choose(rng, untouched, RATES[kind])
        placeholder = np.array(PLACEHOLDERS, object)[rng.integers(0, len(PLACEHOLDERS), len(i))]
        values[i] = None if kind == "forename_blank" else placeholder
        untouched[i] = False
        hits[kind][i] = True
    for kind, which in (("nickname", "short"), ("transliteration", "spelling")):
        i = choose(rng, untouched & pool.has(which, name_idx), RATES[kind])
        values[i] = pool.variant(which, name_idx[i], rng.random(len(i)))
        untouched[i] = False
        hits[kind][i] = True
    i = choose(rng, untouched, RATES["forename_typo"])
    values[i] = [typo(rng, values[j]) for j in i]
    hits["forename_typo"][i] = True


def plant_surname(
    rng: np.random.Generator,
    values: np.ndarray,
    name_idx: np.ndarray,
    second_idx: np.ndarray,
    group: np.ndarray,
    pool: Pool,
    hits: dict[str, np.ndarray],
) -> None:
    """Surname errors in place: blanks, another family name (one half of a double-barrelled
    one), other spellings, typos. second_idx is the second half's entry, -1 if none."""
    untouched = values != None  # noqa: E711
    i = choose(rng, untouched, RATES["surname_blank"])
    values[i] = None
    untouched[i] = False
    hits["surname_blank"][i] = True
    i = choose(rng, untouched, RATES["surname_change"])
    values[i] = changed_surnames(rng, name_idx[i], second_idx[i], group[i], pool)
    untouched[i] = False
    hits["surname_change"][i] = True
    single = second_idx < 0
    i = choose(rng, untouched & single & pool.has("spelling", name_idx), RATES["surname_spelling"])
    values[i] = pool.variant("spelling", name_idx[i], rng.random(len(i)))
    untouched[i] = False
    hits["surname_spelling"][i] = True
    i = choose(rng, untouched, RATES["surname_typo"])
    values[i] = [typo(rng, values[j]) for j in i]
    hits["surname_typo"][i] = True


def changed_surnames(
    rng: np.random.Generator,
    first: np.ndarray,
    second: np.ndarray,
    group: np.ndarray,
    pool: Pool,
) -> np.ndarray:
    """Another family name for each child: one half of a double-barrelled name, else another
    name of the same group."""
    new = first.copy()
    for g in np.unique(group):
        mine = np.flatnonzero(group == g)
        options = pool.of(int(g))
        pick = rng.integers(0, len(options), len(mine))
        clash = options[pick] == first[mine]
        new[mine] = options[np.where(clash, (pick + 1) % len(options), pick)]
    double = second >= 0
    halves = np.where(rng.random(len(first)) < 0.5, first, second)
    return pool.name[np.where(double, halves, new)]


def plant_dob(
    rng: np.random.Generator, days: np.ndarray, carried: np.ndarray, hits: dict[str, np.ndarray]
) -> None:
    """Date-of-birth errors in place (days since 1970-01-01): day/month swapped, one day out."""
    dates = days.astype("datetime64[D]")
    month = dates.astype("datetime64[M]").astype(np.int64) % 12 + 1
    day = (dates - dates.astype("datetime64[M]")).astype(np.int64) + 1
    year = dates.astype("datetime64[Y]").astype(np.int64) + 1970
    swappable = carried & (day <= 12) & (day != month)
    i = choose(rng, swappable, RATES["dob_swap"])
    days[i] = [
        (dt.date(int(year[j]), int(day[j]), int(month[j])) - dt.date(1970, 1, 1)).days for j in i
    ]
    hits["dob_swap"][i] = True
    i = choose(rng, carried & ~hits["dob_swap"], RATES["dob_off_by_one"])
    days[i] += np.where(rng.random(len(i)) < 0.5, -1, 1)
    hits["dob_off_by_one"][i] = True


def plant_postcode(
    rng: np.random.Generator, values: np.ndarray, others: np.ndarray, hits: dict[str, np.ndarray]
) -> None:
    """Postcode errors in place: a move (another address), blanks, placeholders, as typed."""
    untouched = values != None  # noqa: E711
    i = choose(rng, untouched, RATES["moved"])
    values[i] = others[rng.integers(0, len(others), len(i))]
    hits["moved"][i] = True
    for kind, fill in (("postcode_blank", None), ("postcode_placeholder", "unknown")):
        i = choose(rng, untouched & ~hits["moved"], RATES[kind])
        values[i] = fill
        untouched[i] = False
        hits[kind][i] = True
    i = choose(rng, untouched, RATES["postcode_format"])
    values[i] = [
        values[j].replace(" ", "") if k else values[j].lower()
        for j, k in zip(i, rng.random(len(i)) < 0.5, strict=True)
    ]
    hits["postcode_format"][i] = True


def plant_codes(
    rng: np.random.Generator, upn: np.ndarray, nhs: np.ndarray, hits: dict[str, np.ndarray]
) -> None:
    """UPN placeholders (UN2) and mistyped NHS numbers, in place."""
    i = choose(rng, upn != None, RATES["upn_placeholder"])  # noqa: E711
    upn[i] = "UN2"
    hits["upn_placeholder"][i] = True
    i = choose(rng, nhs != None, RATES["nhs_typo"])  # noqa: E711
    # Two neighbouring digits swapped: the modulus-11 check catches every such slip.
    nhs[i] = [
        n[:3] + n[4] + n[3] + n[5:] if n[3] != n[4] else n[:3] + str((int(n[3]) + 1) % 10) + n[4:]
        for n in nhs[i]
    ]
    hits["nhs_typo"][i] = True
