"""The curated suite on a built database: SQL aggregates give the GX path's own outcomes and
a failing table is reported by GX (that a run where everything passes never imports GX is
tested in a process of its own: tests/e2e/test_gx_imports.py)."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest
from conftest import altered, small_curated

from pipelines.db import connect
from pipelines.quality.aggregates import sql_suite
from pipelines.quality.contracts import load_contract
from pipelines.quality.curated import curated_suites, gx_suite
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
