"""The contracts in schemas/tables are the one truth: SQL, suites, comments and docs agree."""

from __future__ import annotations

import pytest
from conftest import altered, small_curated

from pipelines.quality.contracts import curated_tables, load_contract
from pipelines.quality.curated import column_types, curated_suites
from pipelines.settings import SQL_DIR
from pipelines.warehouse.build import CURATED
from pipelines.warehouse.dictionary import DICTIONARY, render


@pytest.fixture(scope="module")
def curated(tmp_path_factory):
    """A small curated database with every table non-empty where it can be."""
    return small_curated(tmp_path_factory.mktemp("contracts"))


def test_every_curated_table_has_a_contract_and_a_place_in_the_build():
    assert sorted(CURATED) == sorted(curated_tables())
    tables = {p.stem for layer in ("marts", "audit") for p in (SQL_DIR / layer).glob("*.sql")}
    assert set(CURATED) == tables


@pytest.mark.parametrize("table", CURATED)
def test_sql_and_contract_agree_on_columns_and_types(curated, table):
    contract = load_contract(table)
    assert column_types(curated, table) == {c.name: c.type for c in contract.columns}


def test_published_file_holds_only_the_curated_tables(curated):
    import duckdb

    con = duckdb.connect(str(curated), read_only=True)
    tables = {
        t for (t,) in con.execute("select table_name from information_schema.tables").fetchall()
    }
    con.close()
    assert tables == set(CURATED)


def test_curated_suites_generated_from_contracts_pass(curated):
    results = curated_suites(curated, CURATED)
    failed = [(r.suite, o.rule, o.column) for r in results for o in r.outcomes if not o.success]
    assert failed == []
    assert {r.suite for r in results} == set(CURATED)


def test_a_column_outside_the_contract_fails_the_suite(curated, tmp_path):
    copy = altered(curated, tmp_path, "alter table children add column person_ref varchar")
    (result,) = curated_suites(copy, ("children",))
    failed = [o.rule for o in result.outcomes if not o.success]
    assert failed == ["columns_match_contract"]


@pytest.mark.parametrize("table", CURATED)
def test_comments_in_the_database_come_from_the_contracts(curated, table):
    import duckdb

    con = duckdb.connect(str(curated), read_only=True)
    comments = dict(
        con.execute(
            "select column_name, comment from duckdb_columns() where table_name = ?", [table]
        ).fetchall()
    )
    (table_comment,) = con.execute(
        "select comment from duckdb_tables() where table_name = ?", [table]
    ).fetchall()[0]
    con.close()
    contract = load_contract(table)
    # Every column, new ones included, is described where analysts look (COMMENT ON).
    assert comments == {c.name: c.description for c in contract.columns}
    assert all(comments.values())
    assert table_comment.startswith(contract.grain)


def test_data_dictionary_in_docs_is_generated_from_the_contracts():
    assert DICTIONARY.read_text(encoding="utf-8") == render(), (
        "docs/data-dictionary.md is stale: run .venv/bin/python -m pipelines.warehouse.dictionary"
    )


def test_published_file_opens_in_duckdb_1_5_clients(curated):
    import duckdb

    con = duckdb.connect(str(curated), read_only=True)
    tags = con.execute(
        "select tags['storage_version'] from duckdb_databases() where database_name = 'curated'"
    ).fetchone()[0]
    con.close()
    assert tags == "v1.5.0+"


BAD_ROWS = {
    "allowed": ("set category = 'lost'", ("allowed", "category")),
    "not_null": ("set reported_at = null", ("not_null", "reported_at")),
    "range": ("set age_at_start = 18", ("range", "age_at_start")),
    "unique": ("set episode_id = 'force:E0'", ("unique", "episode_id")),
    "key_not_null": ("set episode_id = null", ("not_null", "episode_id")),
}


@pytest.mark.parametrize(("change", "failed"), BAD_ROWS.values(), ids=BAD_ROWS.keys())
def test_one_bad_row_fails_the_curated_suite(curated, tmp_path, change, failed):
    copy = altered(curated, tmp_path, f"update episodes {change} where episode_ref = 'E1'")
    (result,) = curated_suites(copy, ("episodes",))
    assert [(o.rule, o.column) for o in result.outcomes if not o.success] == [failed]
    assert not result.success


KEY_FAILURES = {
    # Every row of a repeated key counts, as it would on the whole column.
    "repeated": ("set episode_id = 'force:E0' where episode_ref in ('E1', 'E2')", 3),
    "null": ("set episode_id = null where episode_ref in ('E1', 'E2')", 2),
}


@pytest.mark.parametrize(("change", "count"), KEY_FAILURES.values(), ids=KEY_FAILURES.keys())
def test_key_checks_count_what_every_row_would(curated, tmp_path, change, count):
    copy = altered(curated, tmp_path, f"update episodes {change}")
    (result,) = curated_suites(copy, ("episodes",))
    assert [o.unexpected_count for o in result.outcomes if not o.success] == [count]
