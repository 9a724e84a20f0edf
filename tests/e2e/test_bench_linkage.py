"""The linkage benchmark runs end to end at a small scale and reports every figure.

No timing is asserted (a test machine's speed says nothing about the pipeline); the counts
are, since the records, the key and the model are fixed. About half a minute.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_quick_linkage_bench_reports_every_figure(tmp_path: Path) -> None:
    committed = [ROOT / "docs" / name for name in ("benchmarks-linkage.json", "benchmarks.md")]
    before = [p.stat().st_mtime_ns if p.exists() else None for p in committed]
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.linkage", "--quick", "--out", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]

    report = json.loads((tmp_path / "linkage.json").read_text(encoding="utf-8"))
    assert report["quick"] is True and report["seed"] == 5
    setup = report["setup"]
    assert {k: setup[k] for k in ("records", "police", "council", "true_persons")} == {
        "records": 5000,
        "police": 3800,
        "council": 1200,
        "true_persons": 3187,
    }
    assert (setup["new_records"], setup["new_records_of_stored_children"]) == (200, 119)
    assert setup["new_children"] == 80
    link, increment = report["figures"]["link"], report["figures"]["increment"]
    assert (link["records"], link["records_scored"], link["persons"]) == (5000, 5000, 3206)
    assert (increment["captured"], increment["records"], increment["records_scored"]) == (
        200,
        5200,
        200,
    )
    assert increment["persons"] == 3275
    assert increment["nightly_lines"][0].startswith("linkage: 5200 records, 3275 persons, ")
    for name, target in (("link", 150.0), ("increment", 20.0)):
        figure = report["figures"][name]
        for key in ("seconds", "wall_seconds", "cpu_seconds", "peak_rss_kib", "peak_rss_mib"):
            assert isinstance(figure[key], int | float) and figure[key] > 0, (name, key)
        assert figure["target_seconds"] == target and isinstance(figure["pass"], bool)
        assert figure["phases"]["model scoring (all)"] > 0
        everything = figure["quality"]["all"]
        assert 0 < everything["precision"] <= 1 and 0 < everything["recall"] <= 1
        assert "riverton & riverton_children" in figure["quality"]["source_pair"]
    assert report["all_pass"] == (link["pass"] and increment["pass"])
    assert set(report["machine"]) >= {"platform", "cpu", "cores", "memory_gib", "load_average"}
    # --quick writes only to --out: the committed record stays the full-size run's.
    assert [p.stat().st_mtime_ns if p.exists() else None for p in committed] == before
    assert "| step | seconds | target | process CPU s | peak MiB (≤ 4096) | result |" in done.stdout
    assert "| link | 5,000 | 3,206 | " in done.stdout
    assert "| increment | 5,200 | 3,275 | " in done.stdout
