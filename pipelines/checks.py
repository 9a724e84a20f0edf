"""The curated suite: every published table against its contract, and the reconciliations.

Runs on the newly built file before it is published; any failure keeps the last good
database in place.
"""

from __future__ import annotations

from pathlib import Path

from pipelines.contracts import load_contract
from pipelines.store import connect
from pipelines.validate import ExpectationOutcome, SuiteResult, run_suite

# Each reconciliation is a query that returns the number of offending rows (0 passes).
RECONCILIATIONS = {
    "episode_has_child": (
        "every episode belongs to a child",
        "select count(*) from episodes where child_id not in (select child_id from children)",
    ),
    "ledger_adds_up": (
        "rows_read = rows_loaded + rows_quarantined + rows_out_of_scope for every file",
        "select count(*) from ingest_files "
        "where rows_read <> rows_loaded + rows_quarantined + rows_out_of_scope",
    ),
    "loaded_rows_stored": (
        "rows loaded per the ledger equal episode versions stored",
        "select abs((select coalesce(sum(rows_loaded), 0) from ingest_files) "
        "- (select count(*) from work.episode_versions))",
    ),
    "every_episode_published": (
        "distinct episodes stored equal episodes published",
        "select abs((select count(distinct source || ':' || episode_ref) "
        "from work.episode_versions) - (select count(*) from episodes))",
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


def reconcile(db: Path, work_db: Path) -> SuiteResult:
    """The reconciliation queries as one suite of outcomes."""
    con = connect(db, read_only=True)
    try:
        con.execute(f"attach '{work_db}' as work (read_only)")
        outcomes = []
        for rule, (meaning, sql) in RECONCILIATIONS.items():
            bad = int(con.execute(sql).fetchone()[0])
            outcomes.append(
                ExpectationOutcome("reconciliation", rule, "error", "*", meaning, bad == 0, bad, ())
            )
    finally:
        con.close()
    import pandas as pd

    return SuiteResult(
        "reconciliation", all(o.success for o in outcomes), tuple(outcomes), pd.DataFrame()
    )


def curated_suites(db: Path, tables: tuple[str, ...]) -> list[SuiteResult]:
    """Each curated table validated by the suite generated from its contract.

    The rows are checked on the columns that have rules (low-cardinality text as categories,
    which GX filters cheaply); the exact column set is checked on an empty frame of the whole
    table. Both are the contract's own expectations.
    """
    con = connect(db, read_only=True)
    try:
        results = []
        for table in tables:
            contract = load_contract(table)
            ruled = [c for c in contract.columns if _has_rules(c)]
            columns = ", ".join(f'"{c.name}"' for c in ruled)
            rows = con.sql(f"select {columns} from {table}").to_arrow_table().to_pandas()
            for c in ruled:
                if c.allowed is not None and c.type == "VARCHAR":
                    rows[c.name] = rows[c.name].astype("category")
            shape = con.sql(f"select * from {table} limit 0").to_arrow_table().to_pandas()
            checked = run_suite(rows, contract, row_level=False, part="rows")
            shaped = run_suite(shape, contract, row_level=False, part="shape")
            outcomes = checked.outcomes + shaped.outcomes
            success = checked.success and shaped.success
            results.append(SuiteResult(table, success, outcomes, checked.failures))
        return results
    finally:
        con.close()


def _has_rules(column) -> bool:
    return (
        column.not_null
        or column.unique
        or column.allowed is not None
        or column.min is not None
        or column.max is not None
    )


def column_types(db: Path, table: str) -> dict[str, str]:
    """The database's own column types of a table (to hold SQL and contract together)."""
    con = connect(db, read_only=True)
    try:
        rows = con.execute(
            "select column_name, data_type from information_schema.columns "
            "where table_name = ? order by ordinal_position",
            [table],
        ).fetchall()
    finally:
        con.close()
    return dict(rows)


def headline_counts(db: Path) -> tuple[int, int]:
    """Episodes and children in a built database."""
    con = connect(db, read_only=True)
    try:
        return con.execute(
            "select (select count(*) from episodes), (select count(*) from children)"
        ).fetchone()
    finally:
        con.close()
