"""Operations you can trust, through the real nightly flow: no silent success, one lock on the
published database, and an honest history of runs that were killed."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from datetime import date
from pathlib import Path

import duckdb
import pytest

from pipelines.cli.commands import EXIT_ATTENTION, RunFailed, run_nightly
from pipelines.cli.main import main
from pipelines.orchestration.runs import KILLED
from pipelines.synth import generate

AS_OF = date(2026, 11, 1)
SOURCES = ["southbay", "riverton"]


def _args(base: Path, raw: Path | None = None) -> list[str]:
    return [
        "nightly",
        "--raw",
        str(raw or base / "raw"),
        "--db",
        str(base / "curated" / "whereabouts.duckdb"),
        "--reports",
        str(base / "reports"),
        "--as-of",
        AS_OF.isoformat(),
    ]


def _runs(work: Path) -> list[tuple]:
    with duckdb.connect(str(work), read_only=True) as con:
        return con.execute(
            "select run_id, status, message from runs order by started_at"
        ).fetchall()


@pytest.fixture(scope="module")
def delivered(prefect_harness, tmp_path_factory):
    """Two sources delivered, ingested by a first run with a key made by that run."""
    base = tmp_path_factory.mktemp("ops")
    generate(base / "raw", seed=5, scale=0.05, until="2026-10", sources=SOURCES)
    key = base / "config" / "key"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("WHEREABOUTS_KEY_FILE", str(key))
        patch.delenv("WHEREABOUTS_WORK_DB", raising=False)
        first = run_nightly(
            raw_dir=base / "raw",
            db=base / "curated" / "whereabouts.duckdb",
            as_of=AS_OF,
            validation_dir=base / "reports",
        )
        yield base, first, key


def test_a_new_key_is_announced_and_the_store_follows_the_db(delivered):
    base, first, key = delivered
    assert first.status == "published" and first.attention == []
    assert (
        f"  new pseudonymisation key: {key} - back it up now (and keep it private): without it "
        "no child_id can be traced, and another key splits every child in two"
    ) in first.lines()
    # No --work-db: the store is the database's own, data/work/ beside data/curated/.
    assert (base / "work" / "whereabouts-work.duckdb").exists()
    assert [row[1] for row in _runs(base / "work" / "whereabouts-work.duckdb")] == ["published"]


def test_a_run_with_a_rejected_file_and_a_quiet_source_publishes_and_exits_3(
    delivered, capsys, monkeypatch
):
    base, _, key = delivered
    monkeypatch.setenv("WHEREABOUTS_KEY_FILE", str(key))
    monkeypatch.delenv("WHEREABOUTS_WORK_DB", raising=False)
    (base / "raw" / "riverton" / "missing.csv").write_text("CHILD,DOB,MISSING,MIS_START,MIS_END\n")
    db = base / "curated" / "whereabouts.duckdb"
    before = hashlib.sha256(db.read_bytes()).hexdigest()
    assert main(_args(base)) == EXIT_ATTENTION == 3
    out = capsys.readouterr().out.splitlines()
    assert out[0].endswith(": published")
    # The council's case-management, header and CME extracts came with riverton's tables.
    assert out[-5:] == [
        "  rejected file riverton/missing.csv: the file name has no collection year "
        "(name it like missing_2024_25.csv)",
        "  no new files from riverton_children",
        "  no new files from riverton_cme",
        "  no new files from riverton_header",
        "  no new files from southbay",
    ]
    assert hashlib.sha256(db.read_bytes()).hexdigest() != before  # still published
    work = base / "work" / "whereabouts-work.duckdb"
    assert [row[1] for row in _runs(work)] == ["published", "published"]
    with duckdb.connect(str(work), read_only=True) as con:
        assert con.execute(
            "select status from ingest_files where file = 'riverton/missing.csv'"
        ).fetchall() == [("rejected",)]


def test_prefect_shows_the_attention_state_and_the_database_is_published(delivered, monkeypatch):
    from pipelines.orchestration.flows import nightly

    base, _, key = delivered
    monkeypatch.setenv("WHEREABOUTS_KEY_FILE", str(key))
    monkeypatch.delenv("WHEREABOUTS_WORK_DB", raising=False)
    missing = base / "raw" / "riverton" / "missing.csv"
    if not missing.exists():  # run alone or on another worker: drop it and let a run see it
        missing.write_text("CHILD,DOB,MISSING,MIS_START,MIS_END\n")
        assert main(_args(base)) == EXIT_ATTENTION
    state = nightly(
        raw_dir=base / "raw",
        db=base / "curated" / "whereabouts.duckdb",
        as_of=AS_OF,
        validation_dir=base / "reports",
        return_state=True,
    )
    assert state.is_completed() and state.name == "Attention"
    assert state.message == (
        "published; needs attention: rejected file riverton/missing.csv: the file name has no "
        "collection year (name it like missing_2024_25.csv); no new files from riverton; "
        "no new files from riverton_children; no new files from riverton_cme; "
        "no new files from riverton_header; no new files from southbay"
    )
    assert state.result().status == "published"


def test_a_held_file_fails_its_night_and_is_listed_by_the_next_with_exit_3(
    prefect_harness, tmp_path, capsys, monkeypatch
):
    base = tmp_path
    generate(base / "raw", seed=5, scale=0.05, until="2026-10", sources=["southbay"])
    monkeypatch.setenv("WHEREABOUTS_KEY_FILE", str(base / "config" / "key"))
    monkeypatch.delenv("WHEREABOUTS_WORK_DB", raising=False)
    # Half its rows quarantined: over the 5% gate, so the file is held back whole.
    (base / "raw" / "southbay" / "southbay_broken.csv").write_text(
        "episode_ref,person_ref,date_of_birth,reported_at\n"
        "X1,HELD-P1,2012-01-01,2026-10-30 10:00\n"
        "X2,,2012-01-01,2026-10-30 10:00\n"
    )
    reason = "1 of 2 rows quarantined (50.0% > 5%); most often rule required (1 rows)"
    assert main(_args(base)) == 1
    assert capsys.readouterr().err == (
        f"whereabouts nightly: file southbay/southbay_broken.csv: {reason}\n"
    )
    assert not (base / "curated" / "whereabouts.duckdb").exists()
    # The next night has nothing new: it publishes the rest, and says the file is still held.
    assert main(_args(base)) == EXIT_ATTENTION
    out = capsys.readouterr().out.splitlines()
    assert out[0].endswith(": published")
    assert out[-2:] == [
        f"  held file southbay/southbay_broken.csv: {reason}",
        "  no new files from southbay",
    ]
    work = base / "work" / "whereabouts-work.duckdb"
    assert [row[1] for row in _runs(work)] == ["failed", "published"]


def test_a_missing_raw_folder_fails_with_one_line_naming_it(delivered, capsys, monkeypatch):
    base, _, key = delivered
    monkeypatch.setenv("WHEREABOUTS_KEY_FILE", str(key))
    monkeypatch.delenv("WHEREABOUTS_WORK_DB", raising=False)
    before = _runs(base / "work" / "whereabouts-work.duckdb")
    assert main(_args(base, raw=base / "unmounted")) == 1
    assert capsys.readouterr().err == (
        f"whereabouts nightly: {base / 'unmounted'}: the raw folder does not exist or is not a "
        "folder\n"
    )
    # Refused before a run starts (in a fraction of a second, before Prefect loads): no run
    # is recorded. The flow itself, as `serve` runs it, records the same failure in `runs`.
    assert _runs(base / "work" / "whereabouts-work.duckdb") == before


def test_another_raw_folder_needs_force(delivered, capsys, monkeypatch):
    base, _, key = delivered
    monkeypatch.setenv("WHEREABOUTS_KEY_FILE", str(key))
    monkeypatch.delenv("WHEREABOUTS_WORK_DB", raising=False)
    other = base / "other-raw"
    (other / "southbay").mkdir(parents=True)
    assert main(_args(base, raw=other)) == 1
    work = base / "work" / "whereabouts-work.duckdb"
    assert capsys.readouterr().err == (
        f"whereabouts nightly: the working store {work} ingests the raw folder "
        f"{(base / 'raw').resolve()}, not {other.resolve()}; pass --force to make it ingest "
        "this one from now on\n"
    )
    assert _runs(work)[-1][1] == "failed"


def test_another_key_is_refused(delivered, capsys, monkeypatch, tmp_path):
    base, _, key = delivered
    other = tmp_path / "other-key"
    other.write_text("c3" * 32)
    other.chmod(0o600)
    monkeypatch.setenv("WHEREABOUTS_KEY_FILE", str(other))
    monkeypatch.delenv("WHEREABOUTS_WORK_DB", raising=False)
    assert main(_args(base)) == 1
    err = capsys.readouterr().err
    work = base / "work" / "whereabouts-work.duckdb"
    assert err.startswith(
        f"whereabouts nightly: {other}: not the pseudonymisation key the working store {work} "
        "was built with (fingerprint "
    )
    assert err.endswith("; restore that key file, or point WHEREABOUTS_KEY_FILE at it\n")


def test_a_second_store_on_the_same_database_is_refused_and_touches_nothing(
    delivered, monkeypatch, tmp_path
):
    from pipelines.orchestration.locking import run_lock

    base, _, key = delivered
    monkeypatch.setenv("WHEREABOUTS_KEY_FILE", str(key))
    db = base / "curated" / "whereabouts.duckdb"
    building = db.with_name(f".{db.name}.building-first")
    building.write_bytes(b"the first run's build")
    before = db.read_bytes()
    with run_lock(base / "work" / "whereabouts-work.duckdb", db), pytest.raises(RunFailed) as no:
        run_nightly(
            raw_dir=base / "raw",
            db=db,
            work_db=tmp_path / "other-work.duckdb",
            as_of=AS_OF,
            validation_dir=tmp_path,
        )
    assert str(no.value) == (
        f"another nightly run is in progress (pid {os.getpid()}) on {db}; not starting a second one"
    )
    assert building.read_bytes() == b"the first run's build"
    assert db.read_bytes() == before
    building.unlink()


KILL_AT_PUBLISH = """
import os, signal, sys
from datetime import date
from pathlib import Path
from pipelines.warehouse import build
from pipelines.cli.commands import run_nightly

