"""Great Expectations suites generated from the table contracts, and what their results mean.

Suites run on pandas DataFrames (GX's SQL path on DuckDB is unreliable). Each expectation
carries its contract rule, severity and message template in `meta`, so a failing row maps
straight back to a quarantine reason or a finding. A curated table is checked first by SQL
aggregates made from the same checks (aggregates.py); its suite runs only when one fails.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from types import ModuleType
from typing import TYPE_CHECKING, Any

import pandas as pd

from pipelines.quality.contracts import Check, Contract

if TYPE_CHECKING:
    # Imported at run time only when a suite runs (the import takes seconds: docs/scaling.md).
    from great_expectations.core.batch_definition import BatchDefinition
    from great_expectations.core.expectation_suite import ExpectationSuite
    from great_expectations.core.expectation_validation_result import (
        ExpectationValidationResult,
    )

# Never shown as examples in the validation report.
PRIVATE_COLUMNS = ("person_ref", "date_of_birth")
# Layers whose failing values are never shown as examples: a batch is raw rows of a file
# (names the contract maps, references, dates of birth, free text mistyped into a code).
RAW_LAYERS = ("batch",)


@dataclass(frozen=True)
class ExpectationOutcome:
    """One expectation's result, as the validation report shows it."""

    suite: str
    rule: str
    severity: str
    column: str
    expectation: str
    success: bool
    unexpected_count: int
    examples: tuple


@dataclass(frozen=True)
class SuiteResult:
    suite: str
    success: bool
    outcomes: tuple[ExpectationOutcome, ...]
    failures: pd.DataFrame | None = None  # row_number, rule, severity, message (row-level)
    # A suite of incoming rows: rows that break an error rule are quarantined and the run
    # goes on. Otherwise (curated tables, reconciliation) a broken error rule fails the run.
    quarantines: bool = False
    # Of a curated table after an incremental build: the rows judged, those the build replaced
    # (the rest passed when published: aggregates.sql_suite). None where every row was.
    replaced_rows: int | None = None


@cache
def load_gx() -> tuple[ModuleType, BatchDefinition]:
    """Great Expectations and an ephemeral context, loaded once (its import takes seconds)."""
    import logging

    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig
    from great_expectations.execution_engine import pandas_execution_engine

    # GX fingerprints every in-memory frame under 1 GB by hashing all of it, for a batch
    # marker nothing here reads: 8 of the curated suite's 12.6 s at 5.4M episodes. Its own
    # size threshold (a module setting) switches that off.
    pandas_execution_engine.HASH_THRESHOLD = 0
    # GX pins one module's logger to INFO to announce a temporary docs folder on every start:
    # not news in a nightly log.
    logging.getLogger("great_expectations.data_context.types.base").setLevel(logging.WARNING)
    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    batch_definition = (
        context.data_sources.add_pandas("frames")
        .add_dataframe_asset("frame")
        .add_batch_definition_whole_dataframe("whole")
    )
    return gx, batch_definition


def _field(column: str) -> str:
    return column.split("__", 1)[0]


def _expectations_for_check(check: Check, contract: Contract) -> list:
    gx, _ = load_gx()
    gxe = gx.expectations
    meta = {"rule": check.rule, "severity": check.severity, "message": check.message}
    if check.expect == "a_after_b":
        return [
            gxe.ExpectColumnPairValuesAToBeGreaterThanB(
                column_A=check.a,
                column_B=check.b,
                or_equal=check.or_equal,
                ignore_row_if="either_value_is_missing",
                meta=meta | {"column": f"{check.a},{check.b}"},
            )
        ]
    made = []
    for column in check.columns:
        m = meta | {"column": column}
        if check.expect == "not_null":
            made.append(gxe.ExpectColumnValuesToNotBeNull(column=column, meta=m))
        elif check.expect == "blank":
            made.append(gxe.ExpectColumnValuesToBeNull(column=column, meta=m))
        elif check.expect == "unique":
            made.append(gxe.ExpectColumnValuesToBeUnique(column=column, meta=m))
        elif check.expect == "allowed":
            allowed = list(contract.column(_field(column)).allowed or ())
            made.append(gxe.ExpectColumnValuesToBeInSet(column=column, value_set=allowed, meta=m))
        elif check.expect == "between":
            col = contract.column(column)
            made.append(
                gxe.ExpectColumnValuesToBeBetween(
                    column=column, min_value=col.min, max_value=col.max, meta=m
                )
            )
    return made


