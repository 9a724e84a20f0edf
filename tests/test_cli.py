"""The command line: every command has --help; failures are one plain line."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from pipelines.cli.main import main
from pipelines.errors import MissingInput, WhereaboutsError

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


def test_debug_shows_the_traceback_of_a_known_failure(tmp_path):
    with pytest.raises(MissingInput, match="no published database"):
        main(["--debug", "briefing", "--month", "2026-10", "--db", str(tmp_path / "no.duckdb")])


def test_a_bug_is_not_dressed_as_a_known_failure(tmp_path, capsys):
    # Exporting into a path that is a file fails in the file system, not in a rule of ours:
    # the traceback must reach the user rather than one line that hides where it came from.
    (tmp_path / "c.duckdb").write_bytes(b"")
    (tmp_path / "out").write_text("a file, not a folder")
    with pytest.raises(OSError) as raised:
        main(["export", "--format", "csv", "--out", str(tmp_path / "out"),
              "--db", str(tmp_path / "c.duckdb")])  # fmt: skip
    assert not isinstance(raised.value, WhereaboutsError)
    assert capsys.readouterr().err == ""


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
