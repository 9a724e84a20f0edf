"""Riverton Council's identity files as pipelines.synth writes them, with the columns README.md
gives their layouts ("The standard extract layout"), and the truth file naming the person
behind every source's record (written beside the raw folder, never inside it)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd

from pipelines.synth.agencies import Plan, loaded_only
from pipelines.synth.council_records import CME_COLUMNS, HEADER_COLUMNS, LA_CHILDREN_COLUMNS

# The council's identity files, written with riverton: no episodes, only who its children are.
IDENTITY_SOURCES = ("riverton_children", "riverton_header", "riverton_cme")
# Who is behind every record: beside the raw folder (<out>/../), never inside it.
TRUTH_FILE = "linkage_truth.csv"


def _iso(days: pd.Series) -> pd.Series:
    """Dates as YYYY-MM-DD text; a negative day or a missing date is blank."""
    values = pd.to_datetime(days, errors="coerce") if days.dtype.kind == "M" else None
    if values is None:
        values = pd.Series(
            np.where(days.to_numpy() >= 0, days.to_numpy(), 0).astype("datetime64[D]"),
            index=days.index,
        ).where(days >= 0)
    return values.dt.strftime("%Y-%m-%d")


def write(
    plan: Plan, out_dir: Path, last_day: dt.date, loaded: dict[str, np.ndarray]
) -> dict[str, dict]:
    """Write the council's identity files under out_dir/<source>/ (where riverton is among
    the sources) and the truth beside out_dir, cut to the children the files of `loaded`
    load; return the manifest entries (every row loads: no defects are planted)."""
    truth = loaded_only(plan, loaded).truth
    write_truth(truth, out_dir.parent / TRUTH_FILE)
    if "riverton" not in loaded:
        return {}
    stamp = last_day.isoformat()
    entries: dict[str, dict] = {}
    children = plan.la_children.copy()
    # A police reference the council noted is one a force's files carry (a child whose
    # every row is quarantined is no record to point at).
    children.loc[~children["police_ref"].isin(truth["person_ref"]), "police_ref"] = None
    children["date_of_birth"] = _iso(children["date_of_birth"])
    files = {"riverton_children": {f"riverton_children_{stamp}.csv": children}}
    head = plan.header.copy()
    head["DOB"] = pd.Series(head["DOB"].to_numpy().astype("datetime64[D]")).dt.strftime("%d/%m/%Y")
    files["riverton_header"] = {
        f"header_{y}_{(y + 1) % 100:02d}.csv": head[head["year"] == y]
        for y in sorted(set(head["year"].tolist()))
    }
    register = plan.cme.copy()
    for c in ("date_of_birth", "off_roll_on", "resolved_on"):
        register[c] = _iso(register[c])
    files["riverton_cme"] = {f"riverton_cme_{stamp}.csv": register}
    layouts = {"riverton_children": "la_children", "riverton_header": "ssda903_header"}
    columns = {"riverton_children": LA_CHILDREN_COLUMNS, "riverton_header": HEADER_COLUMNS}
    for source, named in files.items():
        folder = out_dir / source
        folder.mkdir(parents=True, exist_ok=True)
        entry: dict = {"layout": layouts.get(source, "cme"), "format": "csv", "files": {}}
        for name, frame in named.items():
            frame[list(columns.get(source, CME_COLUMNS))].to_csv(
                folder / name, index=False, lineterminator="\n"
            )
            n = len(frame)
            entry["files"][name] = {"rows": n, "loaded": n, "quarantined": 0, "out_of_scope": 0}
        entry["episodes"] = 0
        entry["children"] = int(pd.concat(named.values())["person"].nunique()) if named else 0
        entries[source] = entry
    return entries


def write_truth(truth: pd.DataFrame, path: Path) -> None:
    """The truth file: source, person_ref, true_person, one row per source record."""
    path.parent.mkdir(parents=True, exist_ok=True)
    truth[["source", "person_ref", "true_person"]].to_csv(path, index=False, lineterminator="\n")
