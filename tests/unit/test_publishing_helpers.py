"""Publishing helpers that need no nightly run: spreadsheet-safe CSV cells and clearing what
killed builds left behind. (Publishing end to end is tested in tests/e2e/test_publishing.py.)"""

from __future__ import annotations

import pytest

from pipelines.warehouse import build as building


@pytest.mark.parametrize(
    ("cell", "safe"),
    [("=SUM(A1)", "'=SUM(A1)"), ("+44", "'+44"), ("-1", "'-1"), ("@x", "'@x"), ("ok", "ok")],
)
def test_csv_cells_that_a_spreadsheet_would_run_are_made_safe(cell, safe):
    import pyarrow as pa

    from pipelines.warehouse.export import spreadsheet_safe

    assert spreadsheet_safe(pa.chunked_array([[cell]])).to_pylist() == [safe]


def test_what_killed_builds_left_is_cleared_spill_folders_included(tmp_path):
    published = tmp_path / "whereabouts.duckdb"
    published.write_bytes(b"the last good database")
    left = tmp_path / ".whereabouts.duckdb.building-r1"
    left.write_bytes(b"half a database")
    left.with_name(left.name + ".wal").write_bytes(b"log")
    (spill := left.with_name(left.name + ".tmp")).mkdir()
    (spill / "duckdb_temp_storage-0.tmp").write_bytes(b"spilled")
    building.clear_abandoned(published)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["whereabouts.duckdb"]


def test_a_curated_files_writer_keeps_deleted_rows_as_marks(tmp_path):
    # A checkpoint that compacts `episodes` after an incremental build cost seconds (db.py).
    from pipelines.db import connect_curated

    con = connect_curated(tmp_path / "curated.duckdb")
    try:
        assert con.execute("select current_setting('max_vacuum_tasks')").fetchall() == [(0,)]
    finally:
        con.close()
