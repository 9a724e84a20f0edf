"""Read one raw file (CSV, XLSX or Parquet) into text columns named as the standard record.

Every value comes back as text (None where blank) so that parsing, and every reason a value
fails to parse, is decided in one place (pipelines.ingest.parse) whatever the file format.
"""

from __future__ import annotations

import codecs
import csv
from collections import Counter
from collections.abc import Collection
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from pipelines.errors import WhereaboutsError
from pipelines.ingest.unreadable import csv_problem, library_problem
from pipelines.sources.declarations import Source
from pipelines.sources.record import DATE_FIELDS, DATETIME_FIELDS, FIELDS, REQUIRED, SSDA903_COLUMNS

EXTENSIONS = {".csv": "csv", ".txt": "csv", ".xlsx": "xlsx", ".parquet": "parquet"}
DELIMITERS = (",", ";", "|", "\t")
# Excel counts days from 1899-12-30 (its 1900 leap-year bug folded in).
EXCEL_EPOCH = datetime(1899, 12, 30)
# A header row below a title block is looked for this far down an XLSX sheet.
HEADER_SEARCH_ROWS = 30


class RejectedFile(WhereaboutsError, ValueError):
    """A file that cannot be read at all; the message is the one-line reason."""


def file_format(path: Path, source: Source) -> str:
    """The format of a file: the declaration's, else its extension's."""
    if source.format:
        return source.format
    try:
        return EXTENSIONS[path.suffix.lower()]
    except KeyError:
        raise RejectedFile(
            f"unknown file type '{path.suffix}' (use .csv, .xlsx or .parquet)"
        ) from None


def _header(head: bytes) -> str:
    """The header line as text: UTF-8 (a BOM is dropped), else Windows-1252."""
    line = head.removeprefix(codecs.BOM_UTF8).split(b"\n", 1)[0].rstrip(b"\r")
    try:
        return line.decode("utf-8")
    except UnicodeDecodeError:
        return line.decode("cp1252", errors="replace")


def _delimiter(header_line: str) -> str:
    counts = {d: header_line.count(d) for d in DELIMITERS}
    best = max(counts, key=counts.__getitem__)
    if counts[best] == 0:
        raise RejectedFile("no column delimiter found in the header (use , ; | or tab)")
    return best


def read_csv_text(path: Path, keep: Collection[str] | None = None) -> pa.Table:
    """A CSV of any supported encoding and delimiter as an Arrow table of strings: only the
    columns whose lower-cased names are in `keep`, when given.

    Arrow reads the file itself (no copy of it in Python) as UTF-8; only a file that is not
    valid UTF-8 is read again, transcoded from Windows-1252. Columns not kept are parsed
    past, never made into values, so names and addresses are not even held in memory. The
    benchmark's 5.5M-row file, 3 of its 20 columns left out, comes out of Arrow as 1.2 GB
    instead of 1.6 (in 3.5 s instead of 4.1, medians of five, though the whole of reading
    it showed no difference within this machine's noise).
    """
    with path.open("rb") as handle:
        head = handle.read(1 << 16)
    if not head.strip():
        raise RejectedFile("file is empty")
    header = _header(head)
    delimiter = _delimiter(header)
    names = [n.strip() for n in next(csv.reader([header], delimiter=delimiter))]
    if len(set(n.lower() for n in names)) != len(names):
        raise RejectedFile("the header repeats a column name")

    def attempt(encoding: str) -> pa.Table:
        return pacsv.read_csv(
            path,
            read_options=pacsv.ReadOptions(
                column_names=names, skip_rows=1, encoding=encoding, block_size=1 << 24
            ),
            parse_options=pacsv.ParseOptions(delimiter=delimiter, newlines_in_values=True),
            convert_options=pacsv.ConvertOptions(
                column_types={n: pa.string() for n in names},
                strings_can_be_null=True,
                null_values=[""],
                quoted_strings_can_be_null=True,
                include_columns=[n for n in names if keep is None or n.lower() in keep],
            ),
        )

    try:
        try:
            return attempt("utf8")
        except pa.ArrowInvalid as exc:
            if "utf8" not in str(exc).lower():
                raise
            return attempt("cp1252")
    except pa.ArrowInvalid as exc:
        raise RejectedFile(csv_problem(path, names, delimiter, exc)) from None


def _cell_text(value: object) -> str | None:
    if value is None or (isinstance(value, float) and pd.isna(value)) or value is pd.NaT:
        return None
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    text = str(value).strip()
    return text or None


def _excel_serial(text: str | None) -> str | None:
    """A date cell stored as a bare Excel serial number becomes an ISO timestamp."""
    if text is None:
        return None
    try:
        moment = EXCEL_EPOCH + timedelta(days=float(text))
    except (ValueError, OverflowError):
        # Not a number, or no date at all (e.g. '20100304'): kept as text, so the checks
        # quarantine the row as 'not a date' rather than the whole run failing.
        return text
    return moment.replace(microsecond=0).strftime("%Y-%m-%d %H:%M:%S")


