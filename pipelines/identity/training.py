"""Training the splink model: `whereabouts link train` fits it (u by seeded random sampling,
m by EM on blocked pairs) and writes it with the facts of its training beside it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import duckdb

from pipelines.identity.model import (
    BLOCKING_RULES,
    create_model_input,
    model_settings,
    quiet_splink,
    training_facts_path,
)

# EM blocks: each leaves the columns it does not block on to be estimated.
TRAINING_BLOCKS = [
    "l.date_of_birth = r.date_of_birth",
    "l.forename = r.forename and l.surname = r.surname",
]
# Pairs sampled to estimate u: enough that every level is seen often (splink's advice is 1e7
# or more; at synthetic scale the whole cartesian product is smaller).
U_MAX_PAIRS = 5e6
U_SEED = 20
# The prior: the share of random pairs that match, estimated from pairs that agree on names
# and date of birth exactly, assumed to find this share of all matches.
PRIOR_RULES = [
    "l.forename = r.forename and l.surname = r.surname and l.date_of_birth = r.date_of_birth"
]
PRIOR_RECALL = 0.6


def comparison_counts(con: duckdb.DuckDBPyConnection, table: str) -> dict[str, int]:
    """How many pairs each prediction blocking rule adds to the rules before it (exact)."""
    from splink import DuckDBAPI
    from splink.blocking_analysis import count_comparisons_from_blocking_rules

    db_api = DuckDBAPI(connection=con)
    with quiet_splink():
        counts = count_comparisons_from_blocking_rules(
            db_api.register(table),
            blocking_rules=list(BLOCKING_RULES),
            link_type="dedupe_only",
            unique_id_column_name="record_id",
            record_sample_proportion=1.0,
        )
    db_api.delete_tables_created_by_splink_from_db()
    return {c["blocking_rule"]: int(c["marginal_comparison_count"]) for c in counts}


def train(
    con: duckdb.DuckDBPyConnection, out: Path, counts: dict[str, int] | None = None
) -> dict[str, Any]:
    """Fit the model on the identity store's records and write it to `out` as JSON, with
    what it was trained on beside it (training_facts_path)."""
    from splink import DuckDBAPI, Linker

    create_model_input(con, "model_training")
    db_api = DuckDBAPI(connection=con)
    with quiet_splink():
        linker = Linker(db_api.register("model_training"), model_settings(), log_level=None)
        linker.training.estimate_probability_two_random_records_match(
            list[Any](PRIOR_RULES), recall=PRIOR_RECALL
        )
        linker.training.estimate_u_using_random_sampling(max_pairs=U_MAX_PAIRS, seed=U_SEED)
        for rule in TRAINING_BLOCKS:
            linker.training.estimate_parameters_using_expectation_maximisation(
                rule, estimate_without_term_frequencies=True
            )
        model = linker.misc.save_model_to_json()
    db_api.delete_tables_created_by_splink_from_db()
    con.execute("drop table if exists model_training")
    model = _rounded(model)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(model, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    records = con.execute("select count(*) from identity_records").fetchall()[0][0]
    facts = {
        "records": records,
        "u_max_pairs": U_MAX_PAIRS,
        "u_seed": U_SEED,
        "prediction_blocking_rule_pairs": counts or {},
    }
    training_facts_path(out).write_text(json.dumps(facts, indent=2) + "\n", encoding="utf-8")
    return model


def _rounded(value: Any) -> Any:
    """Floats to 12 significant figures: the saved model is the same on every machine."""
    if isinstance(value, float):
        return float(f"{value:.12g}")
    if isinstance(value, dict):
        return {k: _rounded(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_rounded(v) for v in value]
    return value


# The synthetic person records the committed model is trained on (seeded: the same model
# every time): about the demo's size, police and council as the benchmark splits them.
SYNTHETIC_POLICE, SYNTHETIC_COUNCIL, SYNTHETIC_SEED = 15_000, 5_000, 42


def train_and_report(identity_db: Path | None, out: Path) -> list[str]:
    """Train on an identity store (or, given None, on seeded synthetic person records in a
    private temporary store), write the model to `out`; lines saying what was done."""
    import tempfile
    from datetime import datetime

    from pipelines.errors import MissingInput
    from pipelines.identity.store import open_identity_store

    with tempfile.TemporaryDirectory() as folder:
        if identity_db is None:
            from pipelines.identity.records import upsert_records
            from pipelines.synth.identities import person_records

            identity_db = Path(folder) / "training-identity.duckdb"
            con = open_identity_store(identity_db)
            records, _ = person_records(SYNTHETIC_POLICE, SYNTHETIC_COUNCIL, SYNTHETIC_SEED)
            upsert_records(con, records, "training", datetime(2000, 1, 1))
        elif not identity_db.exists():
            raise MissingInput(f"{identity_db}: no identity store (run 'whereabouts nightly')")
        else:
            con = open_identity_store(identity_db)
        try:
            create_model_input(con, "blocking_input")
            counts = comparison_counts(con, "blocking_input")
            con.execute("drop table blocking_input")
            train(con, out, counts)
            records = con.execute("select count(*) from identity_records").fetchall()[0][0]
        finally:
            con.close()
    lines = [f"trained on {records} records"]
    lines += [f"  pairs added by {rule}: {n}" for rule, n in counts.items()]
    return lines + [f"model: {out}"]
