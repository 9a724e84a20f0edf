"""Publishing: atomic replacement, read-only readers, permissions, exports, lookup, report."""

from __future__ import annotations

import re
import stat
from datetime import date
from pathlib import Path

import duckdb
import pandas as pd
import pyarrow.parquet as pq
import pytest

from pipelines.cli.commands import RunFailed, run_nightly
from pipelines.quality.contracts import load_contract
from pipelines.synth import generate
from pipelines.warehouse import build as building


def _paths(base: Path) -> dict:
    return {
        "db": base / "curated" / "whereabouts.duckdb",
        "work_db": base / "work" / "work.duckdb",
        "validation_dir": base / "reports",
    }


def nightly(base: Path, raw: Path):
    return run_nightly(raw_dir=raw, as_of=date(2026, 11, 1), **_paths(base))


@pytest.fixture(scope="module")
def published(prefect_harness, tmp_path_factory):
    base = tmp_path_factory.mktemp("publish")
    generate(base / "raw", seed=3, scale=0.2, until="2026-10")
    summary = nightly(base, base / "raw")
    return base, summary


def test_published_file_and_key_are_private(published, private_key):
    base, _ = published
    for path in (_paths(base)["db"], private_key):
        assert stat.S_IMODE(path.stat().st_mode) & 0o037 == 0, path


def test_a_build_that_fails_part_way_leaves_the_last_good_database(
    published, monkeypatch, tmp_path
):
    base, _ = published
    db = _paths(base)["db"]
    before = db.read_bytes()
    real = building.model_sql

    def broken(name: str) -> str:
        if name == "repeat_missing":
            raise OSError("disk full (simulated)")
        return real(name)

    monkeypatch.setattr(building, "model_sql", broken)
    with pytest.raises(RunFailed, match="disk full"):
        nightly(base, base / "raw")
    assert db.read_bytes() == before
    assert list(db.parent.glob(".*building*")) == []


def test_a_reader_keeps_its_version_while_a_new_one_is_published(published, tmp_path):
    base, _ = published
    db = _paths(base)["db"]
    reader = duckdb.connect(str(db), read_only=True)
    new_episodes = "select count(*) from episodes where episode_ref like 'NEW%'"
    assert reader.execute(new_episodes).fetchone() == (0,)
    (base / "raw" / "southbay" / "southbay_extra.csv").write_text(
        "episode_ref,person_ref,date_of_birth,reported_at\n"
        + "".join(f"NEW{i},NP{i},2012-01-01,2026-10-30 10:00\n" for i in range(3))
    )
    summary = nightly(base, base / "raw")
    assert summary.files_new == 1 and summary.rows_loaded == 3
    # The open connection still sees its own, consistent version...
    assert reader.execute(new_episodes).fetchone() == (0,)
    reader.close()
    # ...and a new connection sees the new one.
    fresh = duckdb.connect(str(db), read_only=True)
    assert fresh.execute(new_episodes).fetchone() == (3,)
    fresh.close()


def test_validation_report_is_offline(published):
    _, summary = published
    page = Path(summary.report).read_text(encoding="utf-8")
    # Every suite that ran is listed: incoming batches, DfE rules, each table, reconciliation.
    assert "<h2>Suites run</h2>" in page
    assert "incoming_episodes (" in page and "DfE SSDA903 rules (riverton/" in page
    for suite in (*building.CURATED, "reconciliation"):
        assert f"<h2>Suite {suite}: " in page, suite
    assert re.findall(r"(?:https?:)?//[\w.-]+", page) == []
    assert "<script" not in page and "<link" not in page
    # The run published: rows some suites judged were quarantined, and none failed the run.
    assert "rows quarantined, the run went on: " in page
    assert "FAILED the run" not in page and "np.datetime64" not in page
    index = (Path(summary.report).parent / "index.html").read_text(encoding="utf-8")
    assert f"<a href='{Path(summary.report).name}'>{summary.run_id}</a>" in index


