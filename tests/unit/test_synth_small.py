"""The synthetic generator at a small scale: the same seed gives the same bytes, its layouts
agree with the source declarations, and bad arguments are refused. (The full-scale checks of
what it writes are in tests/e2e/test_synth.py.)"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
import yaml
from conftest import synth_standard_codes

from pipelines.synth import council_files
from pipelines.synth import generator as synth
from pipelines.synth import layouts as sl

UNTIL = "2025-06"
DECLARATIONS = Path(__file__).resolve().parents[2] / "schemas" / "sources"
STANDARD_CODES = synth_standard_codes()
DATETIMES = sl.DATETIME_FIELDS


def _declaration(source: str) -> dict:
    return yaml.safe_load((DECLARATIONS / f"{source}.yaml").read_text())


def test_same_seed_same_bytes(tmp_path: Path) -> None:
    a, b, c = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    synth.generate(a, seed=7, scale=0.3, until="2024-02")
    synth.generate(b, seed=7, scale=0.3, until="2024-02")
    synth.generate(c, seed=8, scale=0.3, until="2024-02", sources=["westvale"])
    files = sorted(p.relative_to(a) for p in a.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(b) for p in b.rglob("*") if p.is_file())
    assert any(f.suffix == ".xlsx" for f in files)
    for name in files:
        assert (a / name).read_bytes() == (b / name).read_bytes(), name
    assert (a / "westvale").exists() and not (c / "eastmoor").exists()
    history = "westvale/westvale_history_2024-02-22.csv"
    assert (a / history).read_bytes() != (c / history).read_bytes()


def test_layouts_agree_with_declarations() -> None:
    for source, layout in sl.POLICE_LAYOUTS.items():
        declared = _declaration(source)
        fields = {f: name for f, name in layout.columns if f in STANDARD_CODES or f in DATETIMES}
        fields |= {f: n for f, n in layout.columns if f in ("episode_ref", "person_ref")}
        fields |= {f: n for f, n in layout.columns if f == "date_of_birth"}
        fields |= {f: n for f, n in layout.columns if f in sl.IDENTITY_TEXT}
        if declared["layout"] == "standard":
            standard = (*STANDARD_CODES, *DATETIMES, "episode_ref", "person_ref", "date_of_birth")
            assert fields == {field: field for field in (*standard, *sl.IDENTITY_TEXT)}
            continue
        assert declared["layout"]["format"] == layout.fmt
        assert fields == declared["layout"]["columns"]
        for field, labels in layout.labels.items():
            mapping = declared["layout"]["codes"][field]
            assert [mapping[str(label)] for label in labels] == list(STANDARD_CODES[field])
        assert synth.CATEGORY_STYLE[source] is None or "category" in layout.labels
        two_tier = declared.get("regimes", [{"from": dt.date(2013, 4, 1)}])[0]["from"]
        assert synth.TWO_TIER_FROM.get(source, synth.NATIONAL_TWO_TIER) == str(two_tier)
    assert _declaration("eastmoor")["layout"]["sheet"] == sl.EASTMOOR.sheet
    assert _declaration("riverton")["layout"] == "ssda903_missing"
    council = {"riverton": "ssda903_missing"} | {
        "riverton_children": "la_children",
        "riverton_header": "ssda903_header",
        "riverton_cme": "cme",
    }
    for source, layout_name in council.items():
        assert _declaration(source)["layout"] == layout_name
        assert _declaration(source)["agency"] == "riverton"
    assert set(council) == {"riverton", *council_files.IDENTITY_SOURCES}


def test_bad_arguments(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="YYYY-MM"):
        synth.generate(tmp_path, until="2024-13")
    with pytest.raises(ValueError, match="2012-04"):
        synth.generate(tmp_path, until="2012-03")
    with pytest.raises(ValueError, match="unknown sources"):
        synth.generate(tmp_path, until=UNTIL, sources=["atlantis"])
    small = synth.generate(tmp_path / "s", scale=0.5, until=UNTIL, sources=["westvale"])
    assert 300 < small["sources"]["westvale"]["episodes"] < 450
