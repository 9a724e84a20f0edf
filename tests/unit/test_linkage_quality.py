"""Linkage quality on seeded synthetic person records the committed model was not trained on
(it was trained on seed 42): the floors at the chosen thresholds, and the exact result once
the truth decides the review queue."""

from __future__ import annotations

import json
from datetime import datetime

import pytest

from pipelines import settings
from pipelines.identity import model
from pipelines.identity.linkage import link_records
from pipelines.identity.quality import pair_counts
from pipelines.identity.records import upsert_records
from pipelines.identity.review import decide
from pipelines.identity.store import open_identity_store
from pipelines.synth.identities import person_records

KEY = b"k" * 32
NOW = datetime(2025, 3, 1, 2, 30)


@pytest.fixture(scope="module")
def linked(tmp_path_factory):
    """8,000 records (6,000 police, 2,000 council) linked once with the saved model."""
    records, truth = person_records(6000, 2000, 7)
    con = open_identity_store(tmp_path_factory.mktemp("quality") / "identity.duckdb")
    upsert_records(con, records, "r0", NOW)
    link_records(con, KEY, "run1", settings.LINKAGE_MODEL, NOW, truth)
    yield con, truth
    con.close()


def measure(con, run: str, name: str) -> float:
    return con.execute(
        "select value from linkage_quality where run_id = ? and measure = ? and breakdown = 'all'",
        [run, name],
    ).fetchall()[0][0]


def test_precision_and_recall_floors_at_the_chosen_thresholds(linked):
    con, _ = linked
    assert measure(con, "run1", "precision") >= 0.995
    assert measure(con, "run1", "recall") >= 0.99


def test_quality_is_broken_down_by_source_pair_sex_and_age_band(linked):
    con, _ = linked
    breakdowns = con.execute(
        "select distinct split_part(breakdown, '=', 1) from linkage_quality "
        "where run_id = 'run1' and measure = 'recall' order by 1"
    ).fetchall()
    assert breakdowns == [("age_band",), ("all",), ("sex",), ("source_pair",)]


def test_the_truth_deciding_the_grey_zone_gives_exact_pair_counts(linked):
    con, truth = linked
    person = dict(zip(truth["record_id"], truth["true_person"], strict=True))
    queued = con.execute("select record_a, record_b from review_queue order by all").fetchall()
    for a, b in queued:
        decide(con, a, b, "same" if person[a] == person[b] else "different", "truth", NOW)
    link_records(con, KEY, "run2", settings.LINKAGE_MODEL, NOW, truth)
    assert con.execute("select count(*) from review_queue").fetchall() == [(0,)]
    # (pairs both linked and true, pairs linked, true pairs)
    overall = [row for row in pair_counts(con, truth, NOW) if row[0] == "all"]
    assert overall == [("all", "all", 4422, 4441, 4440)]
    assert (measure(con, "run2", "precision"), measure(con, "run2", "recall")) == (
        4422 / 4441,
        4422 / 4440,
    )


def test_training_is_deterministic_and_records_its_blocking_counts(tmp_path, capsys):
    from pipelines.cli.main import main

    records, _ = person_records(1500, 500, 3)
    con = open_identity_store(tmp_path / "identity.duckdb")
    upsert_records(con, records, "r0", NOW)
    con.close()
    identity = ["--identity-db", str(tmp_path / "identity.duckdb")]
    assert main(["link", "train", *identity, "--out", str(tmp_path / "a" / "model.json")]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "trained on 2000 records"
    assert out[-1] == f"model: {tmp_path / 'a' / 'model.json'}"
    assert len(out) == 2 + len(model.BLOCKING_RULES)
    assert main(["link", "train", *identity, "--out", str(tmp_path / "b" / "model.json")]) == 0
    first, second = (tmp_path / d / "model.json" for d in "ab")
    assert first.read_text() == second.read_text()
    facts = json.loads((tmp_path / "a" / "model_training.json").read_text())
    assert facts["records"] == 2000
    assert list(facts["prediction_blocking_rule_pairs"]) == model.BLOCKING_RULES


def test_link_run_measures_against_a_truth_file(tmp_path, capsys):
    from pipelines.cli.main import main
    from pipelines.ingest.pseudonym import child_ids, load_key

    records, truth = person_records(300, 100, 9)
    # The store's record ids are child ids, as the nightly's capture writes them.
    key = load_key()
    for source, part in records.groupby("source"):
        records.loc[part.index, "record_id"] = child_ids(key, source, part["person_ref"])
    con = open_identity_store(tmp_path / "identity.duckdb")
    upsert_records(con, records, "r0", NOW)
    con.close()
    truth_file = tmp_path / "linkage_truth.csv"
    truth.assign(source=records["source"], person_ref=records["person_ref"])[
        ["source", "person_ref", "true_person"]
    ].to_csv(truth_file, index=False)
    identity = ["--identity-db", str(tmp_path / "identity.duckdb")]
    assert main(["link", "run", *identity, "--truth", str(truth_file)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("linkage: 400 records, ")
    assert [line.split(":")[0] for line in out[1:]] == [
        "  precision of pairs",
        "  recall of pairs",
    ]
