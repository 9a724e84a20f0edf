"""A curated table as it stands on another run date, by the same SQL models.

A model that reads the run date (`getvariable('as_of')`), or reads one that does, is run
again with the run date set; every other curated table it reads is the published one, and
every view it reads (the working store's staging) is made as the build makes it. The answer
is what `whereabouts nightly --as-of DATE` would publish for that table from the same working
store: episodes reported by the date, as recorded now (a return recorded after the date
leaves the episode open on it; grades, flags and links are the ones known now).
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import duckdb
import pyarrow as pa

from pipelines.db import DUCKDB_CONFIG
from pipelines.errors import busy
from pipelines.sources.declarations import Source
from pipelines.warehouse.build import (
    MODELS,
    _quote,
    declarations_table,
    model_sql,
    model_variables,
    regime_table,
)
from pipelines.warehouse.classification import rules_table


def dated_models() -> set[str]:
    """Models that depend on the run date, directly or through what they read."""
    dated: set[str] = set()
    for name, model in MODELS.items():  # build order: what a model reads comes first
        if "getvariable('as_of')" in model.sql or model.reads & dated:
            dated.add(name)
    return dated


def rerun_plan(table: str) -> tuple[list[str], list[str]]:
    """(published tables read as they are, models run again) for `table`, in build order."""
    dated = dated_models()
    published: set[str] = set()
    rerun: set[str] = set()
    todo = [table]
    while todo:
        name = todo.pop()
        model = MODELS[name]
        if not model.is_view and name not in dated:
            published.add(name)
            continue
        rerun.add(name)
        todo += [r for r in model.reads if r in MODELS and r not in published | rerun]
    return [m for m in MODELS if m in published], [m for m in MODELS if m in rerun]


def table_as_of(
    curated: Path, work_db: Path, sources: dict[str, Source], table: str, as_of: date
) -> pa.Table:
    """`table` as the models give it with the run date `as_of`, in an in-memory database
    over the published file and the working store (both read-only)."""
    published, rerun = rerun_plan(table)
    con = duckdb.connect(config=DUCKDB_CONFIG)
    try:
        con.execute(f"attach {_quote(str(curated))} as curated (read_only)")
        try:
            con.execute(f"attach {_quote(str(work_db))} as work (read_only)")
        except duckdb.IOException:
            raise busy(work_db) from None
        for name, value in model_variables(as_of).items():
            con.execute(f"set variable {name} = {value}")
        con.register("source_declarations", declarations_table(sources))
        con.register("source_regimes", regime_table(sources))
        con.register("classification_rules", rules_table())
        for name in published:
            con.execute(f"create view main.{name} as select * from curated.main.{name}")
        for name in rerun[:-1]:
            kind = "view" if MODELS[name].is_view else "table"
            con.execute(f"create {kind} main.{name} as {model_sql(name)}")
        return con.sql(model_sql(table)).to_arrow_table()
    finally:
        con.close()
