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
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from pipelines import settings

KEY_BYTES = 32
# 16 bytes of the digest (32 hex characters): collisions are negligible at national scale.
ID_HEX_CHARS = 32


def key_path() -> Path:
    """Where the key is: WHEREABOUTS_KEY_FILE if set, else the user's config folder."""
    configured = os.environ.get(settings.KEY_FILE_ENV)
    return Path(configured) if configured else settings.DEFAULT_KEY_FILE


def load_key(create: bool = True) -> bytes:
    """The pseudonymisation key, created (mode 0600) on first use when allowed."""
    path = key_path()
    if not path.exists():
        if not create:
            raise FileNotFoundError(f"{path}: no pseudonymisation key (run 'whereabouts nightly')")
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as handle:
            handle.write(secrets.token_hex(KEY_BYTES))
    text = path.read_text().strip()
    if len(text) < 32:
        raise ValueError(f"{path}: the key is too short (expected {KEY_BYTES * 2} hex characters)")
    return text.encode()


def _keyed(key: bytes, source: str) -> hmac.HMAC:
    # Keyed and fed the source once, then copied per reference: a quarter faster over
    # millions of references than keying each one afresh.
    return hmac.new(key, f"{source}\x1f".encode(), hashlib.sha256)


def _id_of(keyed: hmac.HMAC, person_ref: str) -> str:
    digest = keyed.copy()
    digest.update(person_ref.encode())
    return digest.hexdigest()[:ID_HEX_CHARS]


def child_id(key: bytes, source: str, person_ref: str) -> str:
    """The pseudonymous id of one child in one source: HMAC-SHA256 of source and reference."""
    return _id_of(_keyed(key, source), person_ref)


class ChildIds:
    """The child_id of every row of a file, each distinct reference's computed once.

    A large file is checked in pieces, and a child's episodes fall in several of them:
    computing ids piece by piece hashed most references more than once (18 of 138 profiled
    seconds of a 5.4M-row nightly), and finding each piece's references among the file's
    1.9 million took 9 s more; each row's place among them is now found once.
    """

    def __init__(self, key: bytes, source: str, refs: pa.ChunkedArray | pa.Array) -> None:
        keyed = _keyed(key, source)
        if isinstance(refs, pa.ChunkedArray):
            refs = refs.combine_chunks()
        # Only the HMAC itself runs per reference in Python; Arrow finds the distinct
        # references and each row's place among them in one pass (5.5 million rows: 1.0-1.2 s,
        # where finding them and then placing the rows took 1.8-2.0 s), and in `of_rows` puts
        # each id back in place.
        encoded = pc.dictionary_encode(refs)
        self.refs, self.place = encoded.dictionary, encoded.indices
        self.ids = pa.array([_id_of(keyed, ref) for ref in self.refs.to_pylist()], type=pa.string())
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
