"""The linkage benchmark: `python -m benchmarks.linkage [--quick] [--out DIR]`.

National scale: 500,000 synthetic identity records (police 380,000, council 120,000, with
pipelines.synth.identities' errors) linked from scratch with the saved model, then a night's
2,000 new records. Each step is a whole child process measured as benchmarks.bench measures
(benchmarks.process: wall time and peak RSS from os.wait4); the target is on the work the
child times, imports of the pipeline's own code excepted (splink's is inside: link_records
imports it).

1. setup (not a target): draw 502,000 records with person_records (seeded), hold 2,000 back
   at random (police and council in proportion), and store the rest in a fresh identity store
   through pipelines.identity.capture.store_identities, the nightly's path: raw text in,
   normalised as the nightly stores it; record ids are child ids under a fixed benchmark key,
   and the truth is written as `whereabouts synth` writes it (source, person_ref, true_person).
2. link: link_records from scratch with the truth (<= 150 s, peak <= 4 GiB); then the
   working store's output written as the nightly writes it (reported, not a target).
3. increment: the 2,000 held-back records (new children, and new records of children already
   stored) captured and linked as the nightly does (capture_identities, then link_identities:
   link_records and the working store's output), <= 20 s. Precision and recall are measured
   afterwards, outside the time, as a nightly runs without a truth file.

Where the seconds of link_records go (exact keys, splink's term frequencies and predictions,
clustering, quality) is timed inside the children by wrapping those functions. A missed
target is reported; only a crash makes the exit non-zero.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks import process
from benchmarks.process import ROOT, StepFailed, machine

SEED = 5
POLICE, COUNCIL, NEW = 380_000, 120_000, 2_000
QUICK_POLICE, QUICK_COUNCIL, QUICK_NEW = 3_800, 1_200, 200
SECONDS_TARGET = {"link": 150.0, "increment": 20.0}
MEMORY_TARGET_KIB = 4 * 1024 * 1024
LABELS = {"setup": "setup: draw the records, store them through capture (not a target)",
          "link": "link from scratch with the saved model (link_records, with the truth)",
          "increment": "a night's new records: capture, link, working store's output"}  # fmt: skip
# A fixed key (synthetic data only): the same record ids, so the same persons, every run.
BENCH_KEY = "5eed" * 16
OWNED = ("stores", "logs")


def _quality(rows: list[tuple[str, str, int, int, int]]) -> dict[str, Any]:
    """pipelines.identity.quality.pair_counts as precision and recall, overall and by
    source pair, with the pair counts behind them."""
    out: dict[str, Any] = {"source_pair": {}}
    for dimension, breakdown, both, predicted, actual in rows:
        figure = {"precision": round(both / predicted, 4) if predicted else None,
                  "recall": round(both / actual, 4) if actual else None,
                  "true_pairs_found": both, "pairs_predicted": predicted,
                  "true_pairs": actual}  # fmt: skip
        if dimension == "all":
            out["all"] = figure
        elif dimension == "source_pair":
            out["source_pair"][breakdown] = figure
    return out


def _timed(owner: Any, name: str, phases: dict[str, float], label: str) -> None:
    """Replace owner.name with a wrapper that adds its seconds to phases[label]."""
    inner = getattr(owner, name)

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        try:
            return inner(*args, **kwargs)
        finally:
            phases[label] = round(phases.get(label, 0.0) + time.perf_counter() - start, 2)

    setattr(owner, name, wrapper)


def _phases() -> dict[str, float]:
    """Time link_records' parts (they are looked up as module globals at call time)."""
    from splink.internals.linker_components.inference import LinkerInference
    from splink.internals.linker_components.table_management import LinkerTableManagement

    from pipelines.identity import linkage, persons
    from pipelines.ingest import working_store

    phases: dict[str, float] = {}
    for owner, name, label in (
        (linkage, "link_records", "link_records (all)"),
        (linkage, "_changed_records", "find changed records"),
        (linkage, "_refresh_exact_pairs", "exact keys"),
        (linkage, "_forget_changed", "forget changed records' pairs"),
        (linkage, "_score", "model scoring (all)"),
        (linkage, "create_model_input", "model input"),
        (LinkerTableManagement, "compute_tf_table", "term frequency tables"),
        (LinkerInference, "predict_within", "splink predict_within"),
        (LinkerInference, "predict_between", "splink predict_between"),
        (linkage, "_keep_scored", "keep links and queue"),
        (linkage, "assign_persons", "persons (all)"),
        (persons, "cluster", "clustering"),
        (linkage, "_apply_decisions", "reviewers' decisions"),
        (linkage, "_remember_scored", "remember what was scored"),
        (linkage, "write_quality", "quality"),
        (linkage, "summary", "counts for the summary"),
        (working_store, "replace_linkage_output", "working store's output"),
    ):
        _timed(owner, name, phases, label)
    return phases


