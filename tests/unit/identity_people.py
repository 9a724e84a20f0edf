"""Small seeded person records for linkage tests (until pipelines.synth.identities lands):
children seen by a police force and a council, with typos, short forms, swapped dates,
changed surnames, blanks, and twins who share surname, date of birth and postcode."""

from __future__ import annotations

import random
from datetime import date, timedelta

import pandas as pd

FORENAMES = {
    "F": [
        "OLIVIA",
        "AMELIA",
        "ISLA",
        "AVA",
        "MIA",
        "GRACE",
        "LILY",
        "FREYA",
        "EMILY",
        "SOPHIA",
        "ELLA",
        "POPPY",
        "EVIE",
        "CHLOE",
        "RUBY",
        "JESSICA",
        "HANNAH",
        "AISHA",
        "ZARA",
        "MAYA",
    ],
    "M": [
        "OLIVER",
        "GEORGE",
        "NOAH",
        "ARTHUR",
        "LEO",
        "HARRY",
        "JACK",
        "CHARLIE",
        "JACOB",
        "THOMAS",
        "WILLIAM",
        "JAMES",
        "ALEXANDER",
        "MUHAMMAD",
        "OSCAR",
        "ETHAN",
        "ADAM",
        "DANIEL",
        "SAMUEL",
        "JOSEPH",
    ],
}
SURNAMES = [
    "SMITH",
    "JONES",
    "TAYLOR",
    "BROWN",
    "WILLIAMS",
    "WILSON",
    "JOHNSON",
    "DAVIES",
    "PATEL",
    "WRIGHT",
    "KHAN",
    "EVANS",
    "THOMAS",
    "ROBERTS",
    "WALKER",
    "WOOD",
    "HALL",
    "GREEN",
    "HUGHES",
    "EDWARDS",
    "LEWIS",
    "HILL",
    "CLARKE",
    "AHMED",
    "MOORE",
    "MARTIN",
    "JACKSON",
    "THOMPSON",
    "WHITE",
    "HARRIS",
    "NOWAK",
    "MURPHY",
    "KELLY",
]
SHORT = {
    "WILLIAM": "WILL",
    "ALEXANDER": "ALEX",
    "SAMUEL": "SAM",
    "DANIEL": "DAN",
    "THOMAS": "TOM",
    "JESSICA": "JESS",
    "JOSEPH": "JOE",
    "JAMES": "JAMIE",
}
DISTRICTS = ["NX1", "NX2", "NX3", "NX4", "RV1", "RV2", "RV3", "SB1", "SB2", "WV1"]


def _postcode(rng: random.Random) -> str:
    return (
        f"{rng.choice(DISTRICTS)} {rng.randint(1, 9)}{rng.choice('ABDEFGHJLNPQRSTUWXYZ')}"
        f"{rng.choice('ABDEFGHJLNPQRSTUWXYZ')}"
    )


def _typo(rng: random.Random, name: str) -> str:
    i = rng.randrange(1, len(name))
    return name[:i] + rng.choice("AEIOURSTLN") + name[i + 1 :]


def _children(rng: random.Random, n: int) -> list[dict]:
    out: list[dict] = []
    while len(out) < n:
        sex = rng.choice("MF")
        child = {
            "forename": rng.choice(FORENAMES[sex]),
            "surname": rng.choice(SURNAMES),
            "date_of_birth": date(2006, 1, 1) + timedelta(days=rng.randrange(365 * 12)),
            "sex": sex,
            "postcode": _postcode(rng),
        }
        out.append(child)
        if rng.random() < 0.06:  # a twin: same surname, birth date and home
            sex2 = rng.choice("MF")
            names = [f for f in FORENAMES[sex2] if f != child["forename"]]
            out.append(child | {"sex": sex2, "forename": rng.choice(names)})
    return out[:n]


def _recorded(rng: random.Random, child: dict) -> dict:
    row = dict(child)
    roll = rng.random()
    if roll < 0.08:
        row["forename"] = _typo(rng, row["forename"])
    elif roll < 0.12 and row["forename"] in SHORT:
        row["forename"] = SHORT[row["forename"]]
    if rng.random() < 0.06:
        row["surname"] = _typo(rng, row["surname"])
    elif rng.random() < 0.03:
        row["surname"] = rng.choice(SURNAMES)  # changed on entering care
    dob = row["date_of_birth"]
    roll = rng.random()
    if roll < 0.03 and dob.day <= 12 and dob.day != dob.month:
        row["date_of_birth"] = date(dob.year, dob.day, dob.month)
    elif roll < 0.06:
        row["date_of_birth"] = dob + timedelta(days=rng.choice([-1, 1]))
    if rng.random() < 0.10:
        row["postcode"] = _postcode(rng)  # moved
    for field in ("postcode", "sex"):
        if rng.random() < 0.05:
            row[field] = None
    return row


def person_records(n_police: int, n_council: int, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Identity records of one police force and one council, and the truth behind them."""
    rng = random.Random(seed)
    children = _children(rng, n_police)
    rows, truth = [], []
    for i, child in enumerate(children):
        rows.append(
            _recorded(rng, child)
            | {"source": "force", "agency": "force", "person_ref": f"P{i:06d}"}
        )
        truth.append(f"T{i}")
    council = rng.sample(range(len(children)), min(n_council, len(children)))
    for j, i in enumerate(council):
        rows.append(
            _recorded(rng, children[i])
            | {"source": "council", "agency": "council", "person_ref": f"C{j:06d}"}
        )
        truth.append(f"T{i}")
    frame = pd.DataFrame(rows)
    frame["record_id"] = frame["source"] + ":" + frame["person_ref"]
    for column in ("upn", "nhs_number", "la_child_ref", "police_ref"):
        frame[column] = None
    return frame, pd.DataFrame({"record_id": frame["record_id"], "true_person": truth})
