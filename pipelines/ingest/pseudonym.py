"""Pseudonymous child ids: a keyed hash (HMAC-SHA256) of the source and person reference.

The key lives outside the repository (WHEREABOUTS_KEY_FILE, or a file created 0600 in the
user's config folder on first run). Without the key nobody can link an id to a child; with
it, `whereabouts lookup` can, from the private working store.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import stat
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from pipelines import settings
from pipelines.db import row_aligned
from pipelines.errors import ConfigurationError, MissingInput

KEY_BYTES = 32
# 16 bytes of the digest (32 hex characters): collisions are negligible at national scale.
ID_HEX_CHARS = 32


def key_path() -> Path:
    """Where the key is: WHEREABOUTS_KEY_FILE if set, else the user's config folder."""
    configured = os.environ.get(settings.KEY_FILE_ENV)
    return Path(configured) if configured else settings.DEFAULT_KEY_FILE


@dataclass(frozen=True)
class KeyFile:
    """The pseudonymisation key, where it is, and whether this process has just made it."""

    path: Path
    key: bytes = field(repr=False)
    created: bool = False

    @property
    def fingerprint(self) -> str:
        return key_fingerprint(self.key)


def key_fingerprint(key: bytes) -> str:
    """What a store keeps to recognise its key: an HMAC of a fixed label, never the key."""
    return hmac.new(key, FINGERPRINT_LABEL, hashlib.sha256).hexdigest()


# The label whose HMAC identifies a key (key_fingerprint).
FINGERPRINT_LABEL = b"whereabouts pseudonymisation key fingerprint v1"


def load_key(create: bool = True) -> bytes:
    """The pseudonymisation key, created (mode 0600) on first use when allowed."""
    return key_file(create).key


def key_file(create: bool = True) -> KeyFile:
    """The pseudonymisation key file, created (mode 0600) on first use when allowed.

    Refused when it sits inside the project folder (it would be copied, backed up and
    shared with the code) or when its group or others may read or write it.
    """
    path = key_path()
    _refuse_inside_project(path)
    created = False
    if not path.exists():
        if not create:
            raise MissingInput(f"{path}: no pseudonymisation key (run 'whereabouts nightly')")
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as handle:
            handle.write(secrets.token_hex(KEY_BYTES))
        created = True
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        raise ConfigurationError(
            f"{path}: the pseudonymisation key is open to group or others (mode {mode:04o}); "
            f"run 'chmod 600 {path}'"
        )
    text = path.read_text().strip()
    if len(text) < 32:
        raise ConfigurationError(
            f"{path}: the key is too short (expected {KEY_BYTES * 2} hex characters)"
        )
    return KeyFile(path, text.encode(), created)


def _refuse_inside_project(path: Path) -> None:
    root = settings.PROJECT_ROOT
    if not (root / "schemas").is_dir():  # not a project folder (e.g. the working directory)
        return
    if path.resolve().is_relative_to(root.resolve()):
        raise ConfigurationError(
            f"{path}: the pseudonymisation key is inside the project folder {root}; move it "
            f"outside the project and set {settings.KEY_FILE_ENV} to its new place"
        )


# HMAC's block size for SHA-256, in bytes (RFC 2104: a longer key is hashed first).
SHA256_BLOCK_BYTES = 64

# HMAC-SHA256 of each value, run by DuckDB on both cores and without Python's lock (1.9
# million references: 1.5 s, against 3.4-4.2 s for Python's hmac one by one, which also held
# up the thread typing the first rows beside it). RFC 2104: H(outer pad || H(inner pad ||
# message)), the message here the source, a unit separator, then the value.
KEYED_HASH_SQL = """
select left(sha256($outer::blob || unhex(sha256($inner::blob || encode(value)))), $chars) as id
from hashed_values
"""