def column_checks(contract: Contract) -> list[Check]:
    """The checks a contract's column definitions imply (not null, unique, allowed, range)."""
    checks = []
    for col in contract.columns:
        if col.not_null:
            checks.append(Check("not_null", "error", "not_null", "{field} is null", (col.name,)))
        if col.unique:
            checks.append(Check("unique", "error", "unique", "{field} repeats", (col.name,)))
        if col.allowed is not None:
            msg = "{field} is not an allowed value"
            checks.append(Check("allowed", "error", "allowed", msg, (col.name,)))
        if col.min is not None or col.max is not None:
            msg = "{field} is out of range"
            checks.append(Check("range", "error", "between", msg, (col.name,)))
    return checks


def contract_checks(contract: Contract) -> list[Check]:
    """Every check of a contract: a batch contract spells out each itself; a curated one is
    mostly column rules, which its column definitions imply."""
    implied = column_checks(contract) if contract.layer == "curated" else []
    return implied + list(contract.checks)


def key_columns(contract: Contract) -> set[str]:
    """Columns declared unique: their checks need every row."""
    return {c.name for c in contract.columns if c.unique}


def _wanted(check: Check, keys: set[str], part: str) -> bool:
    on_keys = bool(set(check.columns) & keys)
    return {"all": True, "keys": on_keys, "values": not on_keys}[part]


# Checks that compare columns within a row (two dates), by kind.
ROW_CHECKS = ("a_after_b",)
# The expectation that a curated table's columns are exactly its contract's: it reads no row.
TABLE_COLUMNS = "table_columns"
# That expectation's rule.
COLUMNS_RULE = "columns_match_contract"


def _is_row_check(check: Check) -> bool:
    return check.expect in ROW_CHECKS


def _reads(check: Check) -> tuple[str, ...]:
    if check.a:
        assert check.b is not None  # a check comparing two columns names both
        return (check.a, check.b)
    return check.columns


def _check_columns(checks: list[Check]) -> list[str]:
    columns = {c for check in checks for c in _reads(check)}
    return sorted(columns)


def _checks_of(contract: Contract, part: str, kind: str) -> list[Check]:
    """The checks of a part of a contract that one GX run takes: those of one kind, or with
    kind "column" every check that reads one column at a time."""
    keys = key_columns(contract)
    return [
        check
        for check in contract_checks(contract)
        if _wanted(check, keys, part)
        and (not _is_row_check(check) if kind == "column" else check.expect == kind)
    ]


def _checks_table_columns(contract: Contract, part: str, kind: str) -> bool:
    return (
        contract.layer == "curated"
        and part in ("all", "values")
        and kind in ("column", TABLE_COLUMNS)
    )


@cache
def build_suite(contract: Contract, part: str, kind: str) -> ExpectationSuite:
    """The Great Expectations suite of a contract: its column rules, checks and exact columns.

    A big table is checked in two parts: "keys" (every check on the unique columns, on all
    their rows) and "values" (the other column rules, on each column's distinct values, and
    the exact column set). "all" is every expectation at once. `kind` takes one kind of
    check (or TABLE_COLUMNS, the exact column set), or with "column" every check that reads
    one column at a time, with the column set.
    """
    gx, _ = load_gx()
    suite = gx.ExpectationSuite(name=contract.table)
    for check in _checks_of(contract, part, kind):
        for expectation in _expectations_for_check(check, contract):
            suite.add_expectation(expectation)
    if _checks_table_columns(contract, part, kind):
        suite.add_expectation(
            gx.expectations.ExpectTableColumnsToMatchSet(
                column_set=contract.column_names,
                exact_match=True,
                meta={
                    "rule": COLUMNS_RULE,
                    "severity": "error",
                    "column": "*",
                    "message": "the table's columns differ from its contract",
                },
            )
        )
    return suite


def _gx_runs(contract: Contract, part: str, row_level: bool) -> list[tuple[str, bool]]:
    """The GX runs that check a part of a contract: each suite's kind, and whether it reads
    only the columns its checks name (else the whole frame)."""
    # GX copies every column of the frame, several times per expectation, to drop the rows it
    # ignores and, for row-level results, to find the failing rows. Given only the columns one
    # kind of check reads (and the same index), it judges the same rows alike: a run of
    # 500,000 incoming rows took 0.7 s instead of 1.4 s with the row checks apart, then
    # 0.6-0.8 s instead of 0.9-1.1 s with two kinds of row check apart, and its
    # column checks 0.18-0.25 s instead of 0.40-0.45 s by kind (measured). A curated table's
    # frame of distinct values is small, where each run's fixed cost shows: one run for all.
    kinds = dict.fromkeys(check.expect for check in contract_checks(contract))
    column_kinds = [k for k in kinds if k not in ROW_CHECKS] if row_level else ["column"]
    runs = [(kind, row_level) for kind in column_kinds]
    if row_level and _checks_table_columns(contract, part, TABLE_COLUMNS):
        runs.append((TABLE_COLUMNS, False))
    runs += [(kind, True) for kind in ROW_CHECKS if kind in kinds]
    return [
        (kind, narrow) for kind, narrow in runs if _checks_of(contract, part, kind) or not narrow
    ]


