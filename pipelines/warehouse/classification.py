"""The classification decision table (`rules:` in schemas/classification.yml), read once.

The build registers it as `classification_rules`, from which int_episodes_classified.sql takes
each rule's category and basis; the table in docs/classification.md is rendered from it.
`python -m pipelines.warehouse.classification` rewrites that table; a test fails when the
committed file differs, so the YAML, the build and the docs never drift apart.
"""

from __future__ import annotations

import copy
import functools
import re
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import yaml

from pipelines import settings
from pipelines.errors import ConfigurationError
from pipelines.quality.contracts import load_contract

# libyaml's parser where the wheel has it (it does on Linux), else the pure-Python one.
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

DOC = settings.PROJECT_ROOT / "docs" / "classification.md"
START, END = "<!-- rules:start -->", "<!-- rules:end -->"

# Ids are written into SQL string literals and parsed back out of the SQL by a test.
RULE_ID = re.compile(r"[a-z][a-z0-9_]*")
RULE_KEYS = ("rule", "regime", "when", "category", "basis")
REGIMES = ("SSDA903", "single", "two_tier", "continuum", "any")
# Categories not fixed by the rule, which the SQL works out per episode; as the docs say them.
CATEGORY_TOKENS = {
    "as_recorded": "as recorded",
    "by_risk_grade": "absent if no apparent risk, else missing",
}


@dataclass(frozen=True)
class Rule:
    rule: str
    regime: str
    when: str
    category: str  # a category of the episodes contract, or one of CATEGORY_TOKENS
    basis: str


def load_classification(path: Path | None = None) -> dict:
    """The classification file as parsed YAML (a copy: callers may not change the cache's).

    A build reads it five times (settings, regimes, rules, and again for its fingerprint);
    parsed once per version of the file, a test that builds hundreds of tiny databases no
    longer spends a fifth of each build in the YAML parser."""
    path = path or settings.CLASSIFICATION_FILE
    stat = path.stat()
    return copy.deepcopy(_parsed(path, stat.st_mtime_ns, stat.st_size))


@functools.cache
def _parsed(path: Path, mtime_ns: int, size: int) -> dict:
    return yaml.load(path.read_text(encoding="utf-8"), Loader=_LOADER) or {}


def classification_rules(path: Path | None = None) -> list[Rule]:
    """The rules in first-match order; a one-line ValueError naming the file and rule for a
    rule the build could not apply."""
    path = path or settings.CLASSIFICATION_FILE
    raw = load_classification(path)
    if not isinstance(raw.get("rules"), list) or not raw["rules"]:
        raise ConfigurationError(f"{path}: no `rules:` list")
    episodes = load_contract("episodes")
    categories = (*(episodes.column("category").allowed or ()), *CATEGORY_TOKENS)
    bases = episodes.column("category_basis").allowed or ()
    rules: list[Rule] = []
    for i, entry in enumerate(raw["rules"], start=1):
        name = entry.get("rule") if isinstance(entry, dict) else None
        where = f"{path}: rule {name or f'#{i}'}"
        if not isinstance(entry, dict) or set(entry) != set(RULE_KEYS):
            keys = sorted(entry) if isinstance(entry, dict) else entry
            raise ConfigurationError(
                f"{where}: needs exactly the keys {', '.join(RULE_KEYS)}, has {keys}"
            )
        if not isinstance(name, str) or not RULE_ID.fullmatch(name):
            raise ConfigurationError(f"{where}: a rule id is lower_snake_case")
        if any(r.rule == name for r in rules):
            raise ConfigurationError(f"{where}: duplicate rule id")
        if entry["regime"] not in REGIMES:
            raise ConfigurationError(
                f"{where}: unknown regime {entry['regime']!r} (one of {REGIMES})"
            )
        if entry["category"] not in categories:
            raise ConfigurationError(
                f"{where}: unknown category {entry['category']!r} (one of {categories})"
            )
        if entry["basis"] not in bases:
            raise ConfigurationError(f"{where}: unknown basis {entry['basis']!r} (one of {bases})")
        rules.append(Rule(*(str(entry[key]) for key in RULE_KEYS)))
    return rules


def rules_table(rules: list[Rule] | None = None) -> pd.DataFrame:
    """The rules as the build registers them: one row per rule, `priority` 1 matched first."""
    rules = classification_rules() if rules is None else rules
    rows = [(r.rule, i, r.regime, r.when, r.category, r.basis) for i, r in enumerate(rules, 1)]
    return pd.DataFrame(rows, columns=["rule", "priority", "regime", "when", "category", "basis"])


def _cell(value: str) -> str:
    return value.replace("|", "\\|")


def render_table(rules: list[Rule]) -> str:
    """The decision table in Markdown, between its markers."""
    lines = [
        START,
        "<!-- Generated from `rules:` in schemas/classification.yml by",
        "     python -m pipelines.warehouse.classification: edit the YAML, not this table. -->",
        "",
        "| rule | regime | when | category | basis |",
        "|---|---|---|---|---|",
    ]
    for r in rules:
        category = CATEGORY_TOKENS.get(r.category, r.category)
        lines.append(
            f"| `{r.rule}` | {r.regime} | {_cell(r.when)} | {_cell(category)} | {r.basis} |"
        )
    return "\n".join([*lines, END])


def render(doc: str, rules: list[Rule] | None = None) -> str:
    """`doc` (docs/classification.md) with the table between the markers rendered afresh."""
    rules = classification_rules() if rules is None else rules
    if doc.count(START) != 1 or doc.count(END) != 1 or doc.index(START) > doc.index(END):
        raise ConfigurationError(f"{DOC}: needs one {START} line before one {END} line")
    before, rest = doc.split(START)
    _, after = rest.split(END)
    return before + render_table(rules) + after


if __name__ == "__main__":
    DOC.write_text(render(DOC.read_text(encoding="utf-8")), encoding="utf-8")
    print(DOC)
