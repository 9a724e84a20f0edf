"""Table contracts (schemas/tables/*.yml): the one description of every table.

Great Expectations suites, COMMENT ON statements and the data dictionary are all made from
these files, so no second copy is ever kept by hand.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import yaml

from pipelines.errors import ConfigurationError
from pipelines.settings import TABLES_DIR
from pipelines.sources.record import CODES

COLUMN_KEYS = {"name", "type", "description", "not_null", "unique", "allowed", "min", "max"}
EXPECTS = {"not_null", "blank", "allowed", "unique", "a_after_b", "between"}
# libyaml's safe loader where PyYAML has it: the same documents, read 8x faster (the
# pure-Python one took 0.46 s for the contracts, most of a nightly's curated suite).
SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@dataclass(frozen=True)
class Column:
    name: str
    type: str
    description: str
    not_null: bool = False
    unique: bool = False
    allowed: tuple | None = None
    min: object = None
    max: object = None


@dataclass(frozen=True)
class Check:
    rule: str
    severity: str
    expect: str
    message: str
    columns: tuple[str, ...] = ()
    a: str | None = None
    b: str | None = None
    or_equal: bool = False


@dataclass(frozen=True)
class Contract:
    table: str
    layer: str
    grain: str
    description: str
    columns: tuple[Column, ...]
    checks: tuple[Check, ...] = field(default_factory=tuple)

    def column(self, name: str) -> Column:
        return next(c for c in self.columns if c.name == name)

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]


def _column(path: Path, raw: dict) -> Column:
    unknown = set(raw) - COLUMN_KEYS
    if unknown:
        raise ConfigurationError(
            f"{path}: column {raw.get('name')}: unknown key {sorted(unknown)[0]}"
        )
    allowed = raw.get("allowed")
    if allowed == "codes":  # the standard record's code list for this field, stated once
        if raw["name"] not in CODES:
            raise ConfigurationError(f"{path}: column {raw['name']}: no standard code list")
        allowed = CODES[raw["name"]]
    return Column(
        name=raw["name"],
        type=raw["type"],
        description=raw["description"],
        not_null=bool(raw.get("not_null", False)),
        unique=bool(raw.get("unique", False)),
        allowed=tuple(allowed) if allowed is not None else None,
        min=raw.get("min"),
        max=raw.get("max"),
    )


def _check(path: Path, raw: dict) -> Check:
    if raw.get("expect") not in EXPECTS:
        raise ConfigurationError(
            f"{path}: check {raw.get('rule')}: expect must be one of {EXPECTS}"
        )
    if raw.get("severity") not in ("error", "warning"):
        raise ConfigurationError(
            f"{path}: check {raw.get('rule')}: severity must be error or warning"
        )
    if "{value}" in raw["message"]:
        # Findings, quarantine reasons and the report are published: a message names the
        # column and the rule, never a value of the row (that stays in the working store).
        raise ConfigurationError(
            f"{path}: check {raw.get('rule')}: a message may name {{field}} but never quote "
            "a {value}"
        )
    return Check(
        rule=raw["rule"],
        severity=raw["severity"],
        expect=raw["expect"],
        message=raw["message"],
        columns=tuple(raw.get("columns", ())),
        a=raw.get("a"),
        b=raw.get("b"),
        or_equal=bool(raw.get("or_equal", False)),
    )


@cache
def load_contract(table: str, folder: Path = TABLES_DIR) -> Contract:
    """The contract of one table, by name."""
    path = folder / f"{table}.yml"
    raw = yaml.load(path.read_text(encoding="utf-8"), Loader=SAFE_LOADER)  # noqa: S506
    return Contract(
        table=raw["table"],
        layer=raw["layer"],
        grain=raw["grain"],
        description=" ".join(str(raw.get("description", "")).split()),
        columns=tuple(_column(path, c) for c in raw["columns"]),
        checks=tuple(_check(path, c) for c in raw.get("checks", ())),
    )


def curated_tables(folder: Path = TABLES_DIR) -> list[str]:
    """Names of the tables published to analysts, in contract-file order."""
    names = [p.stem for p in sorted(folder.glob("*.yml"))]
    return [n for n in names if load_contract(n, folder).layer == "curated"]
