"""Progress bars: drawn on a terminal (or when asked), never into logs."""

from __future__ import annotations

import pytest

from pipelines import progress


def test_nothing_is_drawn_when_stderr_is_not_a_terminal(capsys, monkeypatch):
    monkeypatch.delenv("WHEREABOUTS_PROGRESS", raising=False)
    assert list(progress.track([1, 2, 3], "files read")) == [1, 2, 3]
    with progress.counting("rows checked", 10) as bar:
        bar.advance(4)
        bar.reach(10)
    assert bar.done == 10
    assert capsys.readouterr() == ("", "")


def test_never_silences_it(capsys, monkeypatch):
    monkeypatch.setenv("WHEREABOUTS_PROGRESS", "never")
    assert list(progress.track("ab", "models built")) == ["a", "b"]
    assert capsys.readouterr() == ("", "")


def test_bars_inside_bars_share_one_display_and_end_with_it(capsys, monkeypatch):
    monkeypatch.setenv("WHEREABOUTS_PROGRESS", "always")
    for _ in progress.track(range(2), "files ingested"):
        with progress.counting("rows checked", 5) as bar:
            bar.advance(5)
    err = capsys.readouterr().err
    assert "files ingested" in err and "2/2" in err
    assert "rows checked" in err and "5/5" in err
    assert progress._display is None and progress._running == 0


@pytest.mark.parametrize(("setting", "expected"), [("always", True), ("never", False)])
def test_the_setting_overrides_the_terminal(monkeypatch, setting, expected):
    monkeypatch.setenv("WHEREABOUTS_PROGRESS", setting)
    assert progress.shown() is expected
