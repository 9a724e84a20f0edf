"""Why a raw file could not be read, in words that never quote the file.

A reading library's error can quote what it choked on: pyarrow's CSV parser quotes the whole
offending line (a child's name, address, reference and date of birth). The reason becomes
the file's ledger message, which is published (`ingest_files`) and shown in the validation
report, so a library message is kept only when it is one of a few fixed texts known to quote
nothing. (A row with the wrong number of fields is not the file's fault: readers.py sets it
aside as that row's quarantine, naming the two counts.)
"""

from __future__ import annotations

import re

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
