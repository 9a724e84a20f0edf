"""The curated suite on a built database: SQL aggregates give the GX path's own outcomes, a
failing table is reported by GX, and a run where everything passes never imports GX."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest
from conftest import ROOT, altered, small_curated

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


GX_IMPORTED = """
import sys
from pathlib import Path
from pipelines.quality.curated import curated_suites
results = curated_suites(Path(sys.argv[1]), tuple(sys.argv[2:]))
print(all(r.success for r in results), "great_expectations" in sys.modules)
"""


def _gx_imported(db: Path) -> str:
    run = subprocess.run(
        [sys.executable, "-c", GX_IMPORTED, str(db), *CURATED],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT), "WHEREABOUTS_PROGRESS": "never"},
        check=True,
    )
    return run.stdout.strip()


def test_a_suite_where_everything_passes_never_imports_gx(curated: Path) -> None:
    assert _gx_imported(curated) == "True False"


def test_a_suite_with_a_failure_imports_gx_for_the_report(curated: Path, tmp_path: Path) -> None:
    copy = altered(curated, tmp_path, "update children set episodes = 0")
    assert _gx_imported(copy) == "False True"
