"""The curated suite's checks as SQL aggregates in DuckDB: one query per table.

Each check of a contract (contract_checks) becomes one aggregate that counts the rows Great
Expectations would call unexpected, so that a table passes here exactly when it passes there:
a null and a float NaN are both missing (pandas reads them alike); value rules (unique,
allowed, range) judge only present values; every row holding a repeated value counts; a pair
check ignores rows missing either value. The outcomes are those run_suite gives a passing
table, in the same order. Great Expectations is never imported here (its import alone takes
seconds: docs/scaling.md, "Start-up"): a table with a failing check is run through it
afterwards, for the report.
"""

from __future__ import annotations

from datetime import date, datetime

from duckdb import DuckDBPyConnection

from pipelines.db import one_row
from pipelines.quality.contracts import Check, Contract
from pipelines.quality.suites import (
    COLUMNS_RULE,
    ROW_CHECKS,
    TABLE_COLUMNS,
    ExpectationOutcome,
    SuiteResult,
    contract_checks,
    key_columns,
)

# The Great Expectations expectation each check kind becomes (suites._expectations_for_check).
EXPECTATIONS = {
    "not_null": "expect_column_values_to_not_be_null",
    "blank": "expect_column_values_to_be_null",
    "unique": "expect_column_values_to_be_unique",
    "allowed": "expect_column_values_to_be_in_set",
    "between": "expect_column_values_to_be_between",
    "a_after_b": "expect_column_pair_values_a_to_be_greater_than_b",
    TABLE_COLUMNS: "expect_table_columns_to_match_set",
}
# DuckDB types whose NaN pandas reads as missing.
FLOAT_TYPES = ("FLOAT", "DOUBLE", "REAL")


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _literal(value: object) -> str:
    """A contract's value (allowed value or bound) as a SQL literal of its own type."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return repr(value)
    if isinstance(value, float):  # a double, as GX compares it (DuckDB reads 0.1 as a decimal)
        return f"{value!r}::double"
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    if isinstance(value, datetime):  # YAML reads an unquoted date or time as one
        return f"timestamp '{value.isoformat(sep=' ')}'"
    if isinstance(value, date):
        return f"date '{value.isoformat()}'"
    raise ValueError(f"a contract value of type {type(value).__name__} has no SQL literal")


def _present(column: str, types: dict[str, str]) -> str:
    """True where a cell holds a value as pandas sees it (a float NaN is missing there)."""
    name = _quoted(column)
    if types.get(column, "").upper() in FLOAT_TYPES:
        return f"({name} is not null and not isnan({name}))"
    return f"({name} is not null)"


def unexpected_sql(
    check: Check,
    column: str,
    contract: Contract,
    types: dict[str, str],
    replaced: str | None = None,
) -> str:
    """An aggregate over the contract's table counting the rows a check finds unexpected on
    one column (a pair check reads its own two columns, whatever `column` says). With
    `replaced` (see sql_suite), a unique column counts only the values those rows hold."""
    name, present = _quoted(column), _present(column, types)
    if check.expect == "a_after_b":
        assert check.a is not None and check.b is not None  # a pair check names both
        a, b = _quoted(check.a), _quoted(check.b)
        both = f"{_present(check.a, types)} and {_present(check.b, types)}"
        op = ">=" if check.or_equal else ">"
        return f"count(*) filter (where {both} and not ({a} {op} {b}))"
    if check.expect == "not_null":
        return f"count(*) filter (where not {present})"
    if check.expect == "blank":
        return f"count(*) filter (where {present})"
    if check.expect == "unique":
        among = f" and {name} in (select {name} from {replaced})" if replaced else ""
        return (
            f"(select coalesce(sum(n), 0) from (select count(*) as n from "
            f"{_quoted(contract.table)} where {present}{among} group by {name} "
            "having count(*) > 1))"
        )
    if check.expect == "allowed":
        allowed = contract.column(column.split("__", 1)[0]).allowed or ()
        outside = f"{name} not in ({', '.join(map(_literal, allowed))})" if allowed else "true"
        return f"count(*) filter (where {present} and {outside})"
    if check.expect == "between":
        rules = contract.column(column)
        bounds = [f"{name} < {_literal(rules.min)}"] if rules.min is not None else []
        bounds += [f"{name} > {_literal(rules.max)}"] if rules.max is not None else []
        return f"count(*) filter (where {present} and ({' or '.join(bounds) or 'false'}))"
    raise ValueError(f"{contract.table}: check {check.rule}: no SQL for expect {check.expect}")


def planned(contract: Contract) -> list[tuple[Check | None, str]]:
    """Each expectation the curated GX path runs, in the order it reports them: (check,
    column), or (None, "*") for the column set.

    That path runs the checks on non-key columns and the column set first (those reading
    one column, then the pair checks), then the checks on the unique columns.
    """
    keys = key_columns(contract)
    checks = contract_checks(contract)
    on_keys = [c for c in checks if set(c.columns) & keys]
    others = [c for c in checks if not set(c.columns) & keys]
    plan: list[tuple[Check | None, str]] = []
    for check in [c for c in others if c.expect not in ROW_CHECKS]:
        plan += [(check, column) for column in check.columns]
    plan.append((None, "*"))
    for check in [c for c in others if c.expect in ROW_CHECKS]:
        plan.append((check, f"{check.a},{check.b}"))
    for check in on_keys:
        plan += [(check, column) for column in check.columns]
    return plan


def table_types(con: DuckDBPyConnection, table: str) -> dict[str, str]:
    """A table's columns and their DuckDB types, in table order (none if it is missing)."""
    rows = con.execute(
        # duckdb_columns(), not information_schema: the same rows in a fifth of the time.
        "select column_name, data_type from duckdb_columns() "
        "where table_name = ? and schema_name = 'main' and database_name = current_database() "
        "order by column_index",
        [table],
    ).fetchall()
    return dict(rows)


