"""Build the curated database from the working store with the SQL models, then publish it.

The database is built as a new file beside the published one and renamed over it only
after the curated suite passes, so analysts connected read-only keep a consistent version
and a run that fails or is killed at any point leaves the last good database whole.

A night whose files only added to the working store builds incrementally: it copies the
published file and recomputes the episodes (and repeat rows) of the children with new
versions, from their whole history; then the rows of `children` of those children and of the
children with an episode the run date's move brings into or out of the last 12 months; then
the person rows (persons, person_rhi, person_repeat, agency_reconciliation) of their persons,
of the persons whose links changed what their rows say and of the persons the move touches
likewise; and every other table whole. Anything that could change other
children's rows (the models, settings or declarations; a replaced file) makes the build
full. Both paths give the same tables (tests/sql/test_incremental.py).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import duckdb
import pandas as pd

from pipelines import settings
from pipelines.db import (
    DUCKDB_CONFIG,
    SHARED_FILE_MODE,
    connect_curated,
    private_files,
    shared_folder,
)
from pipelines.progress import track
from pipelines.quality.contracts import load_contract
from pipelines.quality.curated import REPLACED
from pipelines.sources.declarations import Source
from pipelines.warehouse.classification import load_classification, rules_table
from pipelines.warehouse.models import ancestors, load_models

MODELS = load_models()
LOG = logging.getLogger(__name__)
# Views folded into the tables, in build order: five million wide rows are written once.
STEPS = tuple(name for name, model in MODELS.items() if model.is_view)
# The curated tables (marts and audit), each after the tables it reads.
CURATED = tuple(name for name, model in MODELS.items() if not model.is_view)

# Tables whose rows for a child are computed from that child's episodes alone and from no
# run date: an incremental build recomputes only the changed children's rows of these.
PER_CHILD = ("episodes", "repeat_missing")

# Tables whose rows for a person are computed from that person's episodes, links
# (stg_person_ids, int_persons_known_to_council) and the run date alone: an incremental build
# recomputes only the rows of the persons in PERSONS_TOUCHED (the four took 31 s whole at 5M).
PER_PERSON = ("persons", "person_rhi", "person_repeat", "agency_reconciliation")
# Tables whose rows for a child are computed from that child's episodes and the run date
# alone: an incremental build recomputes the rows of the re-modelled children and of those the
# run date's move touches (DATE_TOUCHED_SQL).
PER_CHILD_DATED = ("children",)
# The "last 12 months" of children's and person_repeat's columns named so (the number is
# their contract): with the run date itself, the bounds whose move changes a row.
LAST_MONTHS = 12
# The children (or persons) with an episode reported between the bounds of the last build's
# run date and this one's: the end of the run date, or LAST_MONTHS before it. Only they can
# count an episode differently.
DATE_TOUCHED_SQL = """
insert into {into}
with ends as (
    select
        least(getvariable('as_of'), getvariable('previous_as_of'))::timestamp
            + interval 1 day as low,
        greatest(getvariable('as_of'), getvariable('previous_as_of'))::timestamp
            + interval 1 day as high
)
select distinct {key} from main.episodes, ends
where {key} is not null and (
    reported_at >= low and reported_at < high
    or reported_at >= low - to_months(getvariable('last_months'))
    and reported_at < high - to_months(getvariable('last_months'))
)
"""
# The persons an incremental build re-models: those of the re-modelled children, before and
# after (PERSONS_TOUCHED_SQL), those whose links changed what their row says of them
# (PERSONS_RELINKED_SQL: a reviewer's decision, or a council record with no episodes), and
# those the run date's move touches (DATE_TOUCHED_SQL).
PERSONS_TOUCHED = "persons_touched"
PERSONS_TOUCHED_SQL = f"""
insert into {PERSONS_TOUCHED}
select distinct person_id from main.children
where person_id is not null and child_id in (select child_id from {{touched}})
"""
# (The persons with a reviewer's decision are few: a semi join on them, not every link grouped
# by person, 0.43-0.45 s against 1.16-1.37 s at 1.9M links.)
PERSONS_RELINKED_SQL = f"""
insert into {PERSONS_TOUCHED}
select person_id from main.persons
where linked_by_review
    <> (person_id in (select person_id from stg_person_ids where linked_by = 'decision'))