def test_export_csv_and_parquet(published, tmp_path):
    from pipelines.cli.main import main

    base, _ = published
    db = str(_paths(base)["db"])
    assert main(["export", "--format", "csv", "--out", str(tmp_path / "csv"), "--db", db]) == 0
    assert main(["export", "--format", "parquet", "--out", str(tmp_path / "pq"), "--db", db]) == 0
    assert {p.stem for p in (tmp_path / "csv").glob("*.csv")} == set(building.CURATED)
    assert {p.stem for p in (tmp_path / "pq").glob("*.parquet")} == set(building.CURATED)
    con = duckdb.connect()
    exported = con.execute(
        f"select count(*) from read_parquet('{tmp_path / 'pq' / 'episodes.parquet'}')"
    ).fetchone()
    assert (
        exported
        == duckdb.connect(db, read_only=True).execute("select count(*) from episodes").fetchone()
    )
    # Each Parquet column carries its meaning from the table's contract.
    schema = pq.read_schema(tmp_path / "pq" / "persons.parquet")
    contract = load_contract("persons")
    assert {f.name: f.metadata[b"description"].decode() for f in schema} == {
        c.name: c.description for c in contract.columns
    }
    assert schema.metadata[b"grain"].decode() == contract.grain


def test_export_xlsx_holds_the_rows_and_their_meanings(published, tmp_path):
    from pipelines.cli.main import main

    base, _ = published
    db = _paths(base)["db"]
    assert main(["export", "--format", "xlsx", "--out", str(tmp_path), "--db", str(db)]) == 0
    assert {p.stem for p in tmp_path.glob("*.xlsx")} == set(building.CURATED)
    path = tmp_path / "at_risk_children.xlsx"
    assert stat.S_IMODE(path.stat().st_mode) == 0o640
    sheets = pd.read_excel(path, sheet_name=None, engine="calamine")
    assert list(sheets) == ["at_risk_children", "columns"]
    con = duckdb.connect(str(db), read_only=True)
    expected = con.sql("select * from at_risk_children").to_arrow_table()
    con.close()
    assert list(sheets["at_risk_children"].columns) == expected.column_names
    assert len(sheets["at_risk_children"]) == expected.num_rows > 0
    meanings = {c.name: c.description for c in load_contract("at_risk_children").columns}
    assert dict(sheets["columns"].itertuples(index=False)) == meanings


def test_lookup_gives_the_source_reference_behind_a_child_id(published, capsys):
    from pipelines.cli.main import main

    base, _ = published
    work = _paths(base)["work_db"]
    con = duckdb.connect(str(_paths(base)["db"]), read_only=True)
    child = con.execute(
        "select child_id from episodes where source = 'southbay' order by episode_id limit 1"
    ).fetchone()[0]
    con.close()
    assert main(["lookup", child, "--work-db", str(work), "--by", "duty-officer"]) == 0
    out = capsys.readouterr().out
    # The child's person, and every agency's reference behind it (this one's among them).
    assert re.fullmatch(
        r"person_id: [0-9a-f]{32}\n(  agency: \S+  source: \S+  person_ref: \S+\n)+", out
    )
    assert re.search(r"^  agency: southbay  source: southbay  person_ref: \S+$", out, re.M)
    assert main(["lookup", "nobody", "--work-db", str(work), "--by", "duty-officer"]) == 1
    assert capsys.readouterr().err == "whereabouts lookup: no child with id nobody\n"
    identity = duckdb.connect(str(work.with_name(work.stem + "-identity.duckdb")), read_only=True)
    audited = identity.execute(
        "select looked_up_by, looked_up_id, records_shown > 0 from lookup_audit order by all"
    ).fetchall()
    identity.close()
    assert audited == sorted([("duty-officer", child, True), ("duty-officer", "nobody", False)])


def test_a_second_nightly_while_one_runs_is_refused(published):
    from pipelines.orchestration.locking import run_lock

    base, _ = published
    with run_lock(_paths(base)["work_db"]), pytest.raises(RunFailed) as refused:
        nightly(base, base / "raw")
    assert str(refused.value).startswith("another nightly run is in progress (pid ")
    assert str(refused.value).endswith("); not starting a second one")
