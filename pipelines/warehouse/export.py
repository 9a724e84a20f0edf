"""`whereabouts export`: the curated tables as Parquet or CSV for other tools."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from pipelines.db import SHARED_FILE_MODE, connect, private_files, shared_folder
from pipelines.errors import MissingInput
from pipelines.warehouse.build import CURATED

# A spreadsheet runs a cell that starts with one of these as a formula (CSV injection).
FORMULA_START = r"^[=+\-@]"


def spreadsheet_safe(column: pa.ChunkedArray) -> pa.ChunkedArray:
    """Text cells that a spreadsheet would run as a formula, prefixed with a quote."""
    if not pa.types.is_string(column.type):
        return column
    risky = pc.match_substring_regex(column, FORMULA_START)
    return pc.if_else(risky, pc.binary_join_element_wise("'", column, ""), column)


def export_tables(db: Path, out: Path, fmt: str) -> list[Path]:
    """Write every curated table to `out` as <table>.parquet or <table>.csv.

    Each file is the published database's rows, so it gets the database's mode (0640, in a
    folder the group may list): written private, then opened to the group when whole.
    """
    if not db.exists():
        raise MissingInput(f"{db}: no published database (run 'whereabouts nightly')")
    shared_folder(out)
    con = connect(db, read_only=True)
    written = []
    try:
        for table in CURATED:
            data = con.sql(f"select * from {table}").to_arrow_table()
            path = out / f"{table}.{fmt}"
            with private_files():
                if fmt == "parquet":
                    pq.write_table(data, path)
                else:
                    safe = pa.table(
                        [spreadsheet_safe(c) for c in data.columns], names=data.column_names
                    )
                    pacsv.write_csv(safe, path)
            path.chmod(SHARED_FILE_MODE)
            written.append(path)
    finally:
        con.close()
    return written
