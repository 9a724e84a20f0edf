"""The deployments `whereabouts serve` registers, built without a Prefect server. (Serving
them against a real server is tested in tests/e2e/test_schedules.py.)"""

from __future__ import annotations

EXPECTED = {"nightly/nightly": "30 2 * * *", "monthly-briefing/monthly-briefing": "0 6 1 * *"}


def test_deployments_are_built_without_a_server() -> None:
    # Imported here, not when collected: Prefect's import takes seconds in every test worker.
    from pipelines.orchestration.schedules import deployments

    built = {d.name: d for d in deployments()}
    assert set(built) == {"nightly", "monthly-briefing"}
    for name, cron in EXPECTED.items():
        (schedule,) = built[name.split("/")[1]].schedules
        assert (schedule.schedule.cron, schedule.schedule.timezone) == (cron, "Europe/London")
    assert built["nightly"].entrypoint == "pipelines.orchestration.flows.nightly"
    assert (
        built["monthly-briefing"].entrypoint == "pipelines.orchestration.schedules.monthly_briefing"
    )
