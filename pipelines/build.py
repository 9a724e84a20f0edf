"""Build the curated database from the working store with the SQL models, then publish it.

The database is built as a new file beside the published one and renamed over it only
after the curated suite passes, so analysts connected read-only keep a consistent version
and a run that fails or is killed at any point leaves the last good database whole.
"""

from __future__ import annotations

import os
from datetime import date
from pathlib import Path

import pandas as pd
import yaml

from pipelines import settings
from pipelines.contracts import load_contract
from pipelines.sources import Source
from pipelines.store import connect

# Modelling order: staging, then intermediate steps (kept out of the published file),
# then the curated tables analysts query.
STEPS = (
    "stg_episode_versions",
    "int_episodes_deduplicated",
    "int_episodes_classified",
    "int_episodes_sequenced",
)


# The curated tables, each after the tables it reads.
CURATED = (
    "episodes",
    "children",
    "repeat_missing",
    "at_risk_children",
    "monthly_summary",
    "rhi_compliance",
    "cohort_recurrence",
    "findings",
    "quarantine",
    "ingest_files",
    "runs",
)


def classification_settings() -> dict:
    return yaml.safe_load(settings.CLASSIFICATION_FILE.read_text(encoding="utf-8"))["settings"]


def regime_table(sources: dict[str, Source]) -> pd.DataFrame:
    """Each police source's regime changes: its own declaration, else the national dates."""
    national = classification_settings()["national_regimes"]
    rows = []
    for source in sources.values():
        if source.is_ssda903:
            continue
        if source.regimes is not None:
            rows += [(source.name, c.starts, c.regime) for c in source.regimes]
        else:
            rows += [
                (source.name, date.fromisoformat(str(n["from"])), n["regime"]) for n in national
            ]
    frame = pd.DataFrame(rows, columns=["source", "starts", "regime"])
    frame["starts"] = pd.to_datetime(frame["starts"])
    return frame


def model_sql(name: str) -> str:
    return (settings.SQL_DIR / f"{name}.sql").read_text(encoding="utf-8")


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def comment_statements(table: str) -> list[str]:
    """COMMENT ON statements from a table's contract (the data dictionary, in the database)."""
    contract = load_contract(table)
    statements = [
        f"comment on table {table} is {_quote(contract.grain + '. ' + contract.description)}"
    ]
    for column in contract.columns:
        statements.append(
            f"comment on column {table}.{column.name} is {_quote(column.description)}"
        )
    return statements


def build(work_db: Path, target: Path, sources: dict[str, Source], as_of: date) -> Path:
    """Run every model into a new database file at `target` and return its path."""
    discard(target)
    con = connect(target, storage_compatibility_version=settings.STORAGE_COMPATIBILITY_VERSION)
    built = False
    try:
        con.execute(f"attach {_quote(str(work_db))} as work (read_only)")
        grades = classification_settings()["single_absent_grades"]
        variables = {
            "as_of": f"date {_quote(as_of.isoformat())}",
            "single_absent_grades": "[" + ", ".join(_quote(g) for g in grades) + "]",
            "repeat_episodes": str(settings.REPEAT_EPISODES),
            "repeat_window_days": str(settings.REPEAT_WINDOW_DAYS),
            "rhi_within_hours": str(settings.RHI_WITHIN_HOURS),
            "at_risk_lookback_days": str(settings.AT_RISK_LOOKBACK_DAYS),
        }
        for name, value in variables.items():
            con.execute(f"set variable {name} = {value}")
        declared = pd.DataFrame(
            [(s.name, s.kind) for s in sources.values()], columns=["source", "layout"]
        )
        con.register("source_declarations", declared)
        con.register("source_regimes", regime_table(sources))
        for step in STEPS:
            # Intermediate steps are views folded into `episodes`, the one wide table every
            # other curated table reads: five million wide rows are written once, not twice.
            con.execute(f"create temp view {step} as {model_sql(step)}")
        for table in CURATED:
            con.execute(f"create table main.{table} as {model_sql(table)}")
            for statement in comment_statements(table):
                con.execute(statement)
        con.execute("detach work")
        con.execute("checkpoint")
        built = True
    finally:
        con.close()
        if not built:  # a half-built file is never left for anyone to open
            discard(target)
    target.chmod(0o640)
    return target


def discard(target: Path) -> None:
    """Remove a database file and its write-ahead log."""
    for path in (target, target.with_name(target.name + ".wal")):
        path.unlink(missing_ok=True)


def building_path(published: Path, run_id: str) -> Path:
    """Where a run builds its new file: beside the published one, so the rename is atomic."""
    return published.with_name(f".{published.name}.building-{run_id}")


def clear_abandoned(published: Path) -> None:
    """Remove files left by runs that were killed mid-build (the run lock is held)."""
    for path in published.parent.glob(f".{published.name}.building-*"):
        path.unlink(missing_ok=True)


def publish(built: Path, published: Path) -> None:
    """Rename the new database over the published one (atomic on one filesystem)."""
    built.chmod(0o640)
    os.replace(built, published)