or known_to_council <> (person_id in (select person_id from int_persons_known_to_council))
"""

# The children an incremental build re-models; made before the narrowed views, from staging
# that is never narrowed.
TOUCHED = "int_children_touched"
# How the modelling steps are narrowed to the children an incremental build re-models:
# every version of every episode they ever had, so that their histories stay whole, and of
# the latest versions only theirs. Each follows `select * from (<the step's SQL>)`. A semi
# join on the two key columns, not `(source, episode_ref) in (...)`: DuckDB compares structs
# row by row, two to three times slower over 5.5M versions.
SCOPED_STEPS = {
    "stg_episode_versions": "semi join (select source, episode_ref "
    f"from stg_episode_version_keys where child_id in (select child_id from {TOUCHED})) "
    "using (source, episode_ref)",
    "int_episodes_deduplicated": f"where child_id in (select child_id from {TOUCHED})",
}


@dataclass(frozen=True)
class Plan:
    """How a build runs: `full`, or `incremental` from the published file."""

    mode: str
    reason: str
    since_seq: int = 0  # incremental: versions with a later ingest_seq are new
    last_full_build_on: date | None = None  # incremental: carried over from the published file
    previous_as_of: date | None = None  # incremental: the published file's run date


@dataclass(frozen=True)
class Built:
    path: Path
    mode: str
    reason: str
    children_rebuilt: int
    # Seconds of each part of the build (copying the published file, each table's model,
    # the checkpoint), for profiling: logged at DEBUG, never shown to users.
    seconds: dict[str, float] = field(default_factory=dict)

    def line(self) -> str:
        return f"{self.mode} build ({self.reason}; {self.children_rebuilt} children rebuilt)"


def classification_settings() -> dict:
    return load_classification()["settings"]


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


def model_variables(as_of: date) -> dict[str, str]:
    """The SQL variables the models read, as SQL literals."""
    grades = classification_settings()["single_absent_grades"]
    return {
        "as_of": f"date {_quote(as_of.isoformat())}",
        "single_absent_grades": "[" + ", ".join(_quote(g) for g in grades) + "]",
        "repeat_episodes": str(settings.REPEAT_EPISODES),
        "repeat_window_days": str(settings.REPEAT_WINDOW_DAYS),
        "rhi_within_hours": str(settings.RHI_WITHIN_HOURS),
        "at_risk_lookback_days": str(settings.AT_RISK_LOOKBACK_DAYS),
        "open_episode_limit_days": str(settings.OPEN_EPISODE_LIMIT_DAYS),
        "adult_age_years": str(settings.ADULT_AGE_YEARS),
        "last_months": str(LAST_MONTHS),
        "reconciliation_tolerance_hours": str(settings.RECONCILIATION_TOLERANCE_HOURS),
    }


def declarations_table(sources: dict[str, Source]) -> pd.DataFrame:
    # The agency lets person-level tables say who knows a child (sources of one agency share
    # person references).
    return pd.DataFrame(
        [(s.name, s.kind, s.agency) for s in sources.values()],
        columns=["source", "layout", "agency"],
    )


def models_fingerprint(sources: dict[str, Source]) -> str:
    """A digest of everything the tables are computed with apart from the data and the run
    date: when it changes, rows of children with no new versions may change too."""
    digest = hashlib.sha256()
    files = [
        *(model.path for model in MODELS.values()),
        *sorted(settings.TABLES_DIR.glob("*.yml")),
        settings.CLASSIFICATION_FILE,
    ]
    for path in files:
        name = f"{path.parent.name}/{path.name}"  # e.g. marts/episodes.sql, tables/episodes.yml
        digest.update(name.encode() + b"\0" + path.read_bytes() + b"\0")
    variables = model_variables(date.min) | {"as_of": ""}
    declared = sorted((s.name, s.kind, s.fingerprint) for s in sources.values())
    for part in (
        json.dumps(variables, sort_keys=True),
        json.dumps(declared),
        regime_table(sources).to_csv(index=False),
        duckdb.__version__,
        settings.STORAGE_COMPATIBILITY_VERSION,
    ):
        digest.update(part.encode() + b"\0")
    return digest.hexdigest()


def plan_build(
    published: Path | None, work_db: Path, fingerprint: str, full: bool, today: date
) -> Plan:
    """Full or incremental, with the reason an operator reads in the run summary."""
    if full:
        return Plan("full", "full rebuild requested")
    if published is None or not published.exists():
        return Plan("full", "no published database")
    con = duckdb.connect(config=DUCKDB_CONFIG)
    try:
        con.execute(f"attach {_quote(str(published))} as published (read_only)")
        con.execute(f"attach {_quote(str(work_db))} as work (read_only)")
        tables = con.execute(
            "select table_name from duckdb_tables() where database_name = 'published'"
        ).fetchall()
        if ("build_manifest",) not in tables:
            return Plan("full", "the published database has no build manifest")
        (built,) = con.sql("from published.build_manifest").to_arrow_table().to_pylist()
        if built["models_fingerprint"] != fingerprint:
            return Plan("full", "models, settings or source declarations changed")
        store = con.execute("select any_value(store_id) from work.store_identity").fetchall()
        if built["store_id"] != store[0][0]:
            return Plan("full", "the published database was built from another working store")
        age = (today - built["last_full_build_on"]).days
        if age >= settings.FULL_REBUILD_EVERY_DAYS:
            return Plan("full", f"the last full build was {age} days ago")
        seq = built["last_ingest_seq"]
        versions, files = con.execute(
            "select (select count(*) from work.episode_versions where ingest_seq <= $seq), "
            "(select count(*) from work.ingest_files where ingest_seq <= $seq)",
            {"seq": seq},
        ).fetchall()[0]
        if (versions, files) != (built["versions_built"], built["files_built"]):
            return Plan("full", "files built before were replaced or forgotten")
        return Plan(
            "incremental",
            f"new versions since ingest_seq {seq}",
            seq,
            built["last_full_build_on"],
            built["as_of"],
        )
    except duckdb.Error as exc:  # an unreadable published file is rebuilt, not trusted
        return Plan("full", f"the published database could not be read ({type(exc).__name__})")
    finally:
        con.close()


def model_sql(name: str) -> str:
    return MODELS[name].sql


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


def build(
    work_db: Path,
    target: Path,
    sources: dict[str, Source],
    as_of: date,
    published: Path | None = None,
    full: bool = False,
    today: date | None = None,
) -> Built:
    """Build every curated table into a new database file at `target`: incrementally from
    `published` when that is exact, else in full (or when `full` is asked for)."""
    today = today or date.today()
    fingerprint = models_fingerprint(sources)
    plan = plan_build(published, work_db, fingerprint, full, today)
    discard(target)
    # The curated folder is the analysts' group's to read (it is made here on a first run).
    shared_folder(target.parent)
    # Everything DuckDB writes while building (the file, its write-ahead log, spill files)
    # is private until the finished file is opened to the group.
    built, seconds = False, dict[str, float]()
    try:
        with private_files():
            if plan.mode == "incremental":
                assert published is not None  # an incremental plan starts from the published
                with timed(seconds, "copy the published file"):
                    shutil.copyfile(published, target)
            children = _build_into(
                target, work_db, sources, as_of, plan, fingerprint, today, seconds
            )
        built = True
    finally:
        if not built:  # a half-built file is never left for anyone to open
            discard(target)
    target.chmod(SHARED_FILE_MODE)
    LOG.debug("build seconds: %s", seconds)
    return Built(target, plan.mode, plan.reason, children, seconds)


@contextmanager
def timed(seconds: dict[str, float], part: str) -> Iterator[None]:
    """Add the seconds the block takes to seconds[part]."""
    start = time.perf_counter()
    try:
        yield
    finally:
        seconds[part] = round(seconds.get(part, 0.0) + time.perf_counter() - start, 2)


def _build_into(
    target: Path,
    work_db: Path,
    sources: dict[str, Source],
    as_of: date,
    plan: Plan,
    fingerprint: str,
    today: date,
    seconds: dict[str, float],
) -> int:
    """Run the models into `target` (empty, or the published copy); children rebuilt. Each
    part's seconds go into `seconds`."""
    con = connect_curated(
        target, storage_compatibility_version=settings.STORAGE_COMPATIBILITY_VERSION
    )
    try:
        con.execute(f"attach {_quote(str(work_db))} as work (read_only)")
        last_full = plan.last_full_build_on or today
        variables = model_variables(as_of) | {
            "build_mode": _quote(plan.mode),
            "build_reason": _quote(plan.reason),
            "models_fingerprint": _quote(fingerprint),
            "children_rebuilt": "null::bigint",
            "last_full_build_on": f"date {_quote(last_full.isoformat())}",
        }
        for name, value in variables.items():
            con.execute(f"set variable {name} = {value}")
        con.register("source_declarations", declarations_table(sources))
        con.register("source_regimes", regime_table(sources))
        con.register("classification_rules", rules_table())
        if plan.mode == "incremental":
            assert plan.previous_as_of is not None  # every manifest has its run date
            previous = _quote(plan.previous_as_of.isoformat())
            con.execute(f"set variable previous_as_of = date {previous}")
            # Only this build's replaced rows are the suite's to judge (a file copied from one
            # never published may hold another build's).
            con.execute(f"drop schema if exists {REPLACED} cascade")
            with timed(seconds, "rebuild the touched children's rows"):
                _rebuild_children(con, plan.since_seq)
            with timed(seconds, "rebuild the touched persons' rows"):
                _rebuild_persons(con)
        else:
            _create_views(con, tuple(s for s in STEPS if s != TOUCHED), scoped=False)
        for table in track(CURATED, "models built"):
            if plan.mode == "full" or table not in PER_CHILD + PER_CHILD_DATED + PER_PERSON:
                with timed(seconds, table):
                    con.execute(f"drop table if exists main.{table}")
                    _create_table(con, table)
        (children,) = con.execute("select children_rebuilt from build_manifest").fetchall()[0]
        con.execute("detach work")
        with timed(seconds, "checkpoint"):
            con.execute("checkpoint")
        return children
    finally:
        con.close()


