"""The curated suite's reconciliations (quality.curated.reconcile), one broken at a time.

Each case alters a copy of a small built database and names the one rule whose count of
offending rows must change, and to what; every other rule keeps the count it had.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import altered, small_curated

from pipelines.quality.curated import reconcile

FAST_DIR = "/dev/shm" if os.access("/dev/shm", os.W_OK) else None


@pytest.fixture(scope="module")
def built() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(dir=FAST_DIR) as folder:
        yield small_curated(Path(folder))


def counts(db: Path, work_db: Path) -> dict[str, int]:
    return {o.rule: o.unexpected_count for o in reconcile(db, work_db).outcomes}


@pytest.mark.parametrize(
    ("rule", "statement", "offending"),
    [
        # The four episodes' child has no row in children.
        ("episode_has_child", "delete from children", 4),
        ("every_episode_published", "delete from episodes where episode_ref = 'E0'", 1),
        ("every_episode_classified", "update episodes set rule = null where episode_ref = 'E1'", 1),
    ],
)
def test_a_broken_reconciliation_counts_its_rows(
    built: Path, tmp_path: Path, rule: str, statement: str, offending: int
) -> None:
    work_db = built.parent / "work.duckdb"
    before = counts(built, work_db)
    after = counts(altered(built, tmp_path, statement), work_db)
    assert before[rule] == 0
    assert after == before | {rule: offending}
