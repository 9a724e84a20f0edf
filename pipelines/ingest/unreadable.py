"""Why a raw file could not be read, in words that never quote the file.

A reading library's error can quote what it choked on: pyarrow's CSV parser quotes the whole
offending line (a child's name, address, reference and date of birth). The reason becomes
the file's ledger message, which is published (`ingest_files`) and shown in the validation
report, so it says where and what was wrong instead: the file is the ledger row's, the row
number and the fault are here. A library message is kept only when it is one of a few
fixed texts known to quote nothing.
"""

from __future__ import annotations

import re
from contextlib import suppress
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv

# "Expected 20 columns, got 21": the counts, whatever follows (the line itself) is dropped.
_FIELD_COUNT = re.compile(r"Expected (\d+) columns, got (\d+)")
# pyarrow names the file (the operator's path, not its contents) before some messages.
_SOURCE_PREFIX = re.compile(r"^Could not open Parquet input source '.*?': ")
# Library messages that quote nothing of a file, kept as they are.
SAFE_MESSAGES = tuple(
    re.compile(pattern)
    for pattern in (
        r"Cannot detect file format",
        r"Parquet magic bytes not found in footer\. Either the file is corrupted or this is "
        r"not a parquet file\.",
        r"Parquet file size is \d+ bytes(, smaller than the minimum file footer \(\d+ bytes\))?",
        r"straddling object straddles two block boundaries \(try to increase block size\?\)",
    )
)


def library_problem(kind: str, exc: BaseException) -> str:
    """A file a library could not read: its message if it is a known safe one, else the
    error's kind alone."""
    lines = str(exc).splitlines()
    first = _SOURCE_PREFIX.sub("", lines[0]) if lines else ""
    if any(pattern.fullmatch(first) for pattern in SAFE_MESSAGES):
        return f"not a readable {kind}: {first}"
    return (
        f"not a readable {kind} ({type(exc).__name__}; the reader's message is not kept, "
        "as it can quote the file's contents)"
    )


def first_bad_row(path: Path, names: list[str], delimiter: str) -> int | None:
    """The number of the first row whose fields do not match the header (the header is row
    1; a quoted value over several lines is one row), or None if none is found."""
    found: list[int | None] = []

    def note(row: pacsv.InvalidRow) -> str:
        found.append(row.number)
        return "error"

    first = names[0]
    # The handler's "error" stops the read at the first bad row, which is all this needs.
    with suppress(pa.ArrowInvalid):
        # Bytes, one column, one thread: only the row structure is read, in order (rows are
        # numbered only when read on one thread), and nothing is decoded.
        pacsv.read_csv(
            path,
            read_options=pacsv.ReadOptions(
                column_names=names, skip_rows=1, use_threads=False, block_size=1 << 24
            ),
            parse_options=pacsv.ParseOptions(
                delimiter=delimiter, newlines_in_values=True, invalid_row_handler=note
            ),
            convert_options=pacsv.ConvertOptions(
                include_columns=[first], column_types={first: pa.binary()}
            ),
        )
    return found[0] if found else None


def csv_problem(path: Path, names: list[str], delimiter: str, exc: pa.ArrowInvalid) -> str:
    """Why a CSV could not be parsed: the row and what was wrong with it, never its text."""
    count = _FIELD_COUNT.search(str(exc))
    if count is None:
        return library_problem("CSV", exc)
    expected, got = count.groups()
    row = first_bad_row(path, names, delimiter)
    where = f"row {row} of the file (the header is row 1)" if row is not None else "a row"
    return f"not a readable CSV: {where} has {got} fields where the header has {expected}"
