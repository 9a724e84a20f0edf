"""Each check kind as a SQL aggregate counts what Great Expectations counts on every row.

One tiny table per case, in a real DuckDB file, run through both: the SQL aggregates
(aggregates.sql_suite) and GX on the whole table (run_suite), and for a passing table the
curated GX path too (curated.gx_suite), whose outcomes the SQL path must give exactly.
"""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

import duckdb
import pytest

from pipelines.quality.aggregates import _literal, sql_suite, unexpected_sql
from pipelines.quality.contracts import Check, Column, Contract
from pipelines.quality.curated import gx_suite
from pipelines.quality.suites import run_suite

NAN = float("nan")
CONTRACT = Contract(
    table="tiny",
    layer="curated",
    grain="one row per thing",
    description="A table with one rule of every kind.",
    columns=(
        Column("id", "VARCHAR", "key", not_null=True, unique=True),
        Column("kind", "VARCHAR", "a code", allowed=("a", "b")),
        Column("n", "BIGINT", "a count", not_null=True, min=0, max=10),
        Column("share", "DOUBLE", "a share", min=0, max=1),
        Column("weight", "DOUBLE", "a measure", not_null=True),
        Column("starts", "TIMESTAMP", "start"),
        Column("ends", "TIMESTAMP", "end"),
        Column("note", "VARCHAR", "left empty"),
    ),
    checks=(
        Check("ends_after_starts", "error", "a_after_b", "{field} before start", (), "ends",
              "starts", or_equal=True),
        Check("ends_strictly_after_starts", "error", "a_after_b", "{field} not after start",
              (), "ends", "starts"),
        Check("note_blank", "warning", "blank", "{field} is filled", ("note",)),
    ),
)  # fmt: skip
GOOD = [
    ("a1", "a", 0, 0.0, 1.5, "2024-01-01 10:00", "2024-01-01 12:00", None),
    ("a2", "b", 10, 1.0, 2.0, "2024-01-02 10:00", "2024-01-02 10:01", None),
    ("a3", None, 5, None, 0.0, "2024-01-03 10:00", None, None),
]


def _with(row: int, **values: object) -> list[tuple]:
    names = [c.name for c in CONTRACT.columns]
    rows = [list(r) for r in GOOD]
    for name, value in values.items():
        rows[row][names.index(name)] = value
    return [tuple(r) for r in rows]


# (rows, the outcome of the rule under test: rule, column, success, unexpected rows)
CASES = {
    "not_null_passes": (GOOD, ("not_null", "id", True, 0)),
    "not_null_null": (_with(0, id=None), ("not_null", "id", False, 1)),
    "not_null_nan_is_missing": (_with(1, weight=NAN), ("not_null", "weight", False, 1)),
    "not_null_null_double": (_with(2, weight=None), ("not_null", "weight", False, 1)),
    "unique_passes": (GOOD, ("unique", "id", True, 0)),
    "unique_every_repeat_counts": (_with(1, id="a1") + [GOOD[0]], ("unique", "id", False, 3)),
    "unique_ignores_nulls": (_with(0, id=None) + _with(0, id=None)[:1], ("unique", "id", True, 0)),
    "allowed_passes_and_ignores_nulls": (GOOD, ("allowed", "kind", True, 0)),
    "allowed_outside": (_with(0, kind="z") + _with(0, id="a4", kind="z")[:1],
                        ("allowed", "kind", False, 2)),
    "range_passes_at_both_bounds": (GOOD, ("range", "n", True, 0)),
    "range_below_min": (_with(0, n=-1), ("range", "n", False, 1)),
    "range_above_max": (_with(1, n=11), ("range", "n", False, 1)),
    "range_ignores_nan": (_with(0, share=NAN), ("range", "share", True, 0)),
    "range_double_above_max": (_with(0, share=1.5), ("range", "share", False, 1)),
    "a_after_b_passes_ignoring_missing": (GOOD, ("ends_after_starts", "ends,starts", True, 0)),
    "a_after_b_before": (_with(0, ends="2024-01-01 09:00"),
                         ("ends_after_starts", "ends,starts", False, 1)),
    "a_after_b_or_equal": (_with(1, ends="2024-01-02 10:00"),
                           ("ends_after_starts", "ends,starts", True, 0)),
    "a_after_b_strict_equal": (_with(1, ends="2024-01-02 10:00"),
                               ("ends_strictly_after_starts", "ends,starts", False, 1)),
    "blank_passes": (GOOD, ("note_blank", "note", True, 0)),
    "blank_filled": (_with(0, note="x") + _with(1, note="y")[1:2],
                     ("note_blank", "note", False, 2)),
    "columns_match_contract_passes": (GOOD, ("columns_match_contract", "*", True, 0)),
}  # fmt: skip


