"""The data dictionary (docs/data-dictionary.md), generated from the table contracts.

`python -m pipelines.warehouse.dictionary` rewrites it; a test fails when the committed file
differs, so the dictionary, the database comments and the suites never drift apart.
"""

from __future__ import annotations

from pipelines import settings
from pipelines.quality.contracts import load_contract
from pipelines.warehouse.build import CURATED

DICTIONARY = settings.PROJECT_ROOT / "docs" / "data-dictionary.md"


def _cell(value: object) -> str:
    return str(value).replace("|", "\\|")


def render() -> str:
    lines = [
        "# Data dictionary",
        "",
        "The curated tables in `data/curated/whereabouts.duckdb`. Generated from",
        "`schemas/tables/*.yml` by `python -m pipelines.warehouse.dictionary`; the same text is",
        "in the database as `COMMENT ON` (see `duckdb_columns()`), and the same contracts",
        "generate the Great Expectations suites that gate publishing.",
        "",
    ]
    for table in CURATED:
        contract = load_contract(table)
        lines += [f"## `{table}`", "", f"**Grain:** {contract.grain}.", ""]
        if contract.description:
            lines += [contract.description, ""]
        lines += ["| column | type | meaning | rules |", "|---|---|---|---|"]
        for col in contract.columns:
            rules = []
            if col.not_null:
                rules.append("not null")
            if col.unique:
                rules.append("unique")
            if col.allowed is not None:
                rules.append("one of " + ", ".join(f"`{v}`" for v in col.allowed))
            if col.min is not None and col.max is not None:
                rules.append(f"between {col.min} and {col.max}")
            elif col.min is not None:
                rules.append(f"at least {col.min}")
            elif col.max is not None:
                rules.append(f"at most {col.max}")
            meaning, checks = _cell(col.description), _cell("; ".join(rules))
            lines.append(f"| `{col.name}` | {col.type} | {meaning} | {checks} |")
        lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    DICTIONARY.write_text(render(), encoding="utf-8")
    print(DICTIONARY)