def child_setup(store: str, increment: str, truth: str, police: int, council: int, new: int,
                seed: int) -> dict:  # fmt: skip
    """Draw the records, hold `new` back for the increment, store the rest (see above)."""
    import numpy as np
    import pandas as pd
    import pyarrow as pa

    from pipelines.identity.capture import store_identities
    from pipelines.identity.store import open_identity_store
    from pipelines.ingest.identities import CAPTURED
    from pipelines.ingest.pseudonym import child_ids, key_file
    from pipelines.synth.identities import HEADER, POLICE_SOURCES, person_records

    start = time.perf_counter()
    new_police = round(new * police / (police + council))
    records, truth_frame = person_records(police + new_police, council + new - new_police, seed)
    drawn = time.perf_counter() - start
    key = key_file(create=False).key
    for source, part in records.groupby("source"):
        records.loc[part.index, "record_id"] = child_ids(key, str(source), part["person_ref"])
    # Dates as the files write them: ISO, and dd/mm/yyyy in the SSDA903 header.
    dob = pd.to_datetime(records["date_of_birth"])
    text = dob.dt.strftime("%Y-%m-%d").where(
        records["source"] != HEADER, dob.dt.strftime("%d/%m/%Y")
    )
    records["date_of_birth"] = text.astype(object).where(dob.notna(), None)
    police_rows = np.flatnonzero(records["source"].isin(POLICE_SOURCES))
    council_rows = np.setdiff1d(np.arange(len(records)), police_rows)
    rng = np.random.default_rng(seed)
    held = np.zeros(len(records), bool)
    held[rng.choice(police_rows, new_police, replace=False)] = True
    held[rng.choice(council_rows, new - new_police, replace=False)] = True
    table = pa.Table.from_pandas(records[list(CAPTURED)].astype(object), preserve_index=False)
    table = table.cast(pa.schema([(c, pa.string()) for c in CAPTURED]))
    import pyarrow.parquet as pq

    pq.write_table(table.filter(pa.array(held)), increment)
    frame = pd.DataFrame({"source": records["source"], "person_ref": records["person_ref"],
                          "true_person": truth_frame["true_person"]})  # fmt: skip
    frame.to_csv(truth, index=False)
    loading = time.perf_counter()
    con = open_identity_store(Path(store))
    try:
        stored = store_identities(con, [table.filter(pa.array(~held))], "setup",
                                  pd.Timestamp("2026-11-01 23:30").to_pydatetime())  # fmt: skip
    finally:
        con.close()
    seconds = time.perf_counter() - start
    base = set(truth_frame["true_person"][~held])
    incoming = truth_frame["true_person"][held]
    return {"seconds": round(seconds, 2), "draw_seconds": round(drawn, 2),
            "store_seconds": round(time.perf_counter() - loading, 2),
            "records": stored, "police": int((~held)[police_rows].sum()),
            "council": int((~held)[council_rows].sum()), "true_persons": len(base),
            "new_records": int(held.sum()),
            "new_records_of_stored_children": int(incoming.isin(base).sum()),
            "new_children": int(incoming[~incoming.isin(base)].nunique())}  # fmt: skip


def _truth(truth: str) -> Any:
    from pipelines.identity.quality import truth_from_file
    from pipelines.ingest.pseudonym import key_file

    return truth_from_file(Path(truth), key_file(create=False).key)


def _summary(con: Any, run_id: str, truth_frame: Any, now: Any) -> dict:
    from pipelines.identity.linkage import summary
    from pipelines.identity.quality import pair_counts

    done = summary(con, run_id)
    return {"records": done.records, "records_scored": done.scored, "persons": done.persons,
            "links": done.links, "review_backlog": done.queued,
            "quality": _quality(pair_counts(con, truth_frame, now))}  # fmt: skip


