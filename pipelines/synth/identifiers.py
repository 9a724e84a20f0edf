"""Fictional identifiers for pipelines.synth: postcodes in areas no UK postcode uses, UPNs
with the DfE check letter, NHS numbers with a valid check digit in a range never issued, and
the sources' own person references."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from pipelines.synth import layouts as sl

# Fictional postcode areas: no UK postcode area begins with Q, V or X.
AREAS = ("QR", "XN", "XE", "XW", "XS")
INWARD_LETTERS = np.array(list("ABDEFGHJLNPQRSTUWXYZ"))
UPN_CHECK_LETTERS = np.array(list("ABCDEFGHJKLMNPQRTUVWXYZ"))


def join_text(*parts: np.ndarray | str) -> np.ndarray:
    """Parts joined into strings (numbers as decimal), as an object array: pyarrow does the
    work, numpy's string functions being slow at this volume."""
    arrays = [p if isinstance(p, str) else pa.array(p).cast(pa.string()) for p in parts]
    return pc.binary_join_element_wise(*arrays, "").to_numpy(zero_copy_only=False)


def zfill(numbers: np.ndarray, width: int) -> pa.Array:
    return pc.utf8_lpad(pa.array(numbers).cast(pa.string()), width, "0")


def _digits(numbers: np.ndarray, width: int) -> np.ndarray:
    """The decimal digits of each number, most significant first, as an (n, width) array."""
    return numbers[:, None] // 10 ** np.arange(width - 1, -1, -1) % 10


def postcodes(rng: np.random.Generator, n: int) -> np.ndarray:
    """n fictional postcodes such as "XN12 3AB"; unrelated children may share one."""
    return join_text(
        np.array(AREAS, object)[rng.integers(0, len(AREAS), n)],
        rng.integers(1, 31, n),
        " ",
        rng.integers(0, 10, n),
        INWARD_LETTERS.astype(object)[rng.integers(0, 20, n)],
        INWARD_LETTERS.astype(object)[rng.integers(0, 20, n)],
    )


def upns(rng: np.random.Generator, n: int) -> np.ndarray:
    """n distinct UPNs: the DfE check letter, then a fictional authority 999 and 9 digits."""
    serial = rng.choice(10**9, n, replace=False)
    weighted = (_digits(serial, 9) * np.arange(5, 14)).sum(axis=1) + 9 * (2 + 3 + 4)
    check = UPN_CHECK_LETTERS.astype(object)[weighted % 23]
    return join_text(check, "999", zfill(serial, 9))


def nhs_numbers(rng: np.random.Generator, n: int) -> np.ndarray:
    """n distinct NHS numbers with a valid modulus-11 check digit, all beginning 9 (a range
    never issued to a person in England); a draw whose check digit would be 10 is no number
    (None), as NHS England never issues one."""
    body = rng.choice(10**8, n, replace=False)
    check = 11 - ((_digits(body, 8) * np.arange(9, 1, -1)).sum(axis=1) + 9 * 10) % 11
    check[check == 11] = 0
    out = join_text("9", zfill(body, 8), check % 10)
    out[check == 10] = None
    return out


def police_refs(source: str, numbers: np.ndarray) -> np.ndarray:
    """A force's person references, as its extracts write them (pipelines.synth.layouts)."""
    layout = sl.POLICE_LAYOUTS[source]
    assert layout.person_ref is not None
    return layout.person_ref(numbers).to_numpy(zero_copy_only=False).astype(object)


def council_refs(numbers: np.ndarray) -> np.ndarray:
    """The council's child ids (SSDA903 CHILD), as its files write them."""
    return sl.riverton_child(numbers).to_numpy(zero_copy_only=False).astype(object)


def distinct(parts: list[np.ndarray]) -> int:
    """Distinct non-negative ints; a presence table beats np.unique's sort at 5M rows."""
    values = np.concatenate(parts)
    if len(values) == 0:
        return 0
    if values.max() > 8 * len(values) + 1_000_000:  # sparse keys: the table would be huge
        return len(np.unique(values))
    present = np.zeros(int(values.max()) + 1, bool)
    present[values] = True
    return int(present.sum())
