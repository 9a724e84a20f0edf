"""Read one raw file (CSV, XLSX or Parquet) into text columns named as the standard record.

Every value comes back as text (None where blank) so that parsing, and every reason a value
fails to parse, is decided in one place (pipelines.ingest.parse) whatever the file format.
"""

from __future__ import annotations

import codecs
import csv
import dataclasses
import re
import zipfile
from collections import Counter
from collections.abc import Collection
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from pipelines.errors import WhereaboutsError
from pipelines.ingest.unreadable import library_problem
from pipelines.sources.declarations import Source
from pipelines.sources.record import (
    CROSS_REFERENCES,
    DATE_FIELDS,
    DATETIME_FIELDS,
    FIELDS,
    IDENTITY_ONLY,
    REQUIRED,
    SSDA903_COLUMNS,
)

EXTENSIONS = {".csv": "csv", ".txt": "csv", ".xlsx": "xlsx", ".parquet": "parquet"}
DELIMITERS = (",", ";", "|", "\t")
# Excel counts days from 1899-12-30 (its 1900 leap-year bug folded in); a workbook saved in
# the 1904 date system (workbookPr date1904, old Mac Excel) counts them from 1904-01-01.
EXCEL_EPOCH = datetime(1899, 12, 30)
EXCEL_EPOCH_1904 = datetime(1904, 1, 1)
DATE_1904 = re.compile(rb"<(?:\w+:)?workbookPr\b[^>]*\bdate1904\s*=\s*[\"'](?:1|true)[\"']")
# Clock times are UK clock times: zoned Parquet timestamps are converted to this zone.
UK_ZONE = "Europe/London"
# A header row below a title block is looked for this far down an XLSX sheet.
HEADER_SEARCH_ROWS = 30


class RejectedFile(WhereaboutsError, ValueError):
    """A file that cannot be read at all; the message is the one-line reason (the ingest
    puts the file's name in front of it). It never quotes a cell of the file."""


# Rule of the quarantine reason of a CSV row whose field count is not the header's.
FIELD_COUNT_RULE = "field_count"


@dataclass
class TextFile:
    """A file read as text: its rows (a row's position is its row number) and the rows that
    could not be split into the header's fields (position -> their quarantine reason), which
    are in `table` as rows of blanks so that every later row keeps its number."""

    table: pa.Table
    malformed: dict[int, str] = dataclasses.field(default_factory=dict)
    # A workbook's sheets without the header row, which were not read (notes, lookups, or a
    # sheet whose header was mistyped): the file's ledger row names them.
    sheets_not_read: tuple[str, ...] = ()


# The first bytes of files that are not CSV text, and what they look like.
SIGNATURES = (
    (b"PK\x03\x04", "it looks like an XLSX workbook or another zip archive"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "it looks like an old Excel .xls workbook"),
    (b"PAR1", "it looks like a Parquet file"),
    (b"%PDF", "it looks like a PDF"),
)


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


def _not_text(head: bytes) -> str | None:
    """Why the first bytes of a .csv file say it is not CSV text in a supported encoding."""
    for signature, looks in SIGNATURES:
        if head.startswith(signature):
            return f"not a CSV text file ({looks})"
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "CSV in UTF-16, which is not supported (save it as UTF-8 or Windows-1252)"
    if b"\x00" in head:
        line = head.split(b"\n", 1)[0]
        # UTF-16 without a byte-order mark: every other byte of ASCII text is a zero byte.
        if len(line) >= 4 and (
            line[1::2].count(0) > len(line) // 4 or line[0::2].count(0) > len(line) // 4
        ):
            return "CSV in UTF-16, which is not supported (save it as UTF-8 or Windows-1252)"
        return "not a CSV text file (it holds binary data)"
    return None