def child_link(store: str, work_db: str, truth: str) -> dict:
    """link_records from scratch with the truth, timed; then the working store's output."""
    from datetime import datetime

    from pipelines.db import private_files
    from pipelines.identity import linkage
    from pipelines.identity.store import open_identity_store
    from pipelines.ingest import working_store
    from pipelines.ingest.pseudonym import key_file
    from pipelines.orchestration.identities import LINKAGE_OUTPUT

    # Called through their modules: _phases wraps the module globals, not names bound here.
    key, truth_frame, phases = key_file(create=False), _truth(truth), _phases()
    now = datetime(2026, 11, 1, 23, 30)
    with private_files():
        con = open_identity_store(Path(store))
        start = time.perf_counter()
        linkage.link_records(con, key.key, "bench-link", None, now, truth_frame)
        seconds = time.perf_counter() - start
        writing = time.perf_counter()
        output = {name: con.sql(sql).to_arrow_table() for name, sql in LINKAGE_OUTPUT.items()}
        work = working_store.open_work(Path(work_db), key=key)
        working_store.replace_linkage_output(work, output)
        work.close()
        written = time.perf_counter() - writing
        counts = _summary(con, "bench-link", truth_frame, now)
        con.close()
    return {"seconds": round(seconds, 2), "phases": phases,
            "working_store_output_seconds": round(written, 2)} | counts  # fmt: skip


def child_increment(store: str, work_db: str, increment: str, truth: str) -> dict:
    """The night's new records captured and linked as the nightly's tasks do, timed."""
    from datetime import datetime

    import pyarrow.parquet as pq

    from pipelines.identity.store import open_identity_store
    from pipelines.orchestration.identities import Captured, capture_identities, link_identities

    truth_frame, phases = _truth(truth), _phases()
    captured = Captured([pq.read_table(increment)], [("bench/increment.csv", "bench")])
    start = time.perf_counter()
    written = capture_identities(Path(store), captured, "bench-increment")
    lines = link_identities(Path(store), Path(work_db), "bench-increment")
    seconds = time.perf_counter() - start
    con = open_identity_store(Path(store))
    counts = _summary(con, "bench-increment", truth_frame, datetime.now())
    con.close()
    return {"seconds": round(seconds, 2), "phases": phases, "captured": written,
            "nightly_lines": lines} | counts  # fmt: skip


def run(out: Path, quick: bool) -> dict:
    for part in OWNED:
        shutil.rmtree(out / part, ignore_errors=True)
    (stores := out / "stores").mkdir(parents=True)
    key = process.key_outside_project(out)
    key.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    key.write_text(BENCH_KEY)
    key.chmod(0o600)
    env = dict(os.environ) | {"WHEREABOUTS_KEY_FILE": str(key)}
    police, council, new = (
        (QUICK_POLICE, QUICK_COUNCIL, QUICK_NEW) if quick else (POLICE, COUNCIL, NEW)
    )
    store, work_db = stores / "bench-identity.duckdb", stores / "bench-work.duckdb"
    files = {"store": str(store), "truth": str(stores / "linkage_truth.csv")}
    increment = str(stores / "increment.parquet")

    def child(name: str, args: dict) -> dict:
        return process.measure_child("benchmarks.linkage", name, args, out, env)

    try:
        setup = child("setup", files | {"increment": increment, "police": police,
                                        "council": council, "new": new, "seed": SEED})  # fmt: skip
        figures = {"link": child("link", files | {"work_db": str(work_db)}),
                   "increment": child("increment", files | {"work_db": str(work_db),
                                                            "increment": increment})}  # fmt: skip
    finally:
        shutil.rmtree(key.parent, ignore_errors=True)  # the fixed key is the bench's alone
    for name, figure in figures.items():
        misses = [] if figure["seconds"] <= SECONDS_TARGET[name] else ["time"]
        misses += ["memory"] if figure["peak_rss_kib"] > MEMORY_TARGET_KIB else []
        figure |= {"target_seconds": SECONDS_TARGET[name], "pass": not misses, "misses": misses}
    return {"machine": machine(), "quick": quick, "seed": SEED, "police": police,
            "council": council, "new": new, "setup": setup,
            "memory_target_mib": MEMORY_TARGET_KIB // 1024, "figures": figures,
            "all_pass": all(f["pass"] for f in figures.values())}  # fmt: skip


def _pr(quality: dict) -> str:
    return f"{quality['precision']} / {quality['recall']}"


def _brief(report: dict) -> str:
    """A run's headline figures in a sentence."""
    m, f = report["machine"], report["figures"]
    link, inc = f["link"], f["increment"]
    return (
        f"{m['date']} (load average {m['load_average']}): link {link['seconds']:g} s "
        f"(CPU {link.get('cpu_seconds', '?')} s, peak {link['peak_rss_mib']:,.0f} MiB), "
        f"increment {inc['seconds']:g} s (CPU {inc.get('cpu_seconds', '?')} s, peak "
        f"{inc['peak_rss_mib']:,.0f} MiB); precision / recall {_pr(link['quality']['all'])}"
    )


