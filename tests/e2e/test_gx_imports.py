"""Great Expectations is imported by a nightly's curated suite only when a check fails (its
import takes seconds): each case runs the suite in a fresh Python process."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT, altered, small_curated

from pipelines.warehouse.build import CURATED


@pytest.fixture(scope="module")
def curated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small curated database with every table non-empty where it can be."""
    return small_curated(tmp_path_factory.mktemp("gx_imports"))


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