def _outcome(contract: Contract, check: Check | None, column: str, bad: int) -> ExpectationOutcome:
    rule, severity = (check.rule, check.severity) if check else (COLUMNS_RULE, "error")
    kind = check.expect if check else TABLE_COLUMNS
    expectation = EXPECTATIONS[kind]
    return ExpectationOutcome(
        contract.table, rule, severity, column, expectation, bad == 0, bad, ()
    )


def sql_suite(
    con: DuckDBPyConnection, contract: Contract, replaced: str | None = None
) -> SuiteResult:
    """A curated table's suite as SQL aggregates: every outcome of the GX path, with counts
    of rows. A table whose columns differ from its contract gets only that failed outcome
    (its rules may read columns it lacks).

    `replaced` names a table of the rows an incremental build put in place of others (the
    build keeps them in curated.REPLACED): every other row is the published file's, which
    passed these same checks, since a change of contract makes the build full. Each rule
    then judges those rows, and each unique column the values they hold, counted over the
    whole table: a repeat among the published rows alone was ruled out when they passed. The
    counts are the whole table's. A warning may have passed the published file with rows
    found, so a contract with one is judged on every row.
    """
    types = table_types(con, contract.table)
    plan = planned(contract)
    if set(types) != set(contract.column_names):
        return SuiteResult(contract.table, False, (_outcome(contract, None, "*", 1),))
    ruled = [(check, column) for check, column in plan if check is not None]
    if any(check.severity != "error" for check, _ in ruled):
        replaced = None
    counts: list[int] = []
    judged = None
    if ruled:
        selects = ", ".join(unexpected_sql(c, col, contract, types, replaced) for c, col in ruled)
        # count(*) first: a query of subqueries alone would give a row per row of the table.
        sql = f"select count(*), {selects} from {replaced or _quoted(contract.table)}"
        judged, *counts = (int(n) for n in one_row(con, sql))
    bad = iter(counts)
    outcomes = tuple(
        _outcome(contract, check, column, next(bad) if check else 0) for check, column in plan
    )
    errors_failed = any(not o.success and o.severity == "error" for o in outcomes)
    replaced_rows = judged if replaced else None
    return SuiteResult(contract.table, not errors_failed, outcomes, replaced_rows=replaced_rows)