def read_xlsx_text(path: Path, source: Source) -> pd.DataFrame:
    """The declared (or first) sheet, its header found below any title block."""
    try:
        # keep_default_na=False: text such as 'N/A' or 'NA' stays text, as in a CSV, so the
        # checks name it instead of it silently becoming blank.
        book = pd.read_excel(
            path,
            sheet_name=None,
            header=None,
            dtype=object,
            engine="calamine",
            nrows=None,
            keep_default_na=False,
        )
    except Exception as exc:  # calamine raises its own types for corrupt workbooks
        raise RejectedFile(library_problem("XLSX workbook", exc)) from None
    if source.sheet:
        if source.sheet not in book:
            raise RejectedFile(f"no sheet named '{source.sheet}' (found: {', '.join(book)})")
        sheet = book[source.sheet]
    else:
        sheet = next(iter(book.values()))
    wanted = {c.lower() for c in required_columns(source)}
    for row in range(min(HEADER_SEARCH_ROWS, len(sheet))):
        cells = [_cell_text(v) for v in sheet.iloc[row]]
        if wanted <= {c.lower() for c in cells if c}:
            header = [c or f"column_{i}" for i, c in enumerate(cells)]
            body = sheet.iloc[row + 1 :].map(_cell_text)
            body.columns = header
            body = body.dropna(how="all").reset_index(drop=True)
            return body
    raise RejectedFile(
        f"no header row with the required columns ({', '.join(required_columns(source))})"
    )


def read_parquet_text(path: Path) -> pa.Table:
    """A Parquet file with every column as text; timestamps as ISO text."""
    try:
        table = pq.read_table(path)
    except (pa.ArrowInvalid, OSError) as exc:
        raise RejectedFile(library_problem("Parquet file", exc)) from None
    columns = []
    for col in table.columns:
        if pa.types.is_timestamp(col.type):
            col = pc.strftime(col, format="%Y-%m-%d %H:%M:%S")
        elif not pa.types.is_string(col.type):
            col = col.cast(pa.string())
        columns.append(col)
    return pa.table(columns, names=table.column_names)


def required_columns(source: Source) -> list[str]:
    if source.is_ssda903:
        return list(SSDA903_COLUMNS)
    return [source.columns[f] for f in REQUIRED]


def _text_column(column: pa.ChunkedArray, strip: bool) -> pa.ChunkedArray:
    """An Arrow text column trimmed where asked, blank as missing."""
    if strip:
        column = pc.utf8_trim_whitespace(column)
    return pc.if_else(pc.equal(column, ""), None, column)


def text_frame(table: pa.Table, rows: pd.Index | None = None) -> pd.DataFrame:
    """Text columns as pandas text, indexed by their row numbers (counted from 0 unless
    `rows` says which rows of a file these are)."""
    index = pd.RangeIndex(table.num_rows, name="row_number") if rows is None else rows
    return pd.DataFrame(
        {name: col.to_pandas(types_mapper=pd.ArrowDtype).astype("str").set_axis(index)
         for name, col in zip(table.column_names, table.columns, strict=True)},
        index=index,
    )  # fmt: skip


def read_text(path: Path, source: Source) -> pd.DataFrame:
    """The file as text columns renamed to the standard record (or SSDA903 names), as pandas."""
    return text_frame(read_text_table(path, source))


def read_text_table(path: Path, source: Source) -> pa.Table:
    """The file as text columns renamed to the standard record (or SSDA903 names).

    Columns the declaration does not map (names, addresses, free text) are dropped here,
    so they never travel further. Rows keep file order: a row's position is its row number.
    It stays Arrow text (32-bit offsets) until a piece is taken: as pandas text (64-bit
    offsets) it is 140 MB per 500,000 rows instead of 108, and a 5.5M-row nightly peaked
    290 MB higher (measured).
    """
    fmt = file_format(path, source)
    # Every standard field is present afterwards; those a source does not send are blank.
    wanted = (
        {c: c for c in SSDA903_COLUMNS}
        if source.is_ssda903
        else {field: source.columns.get(field, "") for field in FIELDS}
    )
    if fmt == "csv":
        table = read_csv_text(path, keep={c.lower() for c in wanted.values() if c})
    elif fmt == "parquet":
        table = read_parquet_text(path)
    else:
        table = pa.Table.from_pandas(
            read_xlsx_text(path, source).astype(object), preserve_index=False
        )
    by_lower = {str(c).strip().lower(): c for c in table.column_names}
    absent = [col for col in required_columns(source) if col.lower() not in by_lower]
    if absent:
        raise RejectedFile(f"required column(s) absent: {', '.join(absent)}")
    originals = {f: by_lower.get(c.lower()) if c else None for f, c in wanted.items()}
    uses = Counter(o for o in originals.values() if o is not None)
    # Memory: unmapped columns go at once, and each mapped one as soon as it is converted,
    # so a large file is never held twice. Two are converted at a time: Arrow's string
    # kernels let go of Python's lock but each runs on one core (5.5M rows: about 1.3 s
    # -> 0.75-1.0 s).
    table, row_count = table.select(list(uses)), table.num_rows
    # DfE's validator reads SSDA903 text as it stands (" M" is not "M"); for parity, so do we.
    strip = not source.is_ssda903
    columns = {}
    with ThreadPoolExecutor(2, thread_name_prefix="whereabouts-read") as converting:
        converted = {
            field: converting.submit(
                lambda column: _text_column(column.cast(pa.string()), strip), table[original]
            )
            for field, original in originals.items()
            if original is not None
        }
        for field, original in originals.items():
            if original is None:
                columns[field] = pa.nulls(row_count, pa.string())
                continue
            values = converted.pop(field).result()
            uses[original] -= 1
            if not uses[original]:
                table = table.drop_columns([original])
            if fmt == "xlsx" and field in DATE_FIELDS + DATETIME_FIELDS:
                serials = values.to_pandas().map(_excel_serial, na_action="ignore")
                values = pa.array(serials, type=pa.string(), from_pandas=True)
            columns[field] = values
    return pa.table(columns)