def _pads(key: bytes, source: str) -> dict[str, bytes]:
    """The two keyed prefixes HMAC-SHA256 hashes a message after (RFC 2104), the inner one
    followed by the start of every message: the source and a unit separator."""
    if len(key) > SHA256_BLOCK_BYTES:
        key = hashlib.sha256(key).digest()
    key = key.ljust(SHA256_BLOCK_BYTES, b"\x00")
    inner = bytes(b ^ 0x36 for b in key) + f"{source}\x1f".encode()
    return {"inner": inner, "outer": bytes(b ^ 0x5C for b in key)}


def keyed_hashes(key: bytes, source: str, values: pa.Array) -> pa.Array:
    """The pseudonymous id of each value in one source (HMAC-SHA256 of source and value,
    its first ID_HEX_CHARS hex characters), in the values' order; a null stays null."""
    values = pa.table({"value": values.cast(pa.string())})
    parameters = _pads(key, source) | {"chars": ID_HEX_CHARS}
    return row_aligned(KEYED_HASH_SQL, {"hashed_values": values}, parameters)["id"].combine_chunks()


def child_id(key: bytes, source: str, person_ref: str) -> str:
    """The pseudonymous id of one child in one source: HMAC-SHA256 of source and reference."""
    return keyed_hashes(key, source, pa.array([person_ref]))[0].as_py()


class ChildIds:
    """The child_id of every row of a file, each distinct reference's computed once.

    A large file is checked in pieces, and a child's episodes fall in several of them:
    computing ids piece by piece hashed most references more than once (18 of 138 profiled
    seconds of a 5.4M-row nightly), and finding each piece's references among the file's
    1.9 million took 9 s more; each row's place among them is now found once.
    """

    def __init__(self, key: bytes, source: str, refs: pa.ChunkedArray | pa.Array) -> None:
        if isinstance(refs, pa.ChunkedArray):
            refs = refs.combine_chunks()
        # Arrow finds the distinct references and each row's place among them in one pass
        # (5.5 million rows: 1.0-1.2 s, where finding them and then placing the rows took
        # 1.8-2.0 s), each is hashed once, and `of_rows` puts each id back in place.
        encoded = pc.dictionary_encode(refs)
        self.refs, self.place = encoded.dictionary, encoded.indices
        self.ids = keyed_hashes(key, source, self.refs)
        self.given = np.zeros(len(self.refs), dtype=bool)  # people `persons` has given

    def of_rows(self, rows: pd.Index) -> pd.Series:
        """child_id of the file's rows at these positions (a file's row numbers, which
        count its data rows from 0), indexed by them."""
        placed = pc.take(self.ids, pc.take(self.place, pa.array(rows.to_numpy())))
        return placed.to_pandas().astype("str").set_axis(rows)

    def persons(self, rows: pd.Index) -> pd.DataFrame:
        """child_id and person_ref of each child with a row at these positions and none at
        positions asked about before, so a file's pieces give each of its children once."""
        # Distinct places, not distinct strings: pandas' drop_duplicates on the ids took
        # 0.3 s a run of 500,000 rows; and storing the benchmark's big file spent 1.8 s
        # de-duplicating the people its pieces had staged (over 4 million, for 1.9 million).
        places = pc.unique(pc.take(self.place, pa.array(rows.to_numpy()))).drop_null()
        places = places.to_numpy()
        places = places[~self.given[places]]
        self.given[places] = True
        return pd.DataFrame(
            {
                "child_id": pd.Series(pc.take(self.ids, places), dtype="str"),
                "person_ref": pd.Series(pc.take(self.refs, places), dtype="str"),
            }
        )


def child_ids(key: bytes, source: str, person_refs: pd.Series) -> pd.Series:
    """child_id for each person reference (computed once per distinct reference)."""
    ids = ChildIds(key, source, pa.array(person_refs, type=pa.string(), from_pandas=True))
    return ids.of_rows(pd.RangeIndex(len(person_refs))).set_axis(person_refs.index)