def _create_views(con: duckdb.DuckDBPyConnection, names: tuple[str, ...], scoped: bool) -> None:
    for step in names:
        # Intermediate steps are views folded into `episodes`, the one wide table every
        # other curated table reads: five million wide rows are written once, not twice.
        sql = model_sql(step)
        if scoped and step in SCOPED_STEPS:
            sql = f"select * from ({sql}) {SCOPED_STEPS[step]}"
        con.execute(f"create or replace temp view {step} as {sql}")


def _create_table(con: duckdb.DuckDBPyConnection, table: str) -> None:
    con.execute(f"create table main.{table} as {model_sql(table)}")
    # One call for the table's comments: a call per column cost a tenth of a small build.
    con.execute(";\n".join(comment_statements(table)))


def _rebuild_children(con: duckdb.DuckDBPyConnection, since_seq: int) -> None:
    """Replace the per-child rows of the children with new versions (in the copied file)."""
    con.execute(f"set variable since_seq = {since_seq}")
    # stg_person_ids too: the working store is read through staging, here as in the models.
    _create_views(con, (*ancestors(TOUCHED, MODELS), "stg_person_ids"), scoped=False)
    con.execute(f"create temp table {TOUCHED} as {model_sql(TOUCHED)}")
    # A merge or split of persons moves children with no new versions to another person_id:
    # their rows are re-modelled too (the copied file still holds the ids they had, one per
    # child: children's rows, a third as many as the episodes').
    con.execute(
        f"insert into {TOUCHED} select c.child_id from main.children c "
        "left join stg_person_ids p using (child_id) "
        f"where c.person_id is distinct from p.person_id "
        f"and c.child_id not in (select child_id from {TOUCHED})"
    )
    (count,) = con.execute(f"select count(*) from {TOUCHED}").fetchall()[0]
    con.execute(f"set variable children_rebuilt = {count}")
    # Their persons as the copied file has them: a person they left is re-modelled too.
    con.execute(f"create temp table {PERSONS_TOUCHED} (person_id varchar)")
    con.execute(PERSONS_TOUCHED_SQL.format(touched=TOUCHED))
    _create_views(con, tuple(s for s in STEPS if s != TOUCHED), scoped=True)
    # The narrowed views are their whole histories: `episodes` is one of the models here.
    _remodel(con, PER_CHILD, "child_id", TOUCHED, narrow_episodes=False)
    # Their rows of the per-child tables of the run date, and those of the children the
    # run date's move touches.
    con.execute(f"create temp table children_dated as from {TOUCHED}")
    con.execute(DATE_TOUCHED_SQL.format(into="children_dated", key="child_id"))
    _remodel(con, PER_CHILD_DATED, "child_id", "children_dated")


