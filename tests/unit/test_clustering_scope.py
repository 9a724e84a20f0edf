"""Clustering only what changed gives the persons clustering everything gives.

Two copies of one identity store live through the same seeded nights of changes (records
added and removed, links made and lost, keys corrected, never-link decisions): one clusters
the changed records and what is joined to them (pipelines.identity.scope), the other every
record (its kept clustering forgotten each night). Their person_links and person_changes
must be equal, row for row, every night.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from pathlib import Path

import duckdb
import pytest
from conftest import examples

from pipelines.identity.persons import assign_persons
from pipelines.identity.store import open_identity_store

KEY = b"k" * 32
START = datetime(2025, 3, 1, 2, 30)
RULES = ("shared_nhs_number", "shared_upn", "model", "model", "model", "decision")
NIGHTS = 5


def _record(n: int, rng: random.Random) -> tuple:
    nhs = f"N{rng.randrange(8)}" if rng.random() < 0.3 else None
    upn = f"U{rng.randrange(8)}" if rng.random() < 0.2 else None
    return (f"r{n:03d}", "force", "force", f"P{n}", nhs, upn, START, START, "night0")


def _add_records(con: duckdb.DuckDBPyConnection, rows: list[tuple]) -> None:
    con.executemany(
        "insert into identity_records (record_id, source, agency, person_ref, nhs_number, upn, "
        "first_seen_at, updated_at, updated_run) values (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        rows,
    )


def _a_night_of_changes(con: duckdb.DuckDBPyConnection, rng: random.Random, night: int) -> None:
    """Seeded changes of every kind clustering reads."""
    records = [r[0] for r in con.execute("select record_id from identity_records").fetchall()]
    start = 1000 * night
    _add_records(con, [_record(start + n, rng) for n in range(rng.randrange(1, 6))])
    records = [r[0] for r in con.execute("select record_id from identity_records").fetchall()]
    for _ in range(rng.randrange(3, 12)):
        a, b = sorted(rng.sample(records, 2))
        rule = rng.choice(RULES)
        probability = round(rng.uniform(0.9, 1), 3) if rule == "model" else None
        con.execute(
            "insert into record_pairs values (?, ?, ?, ?, null, 'x') on conflict do nothing",
            [a, b, rule, probability],
        )
    pairs = con.execute("select record_a, record_b, rule from record_pairs").fetchall()
    for a, b, rule in rng.sample(pairs, min(len(pairs), rng.randrange(0, 3))):
        con.execute(
            "delete from record_pairs where record_a = ? and record_b = ? and rule = ?",
            [a, b, rule],
        )
    for record in rng.sample(records, min(len(records), rng.randrange(0, 3))):
        con.execute(
            "update identity_records set nhs_number = ? where record_id = ?",
            [f"N{rng.randrange(8)}" if rng.random() < 0.7 else None, record],
        )
    if rng.random() < 0.5:
        a, b = sorted(rng.sample(records, 2))
        con.execute(
            "insert into link_decisions values (?, ?, 'different', 'reviewer', ?) "
            "on conflict do nothing",
            [a, b, START],
        )
    if rng.random() < 0.3:
        gone = rng.choice(records)
        con.execute("delete from identity_records where record_id = ?", [gone])
        con.execute("delete from record_pairs where ? in (record_a, record_b)", [gone])


def _state(con: duckdb.DuckDBPyConnection) -> tuple[list, list]:
    return (
        con.execute("from person_links order by record_id").fetchall(),
        con.execute("from person_changes order by all").fetchall(),
    )


@pytest.mark.parametrize("seed", range(examples(6)))
def test_clustering_the_changed_records_gives_every_records_persons(
    tmp_path: Path, seed: int
) -> None:
    rng = random.Random(seed)
    scoped = open_identity_store(tmp_path / "scoped.duckdb")
    whole = open_identity_store(tmp_path / "whole.duckdb")
    first = [_record(n, rng) for n in range(30)]
    for con in (scoped, whole):
        _add_records(con, first)
    for night in range(1, NIGHTS + 1):
        for con in (scoped, whole):
            _a_night_of_changes(con, random.Random(seed * 100 + night), night)
        whole.execute("delete from clustering_runs")  # forgets it: clusters every record
        now = START + timedelta(days=night)
        for con in (scoped, whole):
            assign_persons(con, KEY, f"night{night}", now)
        assert _state(scoped) == _state(whole), f"night {night}"
    scopes = scoped.execute("select scope from clustering_runs order by run_id").fetchall()
    assert scopes == [("all",)] + [("changed",)] * (NIGHTS - 1)


def test_a_night_with_nothing_changed_clusters_no_record(tmp_path: Path) -> None:
    con = open_identity_store(tmp_path / "identity.duckdb")
    _add_records(con, [_record(n, random.Random(n)) for n in range(5)])
    con.execute("insert into record_pairs values ('r000', 'r001', 'model', 0.99, null, 'x')")
    assign_persons(con, KEY, "night1", START)
    assign_persons(con, KEY, "night2", START)
    con.execute("insert into record_pairs values ('r001', 'r002', 'model', 0.98, null, 'x')")
    assign_persons(con, KEY, "night3", START)
    assert con.execute("from clustering_runs order by run_id").fetchall() == [
        ("night1", "all", 5),
        ("night2", "changed", 0),
        ("night3", "changed", 3),
    ]