def _table(
    folder: Path, rows: list[tuple], extra_column: bool = False
) -> duckdb.DuckDBPyConnection:
    """A DuckDB file holding the contract's table with these rows."""
    con = duckdb.connect(str(folder / "tiny.duckdb"))
    columns = ", ".join(f"{c.name} {c.type}" for c in CONTRACT.columns)
    con.execute(f"create table tiny ({columns})")
    con.executemany(f"insert into tiny values ({', '.join('?' * len(CONTRACT.columns))})", rows)
    if extra_column:
        con.execute("alter table tiny add column person_ref varchar")
    return con


def _view(outcomes: tuple, rule: str, column: str) -> list[tuple]:
    return [
        (o.rule, o.column, o.success, o.unexpected_count)
        for o in outcomes
        if (o.rule, o.column) == (rule, column)
    ]


def _gx_on_every_row(con: duckdb.DuckDBPyConnection) -> tuple:
    frame = con.sql("select * from tiny").to_arrow_table().to_pandas()
    return run_suite(frame, CONTRACT, row_level=False).outcomes


@pytest.mark.parametrize(("rows", "expected"), CASES.values(), ids=CASES.keys())
def test_sql_check_counts_what_gx_counts(tmp_path: Path, rows, expected) -> None:
    con = _table(tmp_path, rows)
    rule, column = expected[:2]
    assert _view(sql_suite(con, CONTRACT).outcomes, rule, column) == [expected]
    assert _view(_gx_on_every_row(con), rule, column) == [expected]


def test_a_table_that_passes_gets_the_gx_paths_own_outcomes(tmp_path: Path) -> None:
    con = _table(tmp_path, GOOD)
    result = sql_suite(con, CONTRACT)
    assert result == gx_suite(con, CONTRACT)
    assert result.success and len(result.outcomes) == 11


def test_a_column_outside_the_contract_fails_the_column_set(tmp_path: Path) -> None:
    con = _table(tmp_path, GOOD, extra_column=True)
    expected = [("columns_match_contract", "*", False, 1)]
    assert _view(sql_suite(con, CONTRACT).outcomes, *expected[0][:2]) == expected
    assert _view(_gx_on_every_row(con), *expected[0][:2]) == expected
    # Its rules may read columns the table lacks: that one outcome decides (GX runs next).
    assert len(sql_suite(con, CONTRACT).outcomes) == 1


def test_a_warning_that_fails_leaves_the_suite_passing(tmp_path: Path) -> None:
    con = _table(tmp_path, _with(0, note="x"))
    result = sql_suite(con, CONTRACT)
    assert result.success
    assert [o.rule for o in result.outcomes if not o.success] == ["note_blank"]


def test_a_value_without_a_sql_literal_is_refused() -> None:
    contract = Contract("t", "curated", "g", "d", (Column("c", "DATE", "d", min=object()),))
    check = Check("range", "error", "between", "{field} is out of range", ("c",))
    with pytest.raises(ValueError, match="type object has no SQL literal"):
        unexpected_sql(check, "c", contract, {"c": "DATE"})


LITERALS = {
    "text_quoted": ("it's", "'it''s'", "it's"),
    "whole_number": (17, "17", 17),
    "double_not_decimal": (0.1, "0.1::double", 0.1),
    "boolean": (True, "true", True),
    "date": (date(2024, 1, 2), "date '2024-01-02'", date(2024, 1, 2)),
    "time": (
        datetime(2024, 1, 2, 3, 4),
        "timestamp '2024-01-02 03:04:00'",
        datetime(2024, 1, 2, 3, 4),
    ),
}


@pytest.mark.parametrize(("value", "sql", "read"), LITERALS.values(), ids=LITERALS.keys())
def test_contract_values_become_sql_literals_of_their_own_type(value, sql, read) -> None:
    assert _literal(value) == sql
    assert duckdb.sql(f"select {sql}").fetchall() == [(read,)]
