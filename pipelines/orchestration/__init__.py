"""The orchestration stage: Prefect flows and schedules that run the stages in order.

Owns the nightly and briefing flows (tables of contents over plain functions), the
schedules `whereabouts serve` keeps, the local Prefect API, the run lock, the `runs`
history and the per-run validation report.
May import every stage below it: the ground floor, sources, quality, ingest, warehouse,
briefing and synth.
"""
