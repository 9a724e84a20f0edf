"""The briefing command refuses, in one line and before any flow starts, a month it cannot
report on: one not over by the data's as-of date, or one with no episodes."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from conftest import build_curated, episode

from pipelines.cli.main import main


def curated(tmp_path: Path) -> Path:
    rows = [episode(reported_at="2024-05-01 20:00", returned_at="2024-05-02 08:00")]
    build_curated(tmp_path, rows, as_of=date(2024, 5, 20)).close()
    return tmp_path / "curated.duckdb"


def test_a_month_the_data_does_not_cover_is_refused_in_one_line(tmp_path, capsys):
    db = curated(tmp_path)
    code = main(["briefing", "--month", "2024-05", "--db", str(db), "--out", str(tmp_path)])
    assert code == 1
    assert capsys.readouterr().err == (
        f"whereabouts briefing: 2024-05 is not over (today {date.today().isoformat()}, "
        "data as of 2024-05-20): a briefing now would be partial; use --allow-partial for a "
        "provisional one\n"
    )
    assert list(tmp_path.glob("*.pdf")) == []


def test_a_month_with_no_episodes_is_refused_even_as_provisional(tmp_path, capsys):
    db = curated(tmp_path)
    argv = ["briefing", "--month", "2024-03", "--db", str(db), "--out", str(tmp_path)]
    assert main([*argv, "--allow-partial"]) == 1
    assert capsys.readouterr().err == (
        "whereabouts briefing: no episodes reported in 2024-03: there is nothing to brief on\n"
    )
