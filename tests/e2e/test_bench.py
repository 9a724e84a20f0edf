"""The benchmark runs end to end at a small scale and reports every figure.

No timing is asserted: a test machine's speed says nothing about the pipeline. It takes a
minute or two (each nightly starts Prefect's temporary server).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

from benchmarks import nightly_profile

ROOT = Path(__file__).resolve().parents[2]
FIGURES = ("floor", "floor_files", "startup", "full", "ingest", "increment", "rebuild",
           "rebuild_full", "validation", "dfe_rules")  # fmt: skip


def test_quick_bench_reports_every_figure(tmp_path: Path) -> None:
    committed = [ROOT / "docs" / name for name in ("benchmarks.json", "benchmarks.md")]
    before = [p.stat().st_mtime_ns if p.exists() else None for p in committed]
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.bench", "--quick", "--out", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stderr[-3000:]

    report = json.loads((tmp_path / "bench.json").read_text(encoding="utf-8"))
    for name in FIGURES:
        figure = report["figures"][name]
        for key in ("seconds", "peak_rss_kib", "peak_rss_mib"):
            value = figure[key]
            assert isinstance(value, int | float) and value > 0, (name, key, value)
        assert isinstance(figure["pass"], bool)
        ratio = figure["seconds"] / report["figures"]["floor"]["seconds"]
        assert abs(figure["floor_ratio"] - ratio) < 0.01, (name, figure["floor_ratio"])
    full, startup = report["figures"]["full"], report["figures"]["startup"]["seconds"]
    beyond = (full["seconds"] - startup) / report["figures"]["floor"]["seconds"]
    assert abs(full["floor_ratio_after_startup"] - beyond) < 0.01
    manifest = json.loads((tmp_path / "raw" / "synth_manifest.json").read_text(encoding="utf-8"))
    assert report["episodes"] == manifest["sources"]["southbay"]["episodes"] > 0
    assert report["quick"] is True
    assert set(report["machine"]) >= {"platform", "cpu", "cores", "memory_gib", "python"}
    # --quick writes only to --out: the committed record stays the full-size run's.
    assert [p.stat().st_mtime_ns if p.exists() else None for p in committed] == before
    assert "| step | seconds | × floor | target |" in done.stdout
    full_row = r"^\| full nightly from empty \| [\d.]+ \| [\d.]+ \(-?[\d.]+ after start-up\) \|"
    assert re.search(full_row, done.stdout, re.M)
    # The nightly after the increment, and the rebuild measured like it, build incrementally.
    assert re.findall(r"^- (.+): incremental build \(new versions since", done.stdout, re.M) == [
        "increment nightly",
        "curated rebuild after the increment (incremental, as nightly builds it)",
    ]
    # The ingest alone reads what the full nightly read.
    ingest, full = report["figures"]["ingest"], report["figures"]["full"]
    assert f"rows: {ingest['rows_read']} read," in " ".join(full["output"])
    assert ingest["main_thread_cpu_seconds"] > 0 and ingest["longest_file_transaction_seconds"] > 0
    assert report["figures"]["rebuild"]["build"].startswith("incremental build (")
    assert report["figures"]["rebuild_full"]["build"].startswith("full build (full rebuild")
    # The floor loads every row, typed, from one CSV; the multi-file floor loads the same.
    floor, files = report["figures"]["floor"], report["figures"]["floor_files"]
    assert floor["rows"] == files["rows"] == report["rows"] == report["generate"]["one_csv"]["rows"]
    assert full["target_seconds"] == round(4 * floor["seconds"] + 15, 2)
    assert re.search(r"^- full nightly from empty: [\d.]+ s = [\d.]+ × floor; target ≤ 4 × "
                     r"floor \+ 15 s = [\d.]+ s: (pass|MISS); peak", done.stdout, re.M)  # fmt: skip
    # The profile times every step of the nightly, and the ingest, linkage and build inside.
    profile = report["profile"]
    assert list(profile["steps"]) == list(nightly_profile.STEPS)
    assert profile["rows_read"] == ingest["rows_read"]
    assert [label for _, _, label in nightly_profile.INGEST_PHASES] == sorted(
        profile["ingest_phases"], key=[p[2] for p in nightly_profile.INGEST_PHASES].index
    )
    linkage = profile["linkage_phases"]
    assert {"splink predict_within", "persons (all)", "working store's output"} <= set(linkage)
    # What no phase times is the step less link_records and the output: never negative.
    assert linkage[nightly_profile.LINKAGE_REST] >= 0
    assert {"episodes", "children", "persons"} <= set(profile["models"])
    assert "Inside the ingest (phases on three overlapping threads" in done.stdout
    # The increment is profiled too, on the same stores: only its file is read, and the
    # build is incremental (the copy and the rebuilt children's and persons' rows).
    increment = report["profile_increment"]
    assert list(increment["steps"]) == list(nightly_profile.STEPS)
    assert increment["rows_read"] == report["increment_rows"]
    assert {"copy the published file", "rebuild the touched children's rows",
            "rebuild the touched persons' rows"} <= set(increment["models"])  # fmt: skip
    assert "persons" not in increment["models"]
    assert "Where the increment's " in done.stdout
