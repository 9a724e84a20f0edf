"""The command line as a process: a nightly from the shell runs plain when no Prefect server is
configured, and with `--prefect` starts its own Prefect API and stops it when done."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest


def processes_with(home: Path) -> list[int]:
    """Processes whose environment carries this PREFECT_HOME (the temporary server's)."""
    marker = f"PREFECT_HOME={home}".encode()
    found = []
    for environ in Path("/proc").glob("[0-9]*/environ"):
        try:
            if marker in environ.read_bytes().split(b"\0"):
                found.append(int(environ.parent.name))
        except OSError:  # gone, or not ours to read
            pass
    return found


def _shell_nightly(tmp_path: Path, *extra: str) -> tuple[subprocess.CompletedProcess, Path]:
    """An empty nightly from the shell, with no Prefect API configured and its own home."""
    home = tmp_path / "prefect-home"
    env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}
    env |= {"PREFECT_HOME": str(home), "WHEREABOUTS_KEY_FILE": str(tmp_path / "key")}
    (tmp_path / "raw").mkdir()
    done = subprocess.run(
        [sys.executable, "-m", "pipelines", "nightly", "--raw", str(tmp_path / "raw"),
         "--db", str(tmp_path / "c.duckdb"), "--work-db", str(tmp_path / "w.duckdb"),
         "--reports", str(tmp_path / "reports"), "--as-of", "2026-11-01", *extra],
        env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[1:4] == [
        "  files: 0 new of 0 seen",
        "  rows: 0 read, 0 loaded, 0 quarantined, 0 out of scope",
        "  curated: 0 episodes, 0 children",
    ]
    return done, home


def test_a_nightly_from_the_shell_with_no_prefect_server_runs_plain(tmp_path):
    done, home = _shell_nightly(tmp_path)
    assert not home.exists()  # no temporary server, no Prefect database: Prefect never ran
    assert done.stderr == ""
    with duckdb.connect(str(tmp_path / "c.duckdb"), read_only=True) as con:
        assert con.execute("select status, files_new from runs").fetchall() == [("published", 0)]


def test_a_nightly_with_prefect_asked_brings_its_own_prefect_api_and_stops_it(tmp_path):
    _, home = _shell_nightly(tmp_path, "--prefect")
    assert (home / "server.log").exists()  # the temporary server ran, with this home
    assert (home / "prefect.db").exists()
    assert processes_with(home) == []


HEAVY = ("prefect", "pandas", "great_expectations", "matplotlib", "splink")
BAD_PATHS = {
    "missing_raw_folder": (
        ["nightly", "--raw", "{tmp}/nowhere"],
        "whereabouts nightly: {tmp}/nowhere: the raw folder does not exist or is not a folder",
    ),
    "missing_declarations": (
        ["nightly", "--raw", "{tmp}", "--sources", "{tmp}/none"],
        "whereabouts nightly: {tmp}/none: no such folder of source declarations",
    ),
    "missing_truth_file": (
        ["nightly", "--raw", "{tmp}", "--truth", "{tmp}/truth.csv"],
        "whereabouts nightly: {tmp}/truth.csv: no such truth file",
    ),
    "missing_published_database": (
        ["briefing", "--month", "2026-10", "--db", "{tmp}/none.duckdb"],
        "whereabouts briefing: {tmp}/none.duckdb: no published database (run 'whereabouts "
        "nightly')",
    ),
}


@pytest.mark.parametrize(("argv", "message"), BAD_PATHS.values(), ids=BAD_PATHS.keys())
def test_a_bad_path_is_answered_before_the_heavy_libraries_load(tmp_path, argv, message):
    # The process reports which heavy modules it had loaded when main() returned.
    script = (
        "import sys, time; t = time.perf_counter(); from pipelines.cli.main import main; "
        f"code = main({[a.format(tmp=tmp_path) for a in argv]!r}); "
        "print(code, time.perf_counter() - t, "
        f"[m for m in {HEAVY!r} if m in sys.modules])"
    )
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60
    )
    wall = time.perf_counter() - started
    code, _, loaded = done.stdout.split(" ", 2)
    assert (code, loaded.strip()) == ("1", "[]"), done.stdout + done.stderr
    assert done.stderr == message.format(tmp=tmp_path) + "\n"
    # The target is under 1 s (benchmarks/responses.py measures it); 5 s leaves room for a
    # loaded CI machine while still failing if Prefect or pandas (about 10 s) crept back in.
    assert wall < 5, wall
