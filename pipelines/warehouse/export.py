"""`whereabouts export`: the curated tables as Parquet, CSV or XLSX for other tools.

Parquet files carry each column's meaning from the table's contract in their schema metadata
(field metadata `description`; the table's `description` and `grain` on the schema), and an
XLSX workbook carries them on a second sheet, so an export explains itself away from the
data dictionary.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from pipelines.db import SHARED_FILE_MODE, connect, one_row, private_files, shared_folder
from pipelines.errors import MissingInput, UsageError
from pipelines.quality.contracts import load_contract
from pipelines.warehouse.build import CURATED

# A spreadsheet runs a cell that starts with one of these as a formula (CSV injection).
FORMULA_START = r"^[=+\-@]"
# Rows a worksheet holds below its header row.
XLSX_MAX_ROWS = 1_048_575


def spreadsheet_safe(column: pa.ChunkedArray) -> pa.ChunkedArray:
    """Text cells that a spreadsheet would run as a formula, prefixed with a quote."""
    if not pa.types.is_string(column.type):
        return column
    risky = pc.match_substring_regex(column, FORMULA_START)
    return pc.if_else(risky, pc.binary_join_element_wise("'", column, ""), column)


def described(data: pa.Table, table: str) -> pa.Table:
    """The table's rows with its contract's meanings in the schema metadata."""
    contract = load_contract(table)
    meaning = {c.name: c.description for c in contract.columns}
    fields = [f.with_metadata({"description": meaning.get(f.name, "")}) for f in data.schema]
    schema = pa.schema(
        fields, metadata={"description": contract.description, "grain": contract.grain}
    )
    return pa.Table.from_arrays(data.columns, schema=schema)


def export_tables(db: Path, out: Path, fmt: str) -> list[Path]:
    """Write every curated table to `out` as <table>.parquet, .csv or .xlsx.

    Each file is the published database's rows, so it gets the database's mode (0640, in a
    folder the group may list): written private, then opened to the group when whole.
    """
    if not db.exists():
        raise MissingInput(f"{db}: no published database (run 'whereabouts nightly')")
    shared_folder(out)
    con = connect(db, read_only=True)
    written = []
    try:
        if fmt == "xlsx":
            _check_fits_a_sheet(con)
        for table in CURATED:
            data = described(con.sql(f"select * from {table}").to_arrow_table(), table)
            path = out / f"{table}.{fmt}"
            with private_files():
                _write(data, table, path, fmt)
            path.chmod(SHARED_FILE_MODE)
            written.append(path)
    finally:
        con.close()
    return written


def _check_fits_a_sheet(con: duckdb.DuckDBPyConnection) -> None:
    """Refuse, before writing anything, a table too long for one worksheet."""
    for table in CURATED:
        (rows,) = one_row(con, f"select count(*) from {table}")
        if rows > XLSX_MAX_ROWS:
            raise UsageError(
                f"{table}: {rows:,} rows is more than a worksheet holds ({XLSX_MAX_ROWS:,}); "
                "export as parquet or csv"
            )


def _write(data: pa.Table, table: str, path: Path, fmt: str) -> None:
    if fmt == "parquet":
        pq.write_table(data, path)
    elif fmt == "csv":
        safe = pa.table([spreadsheet_safe(c) for c in data.columns], names=data.column_names)
        pacsv.write_csv(safe, path)
    else:
        _write_xlsx(data, data.schema, table, path)


def _write_xlsx(data: pa.Table, schema: pa.Schema, table: str, path: Path) -> None:
    """The rows on a sheet named after the table, each column's meaning on a second."""
    import pandas as pd

    columns = pd.DataFrame(
        {
            "column": schema.names,
            "meaning": [f.metadata[b"description"].decode() for f in schema],
        }
    )
    # Text stays text: no cell becomes a formula or a link, whatever it starts with.
    options = {"strings_to_formulas": False, "strings_to_urls": False}
    with pd.ExcelWriter(path, engine="xlsxwriter", engine_kwargs={"options": options}) as xlsx:
        data.to_pandas().to_excel(xlsx, sheet_name=table[:31], index=False)
        columns.to_excel(xlsx, sheet_name="columns", index=False)
