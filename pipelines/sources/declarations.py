"""Source declarations (schemas/sources/<name>.yaml): load, check, explain errors."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any, TypedDict

import yaml

from pipelines.errors import ConfigurationError
from pipelines.sources.record import (
    CODES,
    FIELDS,
    IDENTITY_FIELDS,
    IDENTITY_LAYOUTS,
    IDENTITY_ONLY,
    LAYOUT_VALUES,
    REQUIRED,
    canonical_code,
)

REGIMES = ("single", "two_tier", "continuum")
LAYOUTS = ("standard", "ssda903_missing", *IDENTITY_LAYOUTS)
FORMATS = ("csv", "xlsx", "parquet")
TOP_KEYS = {"name", "agency", "description", "layout", "regimes"}
MAPPING_KEYS = {"format", "sheet", "columns", "codes"}


class DeclarationError(ConfigurationError):
    """A source declaration that cannot be used; the message names the file and key."""


@dataclass(frozen=True)
class RegimeChange:
    starts: date
    regime: str


@dataclass(frozen=True)
class Source:
    name: str
    kind: str  # "standard", "ssda903_missing", "mapped", or an identity layout (cme, ...)
    file: Path
    fingerprint: str  # changes whenever the declaration's meaning changes
    description: str = ""
    format: str | None = None  # None: decided by each file's extension
    sheet: str | None = None
    # standard field -> this source's column name (identity for the standard layout)
    columns: dict[str, str] = field(default_factory=dict)
    # standard field -> {this source's code, upper-cased: standard code}
    codes: dict[str, dict[str, str]] = field(default_factory=dict)
    regimes: tuple[RegimeChange, ...] | None = None
    # Sources of one agency share person references (a council's SSDA903 and its own
    # case-management extract); left empty, it is the source's own name.
    agency: str = ""

    def __post_init__(self) -> None:
        if not self.agency:
            object.__setattr__(self, "agency", self.name)

    @property
    def is_ssda903(self) -> bool:
        return self.kind == "ssda903_missing"

    @property
    def is_identity_only(self) -> bool:
        """A layout of identities alone (ssda903_header, la_children, cme): no episodes."""
        return self.kind in IDENTITY_LAYOUTS


def _fail(path: Path, key: str, problem: str) -> DeclarationError:
    return DeclarationError(f"{path}: key '{key}': {problem}")


def _parse_regimes(path: Path, raw: object) -> tuple[RegimeChange, ...]:
    if not isinstance(raw, list) or not raw:
        raise _fail(path, "regimes", "must be a list of {from: YYYY-MM-DD, regime: NAME}")
    changes: list[RegimeChange] = []
    for i, item in enumerate(raw):
        key = f"regimes[{i}]"
        if not isinstance(item, dict) or set(item) != {"from", "regime"}:
            raise _fail(path, key, "needs exactly the keys 'from' and 'regime'")
        if item["regime"] not in REGIMES:
            raise _fail(path, key, f"unknown regime '{item['regime']}' (use {', '.join(REGIMES)})")
        starts = item["from"]
        if not isinstance(starts, date):
            try:
                starts = date.fromisoformat(str(starts))
            except ValueError:
                raise _fail(path, key, f"'from' is not a YYYY-MM-DD date: {starts!r}") from None
        if changes and starts == changes[-1].starts:
            # Two regimes from one day would leave which one applies to chance.
            raise _fail(path, key, f"starts on {starts}, the same day as regimes[{i - 1}]")
        changes.append(RegimeChange(starts, item["regime"]))
    if [c.starts for c in changes] != sorted(c.starts for c in changes):
        raise _fail(path, "regimes", "dates must be in increasing order")
    return tuple(changes)


class _Mapping(TypedDict):
    """The Source fields a mapped layout declares."""

    format: str | None
    sheet: str | None
    columns: dict[str, str]
    codes: dict[str, dict[str, str]]


class _Common(TypedDict):
    """The Source fields every layout shares."""

    name: str
    agency: str
    file: Path
    fingerprint: str
    description: str
    regimes: tuple[RegimeChange, ...] | None


def _parse_codes(path: Path, raw: dict[str, Any]) -> dict[str, dict[str, str]]:
    codes: dict[str, dict[str, str]] = {}
    for std, table in raw.items():
        if std not in CODES:
            raise _fail(path, f"layout.codes.{std}", "this field has no code list")
        if not isinstance(table, dict):
            raise _fail(
                path, f"layout.codes.{std}", "must map this source's codes to standard ones"
            )
        mapped = {}
        for theirs, ours in table.items():
            if isinstance(theirs, bool) or isinstance(ours, bool):
                raise _fail(
                    path,
                    f"layout.codes.{std}",
                    "YAML read a code as true/false: quote codes like YES, NO, ON, OFF",
                )
            standard = canonical_code(std, str(ours))
            if standard not in CODES[std]:
                raise _fail(
                    path, f"layout.codes.{std}.{theirs}", f"'{ours}' is not a standard {std} code"
                )
            mapped[str(theirs).strip().upper()] = standard
        codes[std] = mapped
    return codes


def _parse_mapping(path: Path, raw: dict[str, Any]) -> _Mapping:
    unknown = set(raw) - MAPPING_KEYS
    if unknown:
        raise _fail(
            path, f"layout.{sorted(unknown)[0]}", f"unknown key (use {sorted(MAPPING_KEYS)})"
        )
    fmt = raw.get("format")
    if fmt is not None and fmt not in FORMATS:
        raise _fail(path, "layout.format", f"unknown format '{fmt}' (use {', '.join(FORMATS)})")
    columns = raw.get("columns")
    if not isinstance(columns, dict):
        raise _fail(path, "layout.columns", "must map standard fields to this source's columns")
    for std in columns:
        if std not in FIELDS and std not in IDENTITY_FIELDS:
            raise _fail(
                path, f"layout.columns.{std}", "not a field of the standard record or an identity"
            )
    for std in REQUIRED:
        if not columns.get(std):
            raise _fail(path, f"layout.columns.{std}", "required field has no mapping")
    codes = _parse_codes(path, raw.get("codes") or {})
    return {
        "format": fmt,
        "sheet": raw.get("sheet"),
        "columns": {std: str(col) for std, col in columns.items()},
        "codes": codes,
    }


def _agency(path: Path, raw: object) -> str:
    if not isinstance(raw, str) or not raw.strip():
        raise _fail(path, "agency", "must be a name (leave it out to use the source's name)")
    return raw.strip()


def _text_keys(value: object) -> object:
    """Every mapping key as text, so keys YAML read as numbers ({1: Y, N: N}) sort together."""
    if isinstance(value, dict):
        return {str(k): _text_keys(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_text_keys(v) for v in value]
    return value


def load_source(path: Path) -> Source:
    """Read and check one declaration; raise DeclarationError naming the file and key."""
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, ValueError) as exc:
        # ValueError: not UTF-8, or a date that is not real (from: 2016-13-01).
        raise DeclarationError(f"{path}: not valid YAML: {str(exc).splitlines()[0]}") from None
    if not isinstance(raw, dict):
        raise DeclarationError(f"{path}: must be a mapping with at least 'name' and 'layout'")
    unknown = set(raw) - TOP_KEYS
    if unknown:
        raise _fail(path, sorted(unknown)[0], f"unknown key (use {', '.join(sorted(TOP_KEYS))})")
    for key in ("name", "layout"):
        if key not in raw:
            raise _fail(path, key, "missing")
    name = str(raw["name"])
    if name != path.stem:
        raise _fail(path, "name", f"'{name}' must match the file name '{path.stem}'")
    if ":" in name:
        # An episode's id is <source>:<episode_ref>; a colon in a source's name would let
        # two sources' episodes share one (a:b + c and a + b:c).
        raise _fail(path, "name", f"'{name}' must not contain ':' (episode ids use it)")
    layout = raw["layout"]
    regimes = _parse_regimes(path, raw["regimes"]) if "regimes" in raw else None
    fingerprint = hashlib.sha256(
        json.dumps(_text_keys(raw), sort_keys=True, default=str).encode()
    ).hexdigest()
    common: _Common = {
        "name": name,
        "agency": _agency(path, raw.get("agency", name)),
        "file": path,
        "fingerprint": fingerprint[:16],
        "description": str(raw.get("description", "")),
        "regimes": regimes,
    }
    if isinstance(layout, dict):
        return Source(kind="mapped", **common, **_parse_mapping(path, layout))
    if layout not in LAYOUTS:
        raise _fail(
            path, "layout", f"unknown layout '{layout}' (use {', '.join(LAYOUTS)} or a mapping)"
        )
    if layout == "ssda903_missing" and regimes is not None:
        raise _fail(path, "regimes", "an SSDA903 table has no police recording regime")
    if layout in IDENTITY_LAYOUTS and regimes is not None:
        raise _fail(path, "regimes", f"a {layout} file has no episodes, so no recording regime")
    columns = (
        {f: f for f in (*FIELDS, *IDENTITY_ONLY)}
        if layout == "standard"
        else dict(IDENTITY_LAYOUTS.get(layout, {})) | LAYOUT_VALUES.get(layout, {})
    )
    return Source(kind=layout, columns=columns, **common)


def load_sources(folder: Path) -> dict[str, Source]:
    """Every declaration in a folder, by name; the first bad one stops the run."""
    if not folder.is_dir():
        raise DeclarationError(f"{folder}: no such folder of source declarations")
    found = sorted(folder.glob("*.yaml")) + sorted(folder.glob("*.yml"))
    if not found:
        raise DeclarationError(f"{folder}: no source declarations (*.yaml)")
    return {s.name: s for s in map(load_source, found)}
