"""Operations you can trust, as plain functions: the raw folder, the key, the stores' paths,
the locks and the history of runs that never finished."""

from __future__ import annotations

import os
from datetime import date, datetime
from pathlib import Path

import duckdb
import pytest

from pipelines import settings
from pipelines.errors import ConfigurationError, MissingInput, UsageError
from pipelines.ingest.pseudonym import key_file, key_fingerprint
from pipelines.ingest.working_store import claim_raw_dir, open_work
from pipelines.orchestration.locking import AlreadyRunning, run_lock
from pipelines.orchestration.runs import KILLED, close_unfinished, start_run
from pipelines.sources.discovery import discover


def test_a_missing_raw_folder_is_an_error_naming_it(tmp_path: Path) -> None:
    with pytest.raises(MissingInput) as missing:
        discover(tmp_path / "nowhere", {})
    assert str(missing.value) == (
        f"{tmp_path / 'nowhere'}: the raw folder does not exist or is not a folder"
    )


def test_an_unreadable_raw_folder_is_an_error_naming_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    raw = tmp_path / "raw"
    raw.mkdir()
    real = Path.iterdir

    def denied(path: Path):  # root reads any folder whatever its mode: deny it here
        if path == raw:
            raise PermissionError(13, "Permission denied", str(path))
        return real(path)

    monkeypatch.setattr(Path, "iterdir", denied)
    with pytest.raises(MissingInput) as unreadable:
        discover(raw, {})
    assert str(unreadable.value) == f"{raw}: the raw folder cannot be read (Permission denied)"


def test_a_new_key_says_so_and_is_private(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "config" / "key"
    monkeypatch.setenv("WHEREABOUTS_KEY_FILE", str(path))
    first, again = key_file(), key_file()
    assert (first.created, again.created) == (True, False)
    assert first.key == again.key and first.path == path
    assert os.stat(path).st_mode & 0o777 == 0o600
    assert first.key.decode() not in repr(first)


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o660])
def test_a_key_open_to_group_or_others_is_refused_with_the_fix(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mode: int
) -> None:
    path = tmp_path / "key"
    path.write_text("ab" * 32)
    path.chmod(mode)
    monkeypatch.setenv("WHEREABOUTS_KEY_FILE", str(path))
    with pytest.raises(ConfigurationError) as refused:
        key_file()
    assert str(refused.value) == (
        f"{path}: the pseudonymisation key is open to group or others (mode {mode:04o}); "
        f"run 'chmod 600 {path}'"
    )


def test_a_key_inside_the_project_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = tmp_path / "project"
    (project / "schemas").mkdir(parents=True)
    path = project / "secrets" / "key"
    monkeypatch.setattr(settings, "PROJECT_ROOT", project)
    monkeypatch.setenv("WHEREABOUTS_KEY_FILE", str(path))
    with pytest.raises(ConfigurationError) as refused:
        key_file()
    assert str(refused.value) == (
        f"{path}: the pseudonymisation key is inside the project folder {project}; move it "
        "outside the project and set WHEREABOUTS_KEY_FILE to its new place"
    )
    assert not path.exists()  # never created there either


def _key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str, text: str):
    path = tmp_path / name
    path.write_text(text)
    path.chmod(0o600)
    monkeypatch.setenv("WHEREABOUTS_KEY_FILE", str(path))
    return key_file()


