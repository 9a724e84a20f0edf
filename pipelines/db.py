"""DuckDB connections with the network switched off and memory capped: the ground floor
every stage opens databases through."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from pipelines import settings

# Extensions are never fetched at run time: nothing may leave the machine. Memory is capped
# (settings.DUCKDB_MEMORY_LIMIT) and the rest spills to disk.
DUCKDB_CONFIG: dict[str, str | bool | int | float | list[str]] = {
    "autoinstall_known_extensions": False,
    "autoload_known_extensions": False,
    "memory_limit": settings.DUCKDB_MEMORY_LIMIT,
    # Tables are written in whatever order is fastest unless a model says ORDER BY.
    "preserve_insertion_order": False,
}


def connect(path: Path, read_only: bool = False, **config: str) -> duckdb.DuckDBPyConnection:
    """A connection to a DuckDB file with network access switched off (plus any `config`)."""
    if not read_only:
        path.parent.mkdir(parents=True, exist_ok=True)
    return duckdb.connect(str(path), read_only=read_only, config=DUCKDB_CONFIG | config)


def one_row(con: duckdb.DuckDBPyConnection, sql: str) -> tuple[Any, ...]:
    """The row of a query that always returns exactly one (an aggregate with no GROUP BY)."""
    row = con.execute(sql).fetchone()
    if row is None:
        raise LookupError(f"expected one row, got none: {sql}")
    return row


def row_aligned(sql: str, tables: dict[str, pa.Table], params: dict | None = None) -> pa.Table:
    """An in-memory DuckDB's answer to `sql` over Arrow `tables` (by name), its rows in the
    order of their input."""
    # Row order is the answer when a result is set back beside its input: the setting that
    # drops it (DUCKDB_CONFIG) reorders results past about 300,000 rows.
    con = duckdb.connect(config=DUCKDB_CONFIG | {"preserve_insertion_order": True})
    try:
        for name, table in tables.items():
            con.register(name, table)
        return con.sql(sql, params=params).to_arrow_table()
    finally:
        con.close()
