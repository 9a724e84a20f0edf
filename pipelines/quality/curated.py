"""The curated suite: every published table against its contract, and the reconciliations.

Runs on the newly built file before it is published; any failure keeps the last good
database in place. The contract checks run as SQL aggregates in DuckDB; Great Expectations
runs only on a table that fails one, so that the report shows its failure.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
from duckdb import DuckDBPyConnection

from pipelines.db import connect, one_row
from pipelines.progress import track
from pipelines.quality.aggregates import sql_suite, table_types
from pipelines.quality.contracts import Column, Contract, load_contract
from pipelines.quality.suites import (
    ExpectationOutcome,
    SuiteResult,
    contract_checks,
    key_columns,
    run_suite,
)

# The schema in which an incremental build keeps a copy of the rows it put in place of the
# published file's, table by table (the rest are the published file's own, which passed this
# suite), so that the suite judges only what could have changed: aggregates.sql_suite. The
# file is published without it.
REPLACED = "replaced"

# Each reconciliation is a query that returns the number of offending rows (0 passes).
RECONCILIATIONS = {
    "episode_has_child": (
        "every episode belongs to a child",
        "select count(*) from episodes anti join children using (child_id)",
    ),
    "ledger_adds_up": (
        "rows_read = rows_loaded + rows_quarantined + rows_out_of_scope for every file",
        "select count(*) from ingest_files "
        "where rows_read <> rows_loaded + rows_quarantined + rows_out_of_scope",
    ),
    "loaded_rows_stored": (
        "rows loaded per the ledger equal episode versions stored (files of identities "
        "alone load identities, not episodes)",
        "select abs((select coalesce(sum(rows_loaded), 0) from ingest_files "
        "where source not in (select unnest({identity_sources}::varchar[]))) "
        "- (select count(*) from work.episode_versions))",
    ),
    "every_episode_published": (
        "distinct episodes stored equal episodes published",
        "select abs((select count(*) from (select distinct source, episode_ref "
        "from work.episode_versions)) - (select count(*) from episodes))",
    ),
    "quarantine_matches_ledger": (
        "quarantined rows listed equal rows_quarantined in the ledger",
        "select abs((select coalesce(sum(rows_quarantined), 0) from ingest_files) "
        "- (select count(*) from quarantine))",
    ),
    "every_episode_classified": (
        "every episode has a category, basis and rule",
        "select count(*) from episodes where category is null or category_basis is null "
        "or rule is null",
    ),
}


def reconcile(db: Path, work_db: Path, identity_sources: Collection[str] = ()) -> SuiteResult:
    """The reconciliation queries as one suite of outcomes; `identity_sources` are the
    sources of identity layouts, whose loaded rows are identities, not episodes."""
    # Source names are declaration file names; quoted as SQL text all the same.
    names = "[" + ", ".join("'" + n.replace("'", "''") + "'" for n in identity_sources) + "]"
    con = connect(db, read_only=True)
    try:
        con.execute(f"attach '{work_db}' as work (read_only)")
        outcomes = []
        for rule, (meaning, sql) in RECONCILIATIONS.items():
            bad = int(one_row(con, sql.replace("{identity_sources}", names))[0])
            outcomes.append(
                ExpectationOutcome("reconciliation", rule, "error", "*", meaning, bad == 0, bad, ())
            )
    finally:
        con.close()
    return SuiteResult("reconciliation", all(o.success for o in outcomes), tuple(outcomes))


def curated_suites(db: Path, tables: tuple[str, ...]) -> list[SuiteResult]:
    """Each curated table validated by the suite generated from its contract.

    Every check runs first as SQL aggregates in DuckDB (aggregates.sql_suite: one query per
    table, counting the rows each rule finds unexpected), which gives the same outcomes Great
    Expectations gives a passing table. Only a table with a failing check is run through
    Great Expectations (gx_suite), whose outcomes, with its unexpected values, are the ones
    kept for the gate and the report, counted in rows (the SQL's counts); when every table
    passes, GX is never imported. A table of which an incremental build replaced only some
    rows (kept in the schema REPLACED) is judged on those.
    """
    con = connect(db, read_only=True)
    try:
        partly = {
            name
            for (name,) in con.execute(
                "select table_name from duckdb_tables() where schema_name = ?", [REPLACED]
            ).fetchall()
        }
        results = []
        for table in track(tables, "suites run"):
            contract = load_contract(table)
            replaced = f'{REPLACED}."{table}"' if table in partly else None
            result = sql_suite(con, contract, replaced)
            if not all(o.success for o in result.outcomes):
                result = _with_row_counts(gx_suite(con, contract), result)
            results.append(result)
        return results
    finally:
        con.close()


def _with_row_counts(gx: SuiteResult, counted: SuiteResult) -> SuiteResult:
    """GX's outcomes with the rows each rule found unexpected: GX saw a column's distinct
    values, so three rows of one bad code would read as one."""
    rows = {(o.rule, o.column): o.unexpected_count for o in counted.outcomes}
    return SuiteResult(
        gx.suite,
        gx.success,
        tuple(
            replace(o, unexpected_count=rows.get((o.rule, o.column), o.unexpected_count))
            for o in gx.outcomes
        ),
    )


def gx_suite(con: DuckDBPyConnection, contract: Contract) -> SuiteResult:
    """A curated table validated by Great Expectations, for the report of a failing table.

    Every expectation is the contract's own, run on the least data that gives the same
    verdict: unique columns on the rows that could fail them (with the same counts); every
    other ruled column on its distinct values (a value is allowed, in range or null in some
    row exactly when it is among the distinct values; a not-null rule needs only a null and a
    non-null example), so its counts are of those values, not of rows; in a frame with the
    table's own columns, on which the column set is checked too (two GX runs per table).
    """
    table = contract.table
    keys = key_columns(contract)
    key_frame = _key_rows(con, table, contract, keys) if keys else None
    columns = _frame(con, f"select * from {table} limit 0").columns
    values = _distinct_values(con, table, contract, keys).reindex(columns=columns)
    parts = [run_suite(values, contract, row_level=False, part="values")]
    if key_frame is not None:
        parts.append(run_suite(key_frame, contract, row_level=False, part="keys"))
    outcomes = tuple(o for part in parts for o in part.outcomes)
    success = all(part.success for part in parts)
    return SuiteResult(table, success, outcomes)


def _has_rules(column: Column) -> bool:
    return (
        column.not_null
        or column.unique
        or column.allowed is not None
        or column.min is not None
        or column.max is not None
    )


def _names(columns: Iterable[str]) -> str:
    return ", ".join(f'"{c}"' for c in sorted(columns))


def _frame(con: DuckDBPyConnection, sql: str) -> pd.DataFrame:
    return con.sql(sql).to_arrow_table().to_pandas()


def _key_rows(
    con: DuckDBPyConnection, table: str, contract: Contract, keys: set[str]
) -> pd.DataFrame:
    """The unique columns, on the least rows that give their checks' outcomes and counts.

    Where a unique column's only other rule is not-null, only rows whose value is null or
    repeats can fail: those rows, plus one that cannot (so that a table with rows never gives
    an empty frame), count exactly what every row would. Any other rule on a unique column
    needs every row.
    """
    columns = _names(keys)
    rules = [c for c in contract_checks(contract) if set(c.columns) & keys]
    if any(rule.expect not in ("not_null", "unique") for rule in rules):
        return _frame(con, f"select {columns} from {table}")
    suspect = " or ".join(
        f'"{k}" is null or "{k}" in (select "{k}" from {table} group by all having count(*) > 1)'
        for k in sorted(keys)
    )
    return _frame(
        con,
        f"(select {columns} from {table} where {suspect}) union all "
        f"(select {columns} from {table} where not ({suspect}) limit 1)",
    )


def _distinct_values(
    con: DuckDBPyConnection, table: str, contract: Contract, keys: set[str]
) -> pd.DataFrame:
    """Each ruled, non-key column's representative values, padded to one length by repeating."""
    columns = {}
    for column in contract.columns:
        if column.name in keys or not _has_rules(column):
            continue
        name = f'"{column.name}"'
        if column.allowed is None and column.min is None and column.max is None:
            # Only "not null": one null (if any) and one value decide it.
            sql = (
                f"(select {name} from {table} where {name} is null limit 1) union all "
                f"(select {name} from {table} where {name} is not null limit 1)"
            )
        else:
            sql = f"select distinct {name} from {table}"
        columns[column.name] = _frame(con, sql).iloc[:, 0]
    if not columns:
        return pd.DataFrame()
    # Every column of a table has values exactly when the table has rows.
    length = max(len(values) for values in columns.values())
    return pd.DataFrame(
        {
            name: values.iloc[np.resize(np.arange(len(values)), length)].to_numpy()
            for name, values in columns.items()
        }
    )  # fmt: skip


def column_types(db: Path, table: str) -> dict[str, str]:
    """The database's own column types of a table (to hold SQL and contract together)."""
    con = connect(db, read_only=True)
    try:
        return table_types(con, table)
    finally:
        con.close()


def headline_counts(db: Path) -> tuple[int, int]:
    """Episodes and children in a built database."""
    con = connect(db, read_only=True)
    try:
        episodes, children = one_row(
            con, "select (select count(*) from episodes), (select count(*) from children)"
        )
        return episodes, children
    finally:
        con.close()