def test_a_store_refuses_a_key_it_was_not_built_with(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    work = tmp_path / "work.duckdb"
    first = _key(tmp_path, monkeypatch, "first", "a1" * 32)
    open_work(work, key=first).close()
    open_work(work, key=first).close()  # the same key: accepted on every open
    with duckdb.connect(str(work)) as con:
        stored = con.execute("select key_fingerprint from store_identity").fetchall()
    assert stored == [(key_fingerprint(first.key),)]
    assert first.key.decode() not in work.read_bytes().decode("latin-1")
    other = _key(tmp_path, monkeypatch, "other", "b2" * 32)
    with pytest.raises(ConfigurationError) as refused:
        open_work(work, key=other)
    assert str(refused.value) == (
        f"{other.path}: not the pseudonymisation key the working store {work} was built with "
        f"(fingerprint {other.fingerprint[:12]}, the store's {first.fingerprint[:12]}); restore "
        "that key file, or point WHEREABOUTS_KEY_FILE at it"
    )


def test_a_store_made_before_fingerprints_knows_its_key_by_its_people(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pipelines.ingest.pseudonym import child_id

    work = tmp_path / "work.duckdb"
    first = _key(tmp_path, monkeypatch, "first", "a1" * 32)
    con = open_work(work)
    con.execute(
        "insert into person_keys values (?, 'force', 'P1')",
        [child_id(first.key, "force", "P1")],
    )
    con.close()
    other = _key(tmp_path, monkeypatch, "other", "b2" * 32)
    with pytest.raises(ConfigurationError, match="not the pseudonymisation key"):
        open_work(work, key=other)
    open_work(work, key=first).close()  # its own key is recognised, then recorded


def test_a_store_refuses_another_raw_folder_without_force(tmp_path: Path) -> None:
    work = tmp_path / "work.duckdb"
    (tmp_path / "raw").mkdir()
    (tmp_path / "other").mkdir()
    con = open_work(work)
    claim_raw_dir(con, work, tmp_path / "raw")
    claim_raw_dir(con, work, tmp_path / "x" / ".." / "raw")  # the same folder, resolved
    with pytest.raises(UsageError) as refused:
        claim_raw_dir(con, work, tmp_path / "other")
    assert str(refused.value) == (
        f"the working store {work} ingests the raw folder {tmp_path / 'raw'}, not "
        f"{tmp_path / 'other'}; pass --force to make it ingest this one from now on"
    )
    claim_raw_dir(con, work, tmp_path / "other", force=True)
    assert con.execute("select raw_dir from store_identity").fetchall() == [
        (str(tmp_path / "other"),)
    ]
    con.close()


@pytest.mark.parametrize(
    ("db", "work"),
    [
        ("data/curated/whereabouts.duckdb", "data/work/whereabouts-work.duckdb"),
        ("/srv/test/curated/trial.duckdb", "/srv/test/work/trial-work.duckdb"),
        ("/tmp/trial.duckdb", "/tmp/trial-work.duckdb"),
    ],
)
def test_the_working_store_follows_the_published_database(
    db: str, work: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("WHEREABOUTS_WORK_DB", raising=False)
    assert settings.work_db_for(Path(db)) == Path(work)
    monkeypatch.setenv("WHEREABOUTS_WORK_DB", "/elsewhere/w.duckdb")
    assert settings.work_db_for(Path(db)) == Path("/elsewhere/w.duckdb")


def test_the_published_database_has_a_lock_of_its_own(tmp_path: Path) -> None:
    db = tmp_path / "curated" / "whereabouts.duckdb"
    with run_lock(tmp_path / "a-work.duckdb", db):
        with pytest.raises(AlreadyRunning) as refused, run_lock(tmp_path / "b-work.duckdb", db):
            pass
        assert str(refused.value) == (
            f"another nightly run is in progress (pid {os.getpid()}) on {db}; "
            "not starting a second one"
        )
    with run_lock(tmp_path / "b-work.duckdb", db):  # released with the first run
        pass


def test_runs_that_never_finished_are_marked_killed(tmp_path: Path) -> None:
    work, db = tmp_path / "work.duckdb", tmp_path / "curated.duckdb"
    start_run(work, "r1-running", date(2026, 11, 1))
    start_run(work, "r2-published-here", date(2026, 11, 1))
    start_run(work, "r3-published-there", date(2026, 11, 1))
    con = open_work(work)
    con.execute("update runs set status = 'published' where run_id like 'r2%' or run_id like 'r3%'")
    con.close()
    published = duckdb.connect(str(db))
    published.execute(
        "create table runs as select 'r3-published-there' as run_id, 'published' as status, "
        "timestamp '2026-11-01 02:40:00' as finished_at, 12.5::double as seconds"
    )
    published.close()
    assert close_unfinished(work, db) == ["r1-running", "r2-published-here"]
    with duckdb.connect(str(work)) as con:
        rows = con.execute(
            "select run_id, status, finished_at, seconds, message from runs order by run_id"
        ).fetchall()
    assert rows == [
        ("r1-running", "killed", None, None, KILLED),
        ("r2-published-here", "killed", None, None, KILLED),
        ("r3-published-there", "published", datetime(2026, 11, 1, 2, 40), 12.5, None),
    ]
    assert close_unfinished(work, db) == []
