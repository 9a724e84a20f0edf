"""The SQL models under `sql/`, by layer, and the order they are built in.

Each model is one file named after the table or view it makes. The order is worked out from
what each model reads (the names after `from` and `join`), never kept by hand: adding a model
is adding a file.
"""

from __future__ import annotations

import heapq
import re
from dataclasses import dataclass
from functools import cache
from graphlib import TopologicalSorter
from pathlib import Path

from pipelines import settings

# Folders in the order a reader meets them: staging reads the working store (`work.`) and
# nothing else does; intermediate steps are views folded into the tables; marts are what
# analysts query; audit says how the night went.
LAYERS = ("staging", "intermediate", "marts", "audit")
# Layers built as views (never written to the published file) rather than tables.
VIEW_LAYERS = ("staging", "intermediate")
_COMMENT = re.compile(r"--[^\n]*")
_READS = re.compile(r"\b(?:from|join)\s+([a-z_][a-z0-9_]*(?:\.[a-z_][a-z0-9_]*)?)", re.I)
# `name as (` opens a CTE: a name the model defines for itself, not one it reads...
_CTES = re.compile(r"\b([a-z_][a-z0-9_]*)\s+as\s+\(", re.I)
# ...except an import CTE, `name as (select * from table)`, which reads the table even when it
# takes the table's own name.
_IMPORTS = re.compile(
    r"\b([a-z_][a-z0-9_]*)\s+as\s+\(\s*select\s+\*\s+from\s+"
    r"([a-z_][a-z0-9_]*(?:\.[a-z_][a-z0-9_]*)?)\s*\)",
    re.I,
)


@dataclass(frozen=True)
class Model:
    name: str
    layer: str
    path: Path
    reads: frozenset[str]  # other models (and `work.` tables) it selects from

    @property
    def sql(self) -> str:
        return self.path.read_text(encoding="utf-8")

    @property
    def is_view(self) -> bool:
        return self.layer in VIEW_LAYERS


def model_reads(sql: str) -> set[str]:
    """Names a model's SQL selects from or joins, other than its own CTEs (callers keep the
    models among them)."""
    code = _COMMENT.sub("", sql)
    defined = {name.lower() for name in _CTES.findall(code)}
    imported = {
        table.lower()
        for cte, table in _IMPORTS.findall(code)
        if cte.lower() == table.lower() or table.lower() not in defined
    }
    return imported | ({name.lower() for name in _READS.findall(code)} - defined)


@cache
def load_models(folder: Path = settings.SQL_DIR) -> dict[str, Model]:
    """Every model under `folder`, by name, in build order."""
    paths = {p.stem: p for layer in LAYERS for p in sorted((folder / layer).glob("*.sql"))}
    reads = {name: model_reads(path.read_text(encoding="utf-8")) for name, path in paths.items()}
    graph = {name: {r for r in reads[name] if r in paths and r != name} for name in paths}
    rank = {name: (LAYERS.index(paths[name].parent.name), name) for name in paths}
    sorter = TopologicalSorter(graph)
    sorter.prepare()
    ready: list[tuple[tuple[int, str], str]] = []
    order: list[str] = []
    while sorter.is_active():
        # One at a time, the lowest layer first, then by name: a stable order that reads
        # staging, intermediate, marts, audit.
        for name in sorter.get_ready():
            heapq.heappush(ready, (rank[name], name))
        _, name = heapq.heappop(ready)
        order.append(name)
        sorter.done(name)
    return {
        name: Model(
            name,
            paths[name].parent.name,
            paths[name],
            frozenset(r for r in reads[name] if r in paths or r.startswith("work.")),
        )
        for name in order
    }


def ancestors(name: str, models: dict[str, Model]) -> list[str]:
    """The models `name` reads, directly or not, in build order."""
    seen: set[str] = set()
    todo = [name]
    while todo:
        for read in models[todo.pop()].reads:
            if read in models and read not in seen:
                seen.add(read)
                todo.append(read)
    return [m for m in models if m in seen]