def killed(built, published):
    os.kill(os.getpid(), signal.SIGKILL)

build.publish = killed
base = Path(sys.argv[1])
run_nightly(raw_dir=base / "raw", db=base / "curated" / "whereabouts.duckdb",
            as_of=date(2026, 11, 1), validation_dir=base / "reports")
"""


def test_a_killed_run_is_marked_killed_by_the_next_in_runs_and_in_prefect(delivered, monkeypatch):
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterTags
    from prefect.settings import PREFECT_API_URL

    from pipelines.orchestration.flows import RUN_TAG

    base, _, key = delivered
    monkeypatch.setenv("WHEREABOUTS_KEY_FILE", str(key))
    monkeypatch.delenv("WHEREABOUTS_WORK_DB", raising=False)
    env = os.environ | {"PREFECT_API_URL": str(PREFECT_API_URL.value())}
    done = subprocess.run(
        [sys.executable, "-c", KILL_AT_PUBLISH, str(base)], env=env, capture_output=True
    )
    assert done.returncode == -9, done.stderr.decode()[-2000:]
    work = base / "work" / "whereabouts-work.duckdb"
    victim, status, _ = _runs(work)[-1]
    assert status == "published"  # what it had recorded before its build: not yet true
    summary = run_nightly(
        raw_dir=base / "raw",
        db=base / "curated" / "whereabouts.duckdb",
        as_of=AS_OF,
        validation_dir=base / "reports",
    )
    assert summary.status == "published"
    assert (victim, "killed", KILLED) in _runs(work)
    with duckdb.connect(str(base / "curated" / "whereabouts.duckdb"), read_only=True) as con:
        assert con.execute(
            "select status, message, finished_at from runs where run_id = ?", [victim]
        ).fetchall() == [("killed", KILLED, None)]
    with get_client(sync_client=True) as client:
        flow_runs = client.read_flow_runs(
            flow_run_filter=FlowRunFilter(tags=FlowRunFilterTags(all_=[RUN_TAG + victim]))
        )
    assert [(r.state.type.value, r.state.message) for r in flow_runs] == [("CRASHED", KILLED)]
