"""The SQL models: found by folder, built in the order what they read requires, in house style."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipelines.warehouse.models import LAYERS, ancestors, load_models, model_reads

MODELS = load_models()


@pytest.mark.parametrize(
    ("sql", "reads"),
    [
        ("select * from a", {"a"}),
        ("select * from a join b using (k) left join work.c on true", {"a", "b", "work.c"}),
        ("with x as (select * from a), y as (select * from x) select * from y", {"a"}),
        # an import CTE may take the name of the table it imports
        ("with episodes as (select * from episodes) select * from episodes", {"episodes"}),
        ("-- from commented\nselect * from a", {"a"}),
    ],
    ids=["plain", "joins", "ctes_are_not_reads", "import_cte_named_as_its_table", "comments"],
)
def test_model_reads(sql: str, reads: set[str]) -> None:
    assert model_reads(sql) == reads


def test_every_model_comes_after_what_it_reads() -> None:
    order = list(MODELS)
    for name, model in MODELS.items():
        for read in model.reads & set(MODELS):
            assert order.index(read) < order.index(name), f"{name} before {read}"


def test_the_order_is_staging_intermediate_marts_audit_where_reads_allow() -> None:
    assert list(MODELS)[:3] == ["stg_episode_version_keys", "stg_episode_versions", "stg_findings"]
    assert list(MODELS)[-5:] == ["build_manifest", "findings", "ingest_files", "quarantine", "runs"]


def test_only_staging_reads_the_working_store() -> None:
    readers = {n for n, m in MODELS.items() if any(r.startswith("work.") for r in m.reads)}
    assert readers == {n for n, m in MODELS.items() if m.layer == "staging"}


def test_a_new_model_file_joins_the_build_in_its_place(tmp_path: Path) -> None:
    for layer in LAYERS:
        (tmp_path / layer).mkdir()
    (tmp_path / "staging" / "stg_a.sql").write_text("select * from work.a")
    (tmp_path / "marts" / "b.sql").write_text("with a as (select * from stg_a) select * from a")
    (tmp_path / "intermediate" / "int_c.sql").write_text("select * from b")
    models = load_models(tmp_path)
    assert list(models) == ["stg_a", "b", "int_c"]
    assert ancestors("int_c", models) == ["stg_a", "b"]


@pytest.mark.parametrize("name", sorted(MODELS))
def test_house_style_import_ctes_then_steps_then_final(name: str) -> None:
    sql = MODELS[name].sql
    code = "\n".join(line for line in sql.splitlines() if not line.lstrip().startswith("--"))
    assert code.lstrip().startswith("with "), name
    assert code.rstrip().endswith("select * from final"), name
