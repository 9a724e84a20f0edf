"""The command line: every command has --help; failures are one plain line."""

from __future__ import annotations

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
