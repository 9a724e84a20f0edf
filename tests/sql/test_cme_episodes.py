"""cme_episodes on tiny hand-made spells, row for row, through the real SQL build."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import duckdb
import pytest
from conftest import police_source

from pipelines.ingest.working_store import open_work
from pipelines.sources.declarations import Source
from pipelines.warehouse.build import build

FAST_DIR = "/dev/shm" if os.access("/dev/shm", os.W_OK) else None
CME = Source(name="cme", kind="cme", file=Path("cme.yaml"), fingerprint="t")
AS_OF = date(2024, 12, 31)
ROWS = (
    "select cme_episode_id, child_id, person_id, off_roll_on, reason, resolved_on, "
    "days_off_roll, is_open from cme_episodes order by all"
)


@pytest.fixture
def scratch() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(dir=FAST_DIR) as folder:
        yield Path(folder)


def spell(seq: int, row: int, child: str, off: str, reason: str, resolved: str | None) -> tuple:
    """One cme_rows row: file seq's row `row`."""
    on = date.fromisoformat(resolved) if resolved else None
    return ("cme", f"cme/{seq}.csv", row, seq, child, date.fromisoformat(off), reason, on)


def build_spells(folder: Path, spells: list[tuple], persons: dict[str, str]):
    work = folder / "work.duckdb"
    con = open_work(work)
    con.executemany("insert into cme_rows values (?, ?, ?, ?, ?, ?, ?, ?)", spells)
    con.executemany(
        "insert into person_ids values (?, ?, 'model')", [(c, p) for c, p in persons.items()]
    )
    con.close()
    sources = {s.name: s for s in (police_source(), CME)}
    built = build(work, folder / "curated.duckdb", sources, AS_OF)
    return duckdb.connect(str(built.path), read_only=True)


def d(text: str) -> date:
    return date.fromisoformat(text)


CASES = {
    "resolved_counts_to_resolution": (
        [spell(1, 0, "a", "2024-03-01", "MOV", "2024-03-21")],
        [("cme:a:2024-03-01", "a", "P1", d("2024-03-01"), "MOV", d("2024-03-21"), 20, False)],
    ),
    "open_counts_to_the_run_date": (
        [spell(1, 0, "a", "2024-12-11", "MOV", None)],
        [("cme:a:2024-12-11", "a", "P1", d("2024-12-11"), "MOV", None, 20, True)],
    ),
    "resolved_after_the_run_date_is_open_then": (
        [spell(1, 0, "a", "2024-12-11", "MOV", "2025-01-05")],
        [("cme:a:2024-12-11", "a", "P1", d("2024-12-11"), "MOV", d("2025-01-05"), 20, True)],
    ),
    "resolved_on_the_run_date_is_closed": (
        [spell(1, 0, "a", "2024-12-11", "MOV", "2024-12-31")],
        [("cme:a:2024-12-11", "a", "P1", d("2024-12-11"), "MOV", d("2024-12-31"), 20, False)],
    ),
    "off_roll_after_the_run_date_counts_no_days": (
        [spell(1, 0, "a", "2025-01-11", "MOV", None)],
        [("cme:a:2025-01-11", "a", "P1", d("2025-01-11"), "MOV", None, 0, True)],
    ),
    "a_later_register_resolves_the_spell": (
        [
            spell(1, 0, "a", "2024-03-01", "UNK", None),
            spell(2, 4, "a", "2024-03-01", "MOV", "2024-03-11"),
        ],  # fmt: skip
        [("cme:a:2024-03-01", "a", "P1", d("2024-03-01"), "MOV", d("2024-03-11"), 10, False)],
    ),
    "two_spells_of_one_child_and_an_unlinked_child": (
        [
            spell(1, 0, "a", "2024-03-01", "MOV", "2024-03-11"),
            spell(1, 1, "a", "2024-06-01", "EXC", "2024-06-03"),
            spell(1, 2, "z", "2024-06-01", None, "2024-06-02"),
        ],  # fmt: skip
        [
            ("cme:a:2024-03-01", "a", "P1", d("2024-03-01"), "MOV", d("2024-03-11"), 10, False),
            ("cme:a:2024-06-01", "a", "P1", d("2024-06-01"), "EXC", d("2024-06-03"), 2, False),
            ("cme:z:2024-06-01", "z", None, d("2024-06-01"), None, d("2024-06-02"), 1, False),
        ],
    ),
}


@pytest.mark.parametrize(("spells", "expected"), CASES.values(), ids=CASES.keys())
def test_cme_episode_rule(scratch: Path, spells: list[tuple], expected: list[tuple]) -> None:
    con = build_spells(scratch, spells, {"a": "P1"})
    assert con.execute(ROWS).fetchall() == expected
    con.close()
