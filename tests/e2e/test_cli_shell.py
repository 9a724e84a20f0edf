"""The command line as a process: a nightly run from the shell starts its own Prefect API and
stops it when done."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


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


def test_a_nightly_from_the_shell_brings_its_own_prefect_api_and_stops_it(tmp_path):
    home = tmp_path / "prefect-home"
    env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}
    env |= {"PREFECT_HOME": str(home), "WHEREABOUTS_KEY_FILE": str(tmp_path / "key")}
    (tmp_path / "raw").mkdir()
    done = subprocess.run(
        [sys.executable, "-m", "pipelines", "nightly", "--raw", str(tmp_path / "raw"),
         "--db", str(tmp_path / "c.duckdb"), "--work-db", str(tmp_path / "w.duckdb"),
         "--reports", str(tmp_path / "reports"), "--as-of", "2026-11-01"],
        env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[1:4] == [
        "  files: 0 new of 0 seen",
        "  rows: 0 read, 0 loaded, 0 quarantined, 0 out of scope",
        "  curated: 0 episodes, 0 children",
    ]
    assert (home / "server.log").exists()  # the temporary server ran, with this home
    assert (home / "prefect.db").exists()
    assert processes_with(home) == []
