"""The curated suite on a built database: SQL aggregates give the GX path's own outcomes and
a failing table is reported by GX (that a run where everything passes never imports GX is
tested in a process of its own: tests/e2e/test_gx_imports.py), and a table of which an
incremental build replaced some rows is judged on those rows, with the whole table's counts."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import duckdb
import pytest
from conftest import altered, small_curated

from pipelines.db import connect
from pipelines.quality.aggregates import sql_suite
from pipelines.quality.contracts import Check, load_contract
from pipelines.quality.curated import REPLACED, curated_suites, gx_suite
from pipelines.warehouse.build import CURATED


@pytest.fixture(scope="module")
def curated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small curated database with every table non-empty where it can be."""
    return small_curated(tmp_path_factory.mktemp("sql_checks"))


def test_every_curated_table_gets_the_gx_paths_outcomes_from_sql(curated: Path) -> None:
    con = connect(curated, read_only=True)
    try:
        for table in CURATED:
            contract = load_contract(table)
            assert sql_suite(con, contract) == gx_suite(con, contract), table
    finally:
        con.close()


def test_a_failing_table_is_reported_by_gx_with_its_values_counted_in_rows(
    curated: Path, tmp_path: Path
) -> None:
    # Two rows of one bad code: GX, on the column's distinct values, counts one.
    copy = altered(
        curated, tmp_path, "update episodes set category = 'lost' where episode_ref in ('E1', 'E2')"
    )
    (result,) = curated_suites(copy, ("episodes",))
    con = duckdb.connect(str(copy), read_only=True)
    try:
        gx = gx_suite(con, load_contract("episodes"))
    finally:
        con.close()
    (failed,) = [o for o in result.outcomes if not o.success]
    (gx_failed,) = [o for o in gx.outcomes if not o.success]
    assert (failed.rule, failed.column, failed.unexpected_count, failed.examples) == (
        "allowed",
        "category",
        2,
        ("lost",),
    )
    assert gx_failed.unexpected_count == 1
    assert [o for o in result.outcomes if o.success] == [o for o in gx.outcomes if o.success]


# Each case: a statement on a copy of the small database, the episode whose row an
# incremental build is taken to have replaced (kept in REPLACED as the build keeps it), and
# the episodes suite's failed outcomes: (rule, column, rows).
REPLACED_CASES = {
    "a_replaced_rows_bad_value_is_found": (
        "update episodes set category = 'lost' where episode_ref = 'E1'",
        "E1",
        [("allowed", "category", 1)],
    ),
    "a_replaced_row_repeating_a_published_id_counts_both_rows": (
        "update episodes set episode_id = (select episode_id from episodes "
        "where episode_ref = 'E0') where episode_ref = 'E1'",
        "E1",
        [("unique", "episode_id", 2)],
    ),
    # The published rows passed the same contract: they are not judged again.
    "a_published_rows_value_is_not_judged_again": (
        "update episodes set category = 'lost' where episode_ref = 'E0'",
        "E1",
        [],
    ),
}


@pytest.mark.parametrize(
    ("statement", "replaced", "failed"), REPLACED_CASES.values(), ids=REPLACED_CASES.keys()
)
def test_rows_an_incremental_build_replaced_are_judged_with_whole_table_counts(
    curated: Path, tmp_path: Path, statement: str, replaced: str, failed: list
) -> None:
    copy = altered(
        curated,
        tmp_path,
        f"{statement}; create schema {REPLACED}; create table {REPLACED}.episodes as "
        f"from episodes where episode_ref = '{replaced}'",
    )
    (result,) = curated_suites(copy, ("episodes",))
    assert [(o.rule, o.column, o.unexpected_count) for o in result.outcomes if not o.success] == (
        failed
    )
    assert result.success == (not failed)
    # A failing table is reported by GX on every row; a passing one says what was judged.
    assert result.replaced_rows == (None if failed else 1)


def test_a_contract_with_a_warning_is_judged_on_every_row(curated: Path, tmp_path: Path) -> None:
    # A warning may pass the published file with rows found: here the council episode's
    # regime (none under SSDA903) outside the replaced row.
    copy = altered(
        curated,
        tmp_path,
        f"create schema {REPLACED}; create table {REPLACED}.episodes as "
        "from episodes where episode_ref = 'E1'",
    )
    warned = Check("regime_recorded", "warning", "not_null", "no regime", ("regime",))
    contract = load_contract("episodes")
    contract = replace(contract, checks=(*contract.checks, warned))
    con = connect(copy, read_only=True)
    try:
        result = sql_suite(con, contract, f'{REPLACED}."episodes"')
    finally:
        con.close()
    (outcome,) = [o for o in result.outcomes if o.rule == "regime_recorded"]
    assert (outcome.success, outcome.unexpected_count) == (False, 1)
    assert result.success
