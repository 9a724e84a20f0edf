"""The tree shows the flow: each stage imports only the stages below it, and no module
imports another that imports it back."""

from __future__ import annotations

import ast
from graphlib import CycleError, TopologicalSorter
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "pipelines"
# From the ground floor up; a module may import its own package and any package below it.
STAGES = (
    "ground",  # pipelines.settings, pipelines.db, pipelines.errors, pipelines.progress
    "sources",
    "synth",
    "quality",
    "ingest",
    "identity",
    "warehouse",
    "briefing",
    "orchestration",
    "cli",
)
# What each stage may import besides itself, as its __init__ docstring says: narrower than
# "any stage below", where a stage below is not one it needs (briefing reads the published
# database by table name; the pipeline never reads what the generator knows).
MAY_IMPORT = {
    "ground": set(),
    "sources": {"ground"},
    "synth": {"ground", "sources"},
    "quality": {"ground", "sources"},
    "ingest": {"ground", "sources", "quality"},
    "identity": {"ground", "sources", "quality", "ingest", "synth"},  # synth: training only
    "warehouse": {"ground", "sources", "quality", "identity"},
    "briefing": {"ground"},
    "orchestration": set(STAGES) - {"orchestration", "cli", "synth"},
    "cli": set(STAGES) - {"cli"},
}
GROUND = {
    "pipelines",
    "pipelines.settings",
    "pipelines.db",
    "pipelines.errors",
    "pipelines.progress",
}


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def stage_of(module: str) -> str:
    if module in GROUND:
        return "ground"
    if module == "pipelines.__main__":
        return "cli"
    return module.split(".")[1]


def imports_of(path: Path) -> set[str]:
    """The pipelines modules a file imports, at the top or inside functions."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("pipelines")}
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("pipelines"):
            for alias in node.names:
                candidate = f"{node.module}.{alias.name}"
                submodule = PACKAGE.parent / Path(*candidate.split("."))
                is_module = submodule.with_suffix(".py").exists() or submodule.is_dir()
                found.add(candidate if is_module else node.module)
    return found


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}
GRAPH = {name: imports_of(path) & set(MODULES) - {name} for name, path in MODULES.items()}


def test_every_module_belongs_to_a_stage() -> None:
    # Equal, not a subset: an empty MODULES (PACKAGE pointing nowhere) would pass a subset.
    assert {stage_of(m) for m in MODULES} == set(STAGES)


def upward_imports(module: str, imports: set[str]) -> list[str]:
    """The modules `module` imports from a stage at or above its own (other than its own)."""
    rank = STAGES.index(stage_of(module))
    return sorted(
        i
        for i in imports
        if STAGES.index(stage_of(i)) > rank
        or (STAGES.index(stage_of(i)) == rank and stage_of(i) != stage_of(module))
    )


def import_circle(graph: dict[str, set[str]]) -> list[str]:
    """One circle of imports in `graph` (module -> modules it imports), or [] when none."""
    try:
        TopologicalSorter(graph).prepare()
    except CycleError as exc:
        return list(exc.args[1])
    return []


@pytest.mark.parametrize("module", sorted(MODULES))
def test_no_upward_import(module: str) -> None:
    upward = upward_imports(module, GRAPH[module])
    assert upward == [], f"{module} imports a higher stage: {upward}"


@pytest.mark.parametrize("module", sorted(MODULES))
def test_imports_only_the_stages_its_package_names(module: str) -> None:
    stage = stage_of(module)
    other = sorted(i for i in GRAPH[module] if stage_of(i) not in MAY_IMPORT[stage] | {stage})
    assert other == [], f"{module} imports a stage {stage} may not import: {other}"


def test_no_import_circle() -> None:
    # A package's __init__ may gather its own modules; a circle through it is still a circle.
    circle = import_circle(GRAPH)
    assert circle == [], f"import circle: {' -> '.join(circle)}"


def test_stage_packages_say_what_they_own_and_may_import() -> None:
    for stage in STAGES[1:]:
        doc = ast.get_docstring(ast.parse((PACKAGE / stage / "__init__.py").read_text()))
        assert doc and "import" in doc, f"pipelines/{stage}/__init__.py"


# Each rule proved able to fail: a tiny graph that breaks it, and the message it gives.
def test_an_upward_import_is_caught(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("from pipelines.orchestration.flows import nightly\n")
    assert imports_of(bad) == {"pipelines.orchestration.flows"}
    imports = {"pipelines.orchestration.flows", "pipelines.sources.record"}
    assert upward_imports("pipelines.ingest.parse", imports) == ["pipelines.orchestration.flows"]
    # A sibling stage on the same floor is not "below" either.
    assert upward_imports("pipelines.ingest.parse", {"pipelines.ingest.batches"}) == []


def test_an_import_circle_is_caught() -> None:
    graph = {
        "pipelines.cli.commands": {"pipelines.orchestration.schedules"},
        "pipelines.orchestration.schedules": {"pipelines.cli.commands"},
        "pipelines.db": set(),
    }
    circle = import_circle(graph)
    assert set(circle) == {"pipelines.cli.commands", "pipelines.orchestration.schedules"}
    assert import_circle({"a": {"b"}, "b": set()}) == []
