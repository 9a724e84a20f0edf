"""The splink model: its comparisons and blocking rules, and the saved JSON (training.py fits it).

The model is a settings dictionary written here in SQL (so the committed
schemas/linkage/model.json reads like the code that made it), trained by
`whereabouts link train` (u by seeded random sampling, m by EM on blocked pairs) and loaded
unchanged by every nightly: the nightly never retrains.
"""

from __future__ import annotations

import csv
import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from pipelines import settings
from pipelines.errors import MissingInput
from pipelines.identity.normalise import normalise_name

# The records splink sees: the identity store's normalised values under the model's names,
# each forename with the groups of known variants it belongs to (forename_variants).
# `source_dataset` is one constant: the model deduplicates all agencies as one pool (records
# of one agency can be one child under two references), and splink's predict_between needs
# the column to build its composite ids.
MODEL_INPUT_SQL = """
select r.record_id, 'identity' as source_dataset, r.forename,
       coalesce(g.groups, [r.forename]) as forename_groups,
       r.surname, r.date_of_birth, r.postcode, r.sex
from identity_records r left join forename_groups g on g.name = r.forename
"""


def create_model_input(con: duckdb.DuckDBPyConnection, table: str) -> None:
    """A temporary table of the records as the model compares them."""
    _load_forename_variants(con)
    con.execute(f"create or replace temp table {table} as {MODEL_INPUT_SQL}")