def markdown(report: dict, previous: dict | None = None) -> str:
    """The report as the "Linkage at national scale" section of docs/benchmarks.md, with the
    run before it (the committed one) in a line, since the machine's speed varies."""
    m, s, f = report["machine"], report["setup"], report["figures"]
    link = f["link"]
    lines = [
        "## Linkage at national scale",
        "",
        f"`python -m benchmarks.linkage`: {s['records']:,} identity records (police "
        f"{s['police']:,}, council {s['council']:,}; seed {report['seed']}; "
        f"{s['true_persons']:,} children) linked from scratch with schemas/linkage/model.json, "
        f"then {s['new_records']:,} new records ({s['new_records_of_stored_children']:,} of "
        f"children already stored, {s['new_children']:,} new children).",
        f"Taken {m['date']} on {m['platform']}, {m['cpu']}, {m['cores']} cores, "
        f"{m['memory_gib']} GiB (load average at the end {m['load_average']}); Python "
        f"{m['python']}, DuckDB {m['duckdb']}. Drawing and storing the records took "
        f"{s['seconds']:g} s (not a target).",
        "",
        f"| step | seconds | target | process CPU s | peak MiB (≤ {report['memory_target_mib']}) "
        "| result |",
        "|---|---:|---|---:|---:|---|",
    ]
    for name, figure in f.items():
        result = "pass" if figure["pass"] else "miss: " + ", ".join(figure["misses"])
        lines.append(
            f"| {LABELS[name]} | {figure['seconds']:g} (process {figure['wall_seconds']:g}) | "
            f"≤ {figure['target_seconds']:g} | {figure['cpu_seconds']:g} | "
            f"{figure['peak_rss_mib']:,.0f} | {result} |"
        )
    lines += ["", "| after | records | persons | links | review backlog | precision / recall |",
              "|---|---:|---:|---:|---:|---|"]  # fmt: skip
    for name in f:
        x = f[name]
        lines.append(f"| {name} | {x['records']:,} | {x['persons']:,} | {x['links']:,} | "
                     f"{x['review_backlog']:,} | {_pr(x['quality']['all'])} |")  # fmt: skip
    lines += ["", "Precision / recall of pairs by source pair, after the link from scratch:", ""]
    for pair, q in sorted(link["quality"]["source_pair"].items()):
        lines.append(f"- {pair}: {_pr(q)} ({q['true_pairs_found']:,} of "
                     f"{q['pairs_predicted']:,} predicted, {q['true_pairs']:,} true)")  # fmt: skip
    for name in f:
        parts = ", ".join(f"{k} {v:g} s" for k, v in f[name]["phases"].items())
        lines.append(f"\nWhere the {name}'s seconds went: {parts}.")
    lines.append(f"\nWriting the working store's output after the link from scratch took "
                 f"{link['working_store_output_seconds']:g} s.")  # fmt: skip
    if previous and not previous.get("quick"):
        lines.append(f"\nThe run before this one: {_brief(previous)}.")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.linkage",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--out", type=Path, default=ROOT / "reports" / "bench-linkage")
    parser.add_argument(
        "--quick", action="store_true", help="5,000 records and 200 new, only to --out (tests)"
    )
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)  # a measured process
    args = parser.parse_args(argv)
    if args.child:
        tasks: dict[str, Callable[..., dict]] = {
            "setup": child_setup, "link": child_link, "increment": child_increment}  # fmt: skip
        return process.run_child(tasks, *args.child)
    (out := args.out.resolve()).mkdir(parents=True, exist_ok=True)
    try:
        report = run(out, args.quick)
    except StepFailed as exc:
        print(f"bench: {exc}", file=sys.stderr)
        return 1
    committed = ROOT / "docs" / "benchmarks-linkage.json"
    previous = json.loads(committed.read_text(encoding="utf-8")) if committed.exists() else None
    text, section = json.dumps(report, indent=2) + "\n", markdown(report, previous)
    (out / "linkage.json").write_text(text, encoding="utf-8")
    if not args.quick:  # the committed record is of the full-size run only
        committed.write_text(text, encoding="utf-8")
        process.write_section(ROOT / "docs" / "benchmarks.md", "benchmarks.linkage", section)
    print(section)
    return 0


if __name__ == "__main__":
    sys.exit(main())
