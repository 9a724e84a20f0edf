"""The command line: every command has --help; failures are one plain line."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from pipelines.cli.main import main

COMMANDS = ["demo", "nightly", "briefing", "synth", "serve", "export", "lookup"]


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help(command, capsys):
    with pytest.raises(SystemExit) as done:
        main([command, "--help"])
    assert done.value.code == 0
    assert capsys.readouterr().out.startswith(f"usage: whereabouts {command}")


def test_top_level_help_lists_every_command(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    assert all(command in out for command in COMMANDS)


def test_a_bad_month_is_refused_in_one_line(capsys):
    with pytest.raises(SystemExit) as done:
        main(["briefing", "--month", "2026-13"])
    assert done.value.code == 2
    assert "'2026-13' is not a month (use YYYY-MM)" in capsys.readouterr().err


def test_a_bad_declaration_stops_nightly_with_file_and_key(tmp_path, capsys):
    (tmp_path / "force.yaml").write_text("name: force\nlayout: standard\ncolour: blue\n")
    code = main(["nightly", "--sources", str(tmp_path), "--raw", str(tmp_path / "raw")])
    assert code == 1
    assert capsys.readouterr().err == (
        f"whereabouts nightly: {tmp_path / 'force.yaml'}: key 'colour': unknown key "
        "(use description, layout, name, regimes)\n"
    )


def test_briefing_without_a_database_says_so(tmp_path, capsys):
    code = main(["briefing", "--month", "2026-10", "--db", str(tmp_path / "none.duckdb")])
    assert code == 1
    assert capsys.readouterr().err == (
        f"whereabouts briefing: {tmp_path / 'none.duckdb'}: no published database "
        "(run 'whereabouts nightly')\n"
    )


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