def forename_variants(path: Path | None = None) -> dict[str, list[str]]:
    """Each name in the variants file (normalised) and the groups it belongs to: a group is
    a full name and its short forms and spellings (WILLIAM: WILL, BILL, LIAM...)."""
    groups: dict[str, set[str]] = {}
    with (path or settings.LINKAGE_FORENAME_VARIANTS).open(encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            group = normalise_name(row["name"]) or ""
            for name in [row["name"], *row["variants"].split()]:
                groups.setdefault(normalise_name(name) or "", set()).add(group)
    return {name: sorted(g) for name, g in groups.items() if name}


def _load_forename_variants(con: duckdb.DuckDBPyConnection) -> None:
    variants = forename_variants()
    table = pa.table(
        {
            "name": pa.array(list(variants), pa.string()),
            "groups": pa.array(list(variants.values()), pa.list_(pa.string())),
        }
    )
    con.register("forename_variants_frame", table)
    try:
        con.execute("create or replace temp table forename_groups as from forename_variants_frame")
    finally:
        con.unregister("forename_variants_frame")


def _jw(column: str, threshold: float) -> str:
    return f"jaro_winkler_similarity({column}_l, {column}_r) >= {threshold}"


def _null(column: str) -> dict[str, Any]:
    return {
        "sql_condition": f"{column}_l is null or {column}_r is null",
        "label_for_charts": f"{column} missing",
        "is_null_level": True,
    }


def _else(label: str) -> dict[str, Any]:
    return {"sql_condition": "ELSE", "label_for_charts": label}


# A clearly different forename weighs this much against a link, whatever EM would make of it:
# twins and siblings share surname, date of birth, postcode and often sex (docs/linkage.md,
# "The model"), so those agreements add up to about +30; this fixed level (m/u = 2^-24) keeps
# the total below the lower threshold. EM alone learns a mild -4 here, which leaves twins as
# most of the false links.
DIFFERENT_FORENAME_M = 2.0**-24
DIFFERENT_FORENAME_U = 1.0

FORENAME = {
    "output_column_name": "forename",
    "comparison_description": "forename: exact (term frequencies), Jaro-Winkler, short form",
    "comparison_levels": [
        _null("forename"),
        {
            "sql_condition": "forename_l = forename_r",
            "label_for_charts": "exact",
            "tf_adjustment_column": "forename",
            "tf_adjustment_weight": 1.0,
        },
        {"sql_condition": _jw("forename", 0.92), "label_for_charts": "Jaro-Winkler >= 0.92"},
        # A short form or another spelling of the same name (schemas/linkage/
        # forename_variants.csv): Bill for William, Mohammed for Muhammad.
        {
            "sql_condition": "list_has_any(forename_groups_l, forename_groups_r)",
            "label_for_charts": "known variant",
        },
        {"sql_condition": _jw("forename", 0.85), "label_for_charts": "Jaro-Winkler >= 0.85"},
        # A first name given alone (MARY, MARY JANE) or cut short (CHRIS, CHRISTIAN): too few
        # such pairs in training for EM (it drove m to 1e-30, a veto), so a fixed mild +2.
        {
            "sql_condition": "starts_with(forename_l, forename_r) "
            "or starts_with(forename_r, forename_l) "
            "or split_part(forename_l, ' ', 1) = split_part(forename_r, ' ', 1)",
            "label_for_charts": "one starts the other (fixed weight)",
            "m_probability": 0.04,
            "u_probability": 0.01,
            "fix_m_probability": True,
            "fix_u_probability": True,
        },
        {
            "sql_condition": "ELSE",
            "label_for_charts": "clearly different (fixed weight)",
            "m_probability": DIFFERENT_FORENAME_M,
            "u_probability": DIFFERENT_FORENAME_U,
            "fix_m_probability": True,
            "fix_u_probability": True,
        },
    ],
}

SURNAME = {
    "output_column_name": "surname",
    "comparison_description": "surname: exact (term frequencies), Jaro-Winkler, one part",
    "comparison_levels": [
        _null("surname"),
        {
            "sql_condition": "surname_l = surname_r",
            "label_for_charts": "exact",
            "tf_adjustment_column": "surname",
            "tf_adjustment_weight": 1.0,
        },
        {"sql_condition": _jw("surname", 0.92), "label_for_charts": "Jaro-Winkler >= 0.92"},
        # One part of a double-barrelled surname (normalise_name keeps both parts).
        {
            "sql_condition": "list_has_any(string_split(surname_l, ' '), "
            "string_split(surname_r, ' '))",
            "label_for_charts": "a part in common",
        },
        {"sql_condition": _jw("surname", 0.8), "label_for_charts": "Jaro-Winkler >= 0.8"},
        _else("different"),
    ],
}

DOB_DAYS = "abs(date_diff('day', date_of_birth_l, date_of_birth_r))"
DATE_OF_BIRTH = {
    "output_column_name": "date_of_birth",
    "comparison_description": "date of birth: exact, day and month swapped, a day, a month, a year",
    "comparison_levels": [
        _null("date_of_birth"),
        {"sql_condition": "date_of_birth_l = date_of_birth_r", "label_for_charts": "exact"},
        {
            "sql_condition": "day(date_of_birth_l) = month(date_of_birth_r) "
            "and month(date_of_birth_l) = day(date_of_birth_r) "
            "and year(date_of_birth_l) = year(date_of_birth_r)",
            "label_for_charts": "day and month swapped",
        },
        # A day out: a birth recorded either side of midnight, or a slip of one key.
        {"sql_condition": f"{DOB_DAYS} <= 1", "label_for_charts": "a day apart"},
        {"sql_condition": f"{DOB_DAYS} <= 31", "label_for_charts": "within a month"},
        {"sql_condition": f"{DOB_DAYS} <= 366", "label_for_charts": "within a year"},
        _else("further apart"),
    ],
}

POSTCODE = {
    "output_column_name": "postcode",
    "comparison_description": "postcode: exact, district",
    "comparison_levels": [
        _null("postcode"),
        {"sql_condition": "postcode_l = postcode_r", "label_for_charts": "exact"},
        {
            "sql_condition": "split_part(postcode_l, ' ', 1) = split_part(postcode_r, ' ', 1)",
            "label_for_charts": "same district",
        },
        _else("different"),
    ],
}

SEX = {
    "output_column_name": "sex",
    "comparison_description": "sex",
    "comparison_levels": [
        _null("sex"),
        {"sql_condition": "sex_l = sex_r", "label_for_charts": "same"},
        _else("different"),
    ],
}

# Blocking rules for prediction, chosen with splink's count_comparisons_from_blocking_rules
# (model_training.json keeps the pairs each adds on the training records; docs/linkage.md,
# "Blocking"). Each catches pairs the others miss: a date of birth mistyped (names and year
# in common), a surname changed on entering care (date of birth and forename initial), a
# forename missing or given as a short form (date of birth and surname initial), both at
# once (date of birth and postcode), a date of birth mistyped with a short form or a
# misspelt surname (surname and postcode; postcode and year; surname, initial, year and
# month: with the year alone it made over half of all pairs for 0.1% of true pairs),
# day and month swapped. The first rules tried, a date of birth alone and surname with year
# of birth, added 66,627 and 140,559 pairs on the 20,000 training records (these add 16,551
# in all); pairs grow with the square of the records, too many to score at 500,000.
BLOCKING_RULES = [
    "l.forename = r.forename and l.surname = r.surname "
    "and year(l.date_of_birth) = year(r.date_of_birth)",
    "l.date_of_birth = r.date_of_birth and left(l.forename, 1) = left(r.forename, 1)",
    "l.date_of_birth = r.date_of_birth and left(l.surname, 1) = left(r.surname, 1)",
    "l.date_of_birth = r.date_of_birth and l.postcode = r.postcode",
    "l.surname = r.surname and l.postcode = r.postcode",
    "l.postcode = r.postcode and year(l.date_of_birth) = year(r.date_of_birth)",
    "l.surname = r.surname and left(l.forename, 1) = left(r.forename, 1) "
    "and year(l.date_of_birth) = year(r.date_of_birth) "
    "and month(l.date_of_birth) = month(r.date_of_birth)",
    "l.forename = r.forename and year(l.date_of_birth) = year(r.date_of_birth) "
    "and month(l.date_of_birth) = day(r.date_of_birth) "
    "and day(l.date_of_birth) = month(r.date_of_birth)",
]


def model_settings() -> dict[str, Any]:
    """The untrained model: link type, ids, comparisons and blocking rules."""
    return {
        "link_type": "dedupe_only",
        "unique_id_column_name": "record_id",
        "source_dataset_column_name": "source_dataset",
        # A fixed id keeps the saved JSON the same from one training to the next.
        "linker_uid": "whereabouts",
        "probability_two_random_records_match": 1e-4,
        "comparisons": [FORENAME, SURNAME, DATE_OF_BIRTH, POSTCODE, SEX],
        "blocking_rules_to_generate_predictions": [
            {"blocking_rule": rule} for rule in BLOCKING_RULES
        ],
        "retain_intermediate_calculation_columns": True,
        "retain_matching_columns": True,
    }


@contextmanager
def quiet_splink() -> Iterator[None]:
    """splink logs each step at INFO; the nightly's own lines say what matters."""
    logger = logging.getLogger("splink")
    before = logger.level
    logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        logger.setLevel(before)


def training_facts_path(model: Path) -> Path:
    """Where the facts of a model's training are kept: model.json has model_training.json
    (splink refuses keys of its own in the model file)."""
    return model.with_name(f"{model.stem}_training.json")


def model_for(path: Path, records: int) -> dict[str, Any]:
    """The saved model with its prior scaled to a store of `records` records.

    The prior is the chance that two random records are one child. Each child has about
    the same number of records however many children there are, so the chance falls as
    1/(N - 1) with N records: trained on 20,000 records, the prior is 2.5 times too small
    for 8,000 and 25 times too large for 500,000. Only the prior changes; m and u do not.
    A store smaller than PRIOR_FLOOR_RECORDS is scaled as if it had that many: a handful of
    records says nothing about how many children there are.
    """
    model = load_model(path)
    facts = training_facts_path(path)
    if facts.exists():
        trained = json.loads(facts.read_text(encoding="utf-8"))["records"]
        scale = (trained - 1) / (max(records, PRIOR_FLOOR_RECORDS) - 1)
        model["probability_two_random_records_match"] *= scale
    return model


# The fewest records the prior is scaled to (model_for).
PRIOR_FLOOR_RECORDS = 1000


def load_model(path: Path | None = None) -> dict[str, Any]:
    """The saved model (schemas/linkage/model.json unless another path is given)."""
    path = path or settings.LINKAGE_MODEL
    if not path.exists():
        raise MissingInput(f"{path}: no linkage model (run 'whereabouts link train')")
    return json.loads(path.read_text(encoding="utf-8"))