def _validated(
    batch_definition: BatchDefinition,
    frame: pd.DataFrame,
    suite: ExpectationSuite,
    result_format: dict[str, Any],
) -> list[ExpectationValidationResult]:
    """GX's results of one suite on one frame, with GX's copy of the frame let go."""
    batch = batch_definition.get_batch(batch_parameters={"dataframe": frame})
    try:
        return list(batch.validate(suite, result_format=result_format).results)
    finally:
        # GX's execution engine keeps every frame it has validated, for the life of the
        # process: memory grew by each run's frame (a quarter of a GB at a million rows).
        manager = batch.data.execution_engine.batch_manager
        manager.batch_data_cache.clear()
        manager.reset_batch_cache()


def _messages(index: list, column: str, template: str) -> list[str]:
    """Each failing row's message: the column and the rule, never the row's value (the
    messages become published quarantine reasons and findings)."""
    return [template.format(field=_field(column))] * len(index)


def _columns_present(frame: pd.DataFrame, checks: list[Check], contract: Contract) -> list[str]:
    """The columns these checks read, every one of which the frame must have."""
    # GX reports a check on an absent column as failed with no rows named: a frame built
    # without a column a rule reads must stop the run, not pass for a failing rule.
    for check in checks:
        for column in _check_columns([check]):
            if column not in frame.columns:
                raise ValueError(
                    f"{contract.table}: the frame has no column {column}, "
                    f"which rule {check.rule} reads"
                )
    return _check_columns(checks)


def run_suite(
    frame: pd.DataFrame, contract: Contract, row_level: bool = True, part: str = "all"
) -> SuiteResult:
    """Validate a DataFrame against its contract's suite; with row_level, name failing rows."""
    _, batch_definition = load_gx()
    result_format = {"result_format": "COMPLETE" if row_level else "SUMMARY"}
    # An unnamed index makes GX report failing rows as plain index values (our row numbers).
    frame = frame.rename_axis(None)
    results = []
    for kind, narrow in _gx_runs(contract, part, row_level):
        checks = _checks_of(contract, part, kind)
        data = frame[_columns_present(frame, checks, contract)] if narrow else frame
        results += _validated(
            batch_definition, data, build_suite(contract, part, kind), result_format
        )
    outcomes, parts = [], []
    for res in results:
        config = res.expectation_config
        assert config is not None  # every result is of an expectation of our own suite
        meta = config.meta
        detail = res.result or {}
        index = list(detail.get("unexpected_index_list") or [])
        # The report is read by operators, not controllers: no private values as examples,
        # and no raw values of a file at all (GX's unexpected samples are cells as read).
        private = any(name in meta["column"] for name in PRIVATE_COLUMNS)
        hidden = private or contract.layer in RAW_LAYERS
        examples = () if hidden else tuple(detail.get("partial_unexpected_list") or ())[:5]
        if res.exception_info and res.exception_info.get("raised_exception"):
            # GX's exception text can quote the values it choked on, and a run's failure
            # is published (the runs table) and printed: it is named, never quoted.
            raise RuntimeError(
                f"{contract.table}: expectation {meta['rule']} on {meta['column']} crashed "
                "inside Great Expectations (its message is not shown: it can quote the data)"
            )
        outcomes.append(
            ExpectationOutcome(
                suite=contract.table,
                rule=meta["rule"],
                severity=meta["severity"],
                column=meta["column"],
                expectation=config.type,
                success=bool(res.success),
                unexpected_count=int(detail.get("unexpected_count") or (0 if res.success else 1)),
                examples=tuple(str(e) for e in examples),
            )
        )
        if row_level and index:
            parts.append(
                pd.DataFrame(
                    {
                        "row_number": index,
                        "rule": meta["rule"],
                        "severity": meta["severity"],
                        "message": _messages(index, meta["column"], meta["message"]),
                    }
                )
            )
    failures = (
        pd.concat(parts, ignore_index=True)
        if parts
        else pd.DataFrame({"row_number": [], "rule": [], "severity": [], "message": []})
    )
    failures = failures.sort_values(["row_number", "rule"], kind="stable").reset_index(drop=True)
    errors_failed = any(not o.success and o.severity == "error" for o in outcomes)
    return SuiteResult(
        contract.table,
        not errors_failed,
        tuple(outcomes),
        failures,
        quarantines=contract.layer in RAW_LAYERS,
    )