def _header(head: bytes) -> str:
    """The header line as text: UTF-8 (a BOM is dropped), else Windows-1252. A line ends at
    LF, CRLF or a lone CR (old Mac line endings, which Arrow reads too)."""
    line = re.split(rb"\r\n?|\n", head.removeprefix(codecs.BOM_UTF8), maxsplit=1)[0]
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
    columns whose lower-cased names are in `keep`, when given (rows of the wrong field count
    as rows of blanks: see read_csv_rows)."""
    return read_csv_rows(path, keep).table


def read_csv_rows(path: Path, keep: Collection[str] | None = None) -> TextFile:
    """A CSV of any supported encoding and delimiter as an Arrow table of strings: only the
    columns whose lower-cased names are in `keep`, when given.

    Arrow reads the file itself (no copy of it in Python) as UTF-8; only a file that is not
    valid UTF-8 is read again, transcoded from Windows-1252. Columns not kept are parsed
    past, never made into values, so names and addresses are not even held in memory. The
    benchmark's 5.5M-row file, 3 of its 20 columns left out, comes out of Arrow as 1.2 GB
    instead of 1.6 (in 3.5 s instead of 4.1, medians of five, though the whole of reading
    it showed no difference within this machine's noise).

    A row with more or fewer fields than the header is that row's fault, not the file's:
    it becomes a row of blanks, listed in `malformed` with its reason.
    """
    with path.open("rb") as handle:
        head = handle.read(1 << 16)
    if not head.strip():
        raise RejectedFile("file is empty")
    not_text = _not_text(head)
    if not_text:
        raise RejectedFile(not_text)
    header = _header(head)
    delimiter = _delimiter(header)
    try:
        names = [n.strip() for n in next(csv.reader([header], delimiter=delimiter))]
    except csv.Error:
        raise RejectedFile("the header row cannot be split into columns") from None
    if len(set(n.lower() for n in names)) != len(names):
        raise RejectedFile("the header repeats a column name")

    def attempt(encoding: str, serial: bool = False) -> tuple[pa.Table, list]:
        wrong: list = []

        def skip(row: pacsv.InvalidRow) -> str:
            wrong.append((row.number, row.actual_columns))
            return "skip"

        table = pacsv.read_csv(
            path,
            read_options=pacsv.ReadOptions(
                column_names=names,
                skip_rows=1,
                encoding=encoding,
                block_size=1 << 24,
                use_threads=not serial,
            ),
            parse_options=pacsv.ParseOptions(
                delimiter=delimiter, newlines_in_values=True, invalid_row_handler=skip
            ),
            convert_options=pacsv.ConvertOptions(
                column_types={n: pa.string() for n in names},
                strings_can_be_null=True,
                null_values=[""],
                quoted_strings_can_be_null=True,
                include_columns=[n for n in names if keep is None or n.lower() in keep],
            ),
        )
        if wrong and any(number is None for number, _ in wrong):
            # Arrow numbers the rows it skips only when it reads on one thread.
            return attempt(encoding, serial=True)
        return table, wrong

    try:
        try:
            table, wrong = attempt("utf8")
        except pa.ArrowInvalid as exc:
            if "utf8" not in str(exc).lower():
                raise
            table, wrong = attempt("cp1252")
    except pa.ArrowInvalid as exc:
        # A row with the wrong number of fields was set aside above (that row's quarantine);
        # anything else Arrow cannot parse rejects the file, never quoting its text.
        raise RejectedFile(library_problem("CSV", exc)) from None
    return _with_blank_rows(table, wrong, len(names))


def _with_blank_rows(table: pa.Table, wrong: list, header_fields: int) -> TextFile:
    """The rows read, with a row of blanks wherever Arrow skipped one for its field count."""
    if not wrong:
        return TextFile(table)
    # Arrow counts records from the header (1), blank lines not counted: data row n is n + 2.
    malformed = {
        number - 2: (
            f"{FIELD_COUNT_RULE}: the row has {fields} field{'s' if fields != 1 else ''} "
            f"where the header has {header_fields}"
        )
        for number, fields in wrong
    }
    blank = np.zeros(table.num_rows + len(malformed), dtype=bool)
    blank[list(malformed)] = True
    take = np.zeros(len(blank), dtype=np.int64)
    take[~blank] = np.arange(table.num_rows)
    return TextFile(table.take(pa.array(take, mask=blank)), malformed)


def _to_second(moment: datetime) -> datetime:
    """A moment rounded to the nearest second: Excel keeps times as fractions of a day, so
    midnight can come back as 23:59:59.999 of the day before."""
    return (moment + timedelta(microseconds=500_000)).replace(microsecond=0)


def _cell_text(value: object) -> str | None:
    if value is None or (isinstance(value, float) and pd.isna(value)) or value is pd.NaT:
        return None
    if isinstance(value, datetime):
        return _to_second(value).strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    text = str(value).strip()
    return text or None


def _excel_serial(text: str | None, epoch: datetime = EXCEL_EPOCH) -> str | None:
    """A date cell stored as a bare Excel serial number becomes an ISO timestamp, to the
    nearest second."""
    if text is None:
        return None
    try:
        moment = epoch + timedelta(seconds=round(float(text) * 86_400))
    except (ValueError, OverflowError):
        # Not a number, or no date at all (e.g. '20100304'): kept as text, so the checks
        # quarantine the row as 'not a date' rather than the whole run failing.
        return text
    return moment.strftime("%Y-%m-%d %H:%M:%S")


def excel_epoch(path: Path) -> datetime:
    """The day a workbook's serial numbers count from: its date system (1900 or 1904)."""
    try:
        with zipfile.ZipFile(path) as book:
            workbook = book.read("xl/workbook.xml")
    except (zipfile.BadZipFile, KeyError, OSError):
        return EXCEL_EPOCH
    return EXCEL_EPOCH_1904 if DATE_1904.search(workbook) else EXCEL_EPOCH


def _sheet_rows(name: str, sheet: pd.DataFrame, wanted: set[str]) -> pd.DataFrame | None:
    """A sheet's rows below its header row (found below any title block), or None where the
    sheet has no header row with the wanted columns."""
    for row in range(min(HEADER_SEARCH_ROWS, len(sheet))):
        cells = [_cell_text(v) for v in sheet.iloc[row]]
        if wanted <= {c.lower() for c in cells if c}:
            # Names as lower case, so that sheets spelling a column differently line up.
            header = [(c or f"column_{i}").lower() for i, c in enumerate(cells)]
            if len(set(header)) != len(header):
                raise RejectedFile(f"the header on sheet '{name}' repeats a column name")
            body = sheet.iloc[row + 1 :].map(_cell_text)
            body.columns = header
            return body.dropna(how="all").reset_index(drop=True)
    return None


def read_xlsx_text(path: Path, source: Source) -> tuple[pd.DataFrame, tuple[str, ...]]:
    """The declared sheet, or else every sheet with the header row, one after another in
    the workbook's order; a header is found below any title block. Sheets without it (notes,
    lookups) are not read: their names come second."""
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
        book = {source.sheet: book[source.sheet]}
    wanted = {c.lower() for c in required_columns(source)}
    bodies, not_read = [], []
    for name, sheet in book.items():
        body = _sheet_rows(str(name), sheet, wanted)
        if body is None:
            not_read.append(str(name))
        else:
            bodies.append(body)
    if not bodies:
        raise RejectedFile(
            f"no header row with the required columns ({', '.join(required_columns(source))})"
        )
    if len(bodies) == 1:
        return bodies[0], tuple(not_read)
    frame = pd.concat(bodies, ignore_index=True).astype(object).where(lambda f: f.notna(), None)
    return frame, tuple(not_read)


def read_parquet_text(path: Path) -> pa.Table:
    """A Parquet file with every column as text; timestamps as ISO text, a timestamp with a
    time zone as the UK clock time it was (Europe/London), like every other time."""
    try:
        table = pq.read_table(path)
    except (pa.ArrowInvalid, OSError) as exc:
        raise RejectedFile(library_problem("Parquet file", exc)) from None
    columns = []
    for name, col in zip(table.column_names, table.columns, strict=True):
        try:
            if pa.types.is_timestamp(col.type):
                if col.type.tz is not None:
                    col = col.cast(pa.timestamp(col.type.unit, tz=UK_ZONE))
                col = pc.strftime(col, format="%Y-%m-%d %H:%M:%S")
            elif not pa.types.is_string(col.type):
                col = col.cast(pa.string())
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            raise RejectedFile(f"column '{name}' cannot be read as text") from None
        columns.append(col)
    return pa.table(columns, names=table.column_names)


def required_columns(source: Source) -> list[str]:
    """The columns a file of this source must have: an identity layout's every column."""
    if source.is_ssda903:
        return list(SSDA903_COLUMNS)
    if source.is_identity_only:
        # Cross-references are recorded only where a form has a box for them.
        return [c for f, c in source.columns.items() if f not in CROSS_REFERENCES]
    return [source.columns[f] for f in REQUIRED]


def read_fields(source: Source) -> dict[str, str]:
    """Field -> this source's column for every field a file is read into: an identity layout's
    own, else the standard record's (blank where unmapped) and the identity columns mapped."""
    if source.is_ssda903:
        return {c: c for c in SSDA903_COLUMNS}
    if source.is_identity_only:
        return dict(source.columns)
    identities = {f: source.columns[f] for f in IDENTITY_ONLY if source.columns.get(f)}
    return {field: source.columns.get(field, "") for field in FIELDS} | identities


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
    """The file as text columns renamed to the standard record (or SSDA903 names), as pandas;
    a CSV row of the wrong field count is a row of blanks (read_text_file says which)."""
    return text_frame(read_text_file(path, source).table)


def read_text_file(path: Path, source: Source) -> TextFile:
    """The file as text columns renamed to the standard record (or SSDA903 names), and the
    rows that could not be split into the header's fields.

    Columns the declaration does not map (names, addresses, free text) are dropped here,
    so they never travel further. Rows keep file order: a row's position is its row number.
    It stays Arrow text (32-bit offsets) until a piece is taken: as pandas text (64-bit
    offsets) it is 140 MB per 500,000 rows instead of 108, and a 5.5M-row nightly peaked
    290 MB higher (measured).

    Whatever is wrong with the file's bytes is a RejectedFile with a reason, never a
    library's error: one bad file must not stop the others.
    """
    fmt = file_format(path, source)
    try:
        return _read_text_file(path, source, fmt)
    except (pa.ArrowException, csv.Error, UnicodeError, zipfile.BadZipFile) as exc:
        # A library's message may quote the file's text: the reason names only its kind.
        raise RejectedFile(f"not a readable {fmt.upper()} file ({type(exc).__name__})") from None


def _read_text_file(path: Path, source: Source, fmt: str) -> TextFile:
    # Every standard field is present afterwards; those a source does not send are blank.
    # Identity columns are read only where the file has them (pipelines.ingest.identities
    # splits them off at once).
    wanted = read_fields(source)
    malformed: dict[int, str] = {}
    not_read: tuple[str, ...] = ()
    epoch = EXCEL_EPOCH
    if fmt == "csv":
        read = read_csv_rows(path, keep={c.lower() for c in wanted.values() if c})
        table, malformed = read.table, read.malformed
    elif fmt == "parquet":
        table = read_parquet_text(path)
    else:
        frame, not_read = read_xlsx_text(path, source)
        table = pa.Table.from_pandas(frame.astype(object), preserve_index=False)
        epoch = excel_epoch(path)
    by_lower = {str(c).strip().lower(): c for c in table.column_names}
    absent = [col for col in required_columns(source) if col.lower() not in by_lower]
    if absent:
        raise RejectedFile(f"required column(s) absent: {', '.join(absent)}")
    originals = {f: by_lower.get(c.lower()) if c else None for f, c in wanted.items()}
    if not source.is_identity_only:
        originals = {f: o for f, o in originals.items() if o is not None or f not in IDENTITY_ONLY}
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
                serials = values.to_pandas().map(
                    lambda text: _excel_serial(text, epoch), na_action="ignore"
                )
                values = pa.array(serials, type=pa.string(), from_pandas=True)
            columns[field] = values
    return TextFile(pa.table(columns), malformed, not_read)
