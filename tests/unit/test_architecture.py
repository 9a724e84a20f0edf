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


@pytest.mark.parametrize("module", sorted(MODULES))
def test_no_upward_import(module: str) -> None:
    rank = STAGES.index(stage_of(module))
    upward = sorted(
        i
        for i in GRAPH[module]
        if STAGES.index(stage_of(i)) > rank
        or (STAGES.index(stage_of(i)) == rank and stage_of(i) != stage_of(module))
    )
    assert upward == [], f"{module} imports a higher stage: {upward}"


def test_no_import_circle() -> None:
    # A package's __init__ may gather its own modules; a circle through it is still a circle.
    try:
        TopologicalSorter(GRAPH).prepare()
    except CycleError as exc:
        pytest.fail(f"import circle: {' -> '.join(exc.args[1])}")


def test_stage_packages_say_what_they_own_and_may_import() -> None:
    for stage in STAGES[1:]:
        doc = ast.get_docstring(ast.parse((PACKAGE / stage / "__init__.py").read_text()))
        assert doc and "import" in doc, f"pipelines/{stage}/__init__.py"


def test_an_upward_import_is_caught(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("from pipelines.orchestration.flows import nightly\n")
    assert imports_of(bad) == {"pipelines.orchestration.flows"}
    assert STAGES.index(stage_of("pipelines.orchestration.flows")) > STAGES.index("ingest")
