"""The command line: every command has --help; failures are one plain line."""

from __future__ import annotations

import pytest

from pipelines.cli.main import main
from pipelines.errors import MissingInput, WhereaboutsError

COMMANDS = ["demo", "nightly", "briefing", "synth", "serve", "export", "lookup", "link"]


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
        "(use agency, description, layout, name, regimes)\n"
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


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        pytest.param(["nightly"], None, id="nightly_default_follows_the_working_store"),
        pytest.param(["nightly", "--identity-db", "/x/id.duckdb"], "/x/id.duckdb", id="nightly"),
        pytest.param(["demo", "--identity-db", "/x/id.duckdb"], "/x/id.duckdb", id="demo"),
    ],
)
def test_identity_db_option(argv, expected):
    from pipelines.cli.parser import parser

    got = parser().parse_args(argv).identity_db
    assert (str(got) if got else None) == expected


@pytest.mark.parametrize(
    ("work_db", "identity_db"),
    [
        ("data/work/whereabouts-work.duckdb", "data/work/whereabouts-identity.duckdb"),
        ("/tmp/trial-work.duckdb", "/tmp/trial-identity.duckdb"),
        ("/srv/w/work.duckdb", "/srv/w/work-identity.duckdb"),
    ],
)
def test_the_identity_store_follows_the_working_store(work_db, identity_db):
    from pathlib import Path

    from pipelines.identity.store import identity_db_for

    assert identity_db_for(Path(work_db)) == Path(identity_db)


def test_version_is_the_installed_distributions(capsys):
    from importlib.metadata import version

    with pytest.raises(SystemExit) as stop:
        main(["--version"])
    assert stop.value.code == 0
    assert capsys.readouterr().out == f"whereabouts {version('whereabouts')}\n"


def test_help_shows_each_options_default(capsys):
    with pytest.raises(SystemExit):
        main(["nightly", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "--raw RAW raw folder (default: data/raw)" in text
    assert "--reports REPORTS validation reports folder (default: reports/validation)" in text
    # Options with no default, or whose help already gives it, are left as they are.
    assert (
        "--full-rebuild rebuild every curated table from all history, even when only new "
        "files arrived --force" in text
    )
    assert "(default today)" in text and "(default today) (default" not in text


PROFILES = '[profiles.ephemeral]\nPREFECT_SERVER_ALLOW_EPHEMERAL_MODE = "true"\n\n' + (
    '[profiles.local]\nPREFECT_API_URL = "http://127.0.0.1:4200/api"\n'
)
CONFIGURED_API = {
    "none_configured": ({}, None, ""),
    "from_the_environment": ({"PREFECT_API_URL": "http://h:1/api"}, None, "http://h:1/api"),
    "active_profile_without_one": ({}, 'active = "ephemeral"\n' + PROFILES, ""),
    "active_profile_with_one": ({}, 'active = "local"\n' + PROFILES, "http://127.0.0.1:4200/api"),
    "profile_chosen_by_environment": ({"PREFECT_PROFILE": "local"}, PROFILES, "http://127.0.0.1:4200/api"),
    "environment_before_profile": (
        {"PREFECT_API_URL": "http://h:1/api"}, 'active = "local"\n' + PROFILES, "http://h:1/api"
    ),
    "unreadable_profiles": ({}, "active = [", ""),
}  # fmt: skip


@pytest.mark.parametrize(("env", "profiles", "expected"), CONFIGURED_API.values(),
                         ids=CONFIGURED_API.keys())  # fmt: skip
def test_configured_api(tmp_path, env, profiles, expected):
    from pipelines.orchestration.prefect_api import configured_api

    if profiles is not None:
        (tmp_path / "profiles.toml").write_text(profiles)
    assert configured_api({"PREFECT_HOME": str(tmp_path), **env}) == expected