def _rebuild_persons(con: duckdb.DuckDBPyConnection) -> None:
    """Replace the per-person rows of the touched persons (after their children's rows)."""
    # Their persons as the children now have them (the touched children's rows are new).
    con.execute(PERSONS_TOUCHED_SQL.format(touched=TOUCHED))
    con.execute(PERSONS_RELINKED_SQL)
    con.execute(DATE_TOUCHED_SQL.format(into=PERSONS_TOUCHED, key="person_id"))
    _remodel(con, PER_PERSON, "person_id", PERSONS_TOUCHED)


def _remodel(
    con: duckdb.DuckDBPyConnection,
    tables: tuple[str, ...],
    key: str,
    keys: str,
    narrow_episodes: bool = True,
) -> None:
    """Replace the rows of `tables` whose `key` is in the table `keys`, each modelled from
    every episode of its key, of children re-modelled or not (with `narrow_episodes`; else
    from the narrowed views already in place)."""
    # Modelled into a schema of their own first, then swapped into the copied file's tables.
    con.execute("create schema rebuilt")
    if narrow_episodes:
        # `episodes` in this schema, so that the models run unchanged on just those keys: a
        # view, so each reads only the columns it needs (a table of the rows' every column
        # cost the 5M benchmark's increment 0.9-1.05 s to make, for each of the two calls).
        con.execute(
            f"create view rebuilt.episodes as from main.episodes "
            f"where {key} in (select {key} from {keys})"
        )
    con.execute("set search_path = 'rebuilt'")
    try:
        for table in tables:
            con.execute(f"create table rebuilt.{table} as {model_sql(table)}")
    finally:
        con.execute("reset search_path")
    con.execute(f"create schema if not exists {REPLACED}")
    for table in tables:
        con.execute(f"delete from main.{table} where {key} in (select {key} from {keys})")
        con.execute(f"insert into main.{table} by name from rebuilt.{table}")
        # The curated suite judges these rows, not the table's millions (publish drops them).
        con.execute(f"create table {REPLACED}.{table} as from rebuilt.{table}")
    con.execute("drop schema rebuilt cascade")


def discard(target: Path) -> None:
    """Remove a database file and its write-ahead log."""
    for path in (target, target.with_name(target.name + ".wal")):
        path.unlink(missing_ok=True)


def building_path(published: Path, run_id: str) -> Path:
    """Where a run builds its new file: beside the published one, so the rename is atomic."""
    return published.with_name(f".{published.name}.building-{run_id}")


def clear_abandoned(published: Path) -> None:
    """Remove what runs killed mid-build left: the file, its write-ahead log, and DuckDB's
    spill folder (`<file>.tmp`). Call only with the published database's lock held
    (orchestration.locking.run_lock), which every run building beside it takes."""
    for path in published.parent.glob(f".{published.name}.building-*"):
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)


def publish(built: Path, published: Path) -> None:
    """Rename the new database over the published one (atomic on one filesystem), without
    the copy of the rows an incremental build replaced, which only the curated suite reads."""
    with private_files():  # the write-ahead log this write makes is private too
        con = connect_curated(built)
        try:
            con.execute(f"drop schema if exists {REPLACED} cascade")
        finally:
            con.close()
    built.chmod(SHARED_FILE_MODE)
    os.replace(built, published)
