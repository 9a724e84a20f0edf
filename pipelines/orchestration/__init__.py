"""The orchestration stage: the nightly and briefing runs, with and without Prefect.

Owns the nightly's steps as plain functions in order (`nightly`: run lock, `runs` record,
find, ingest, identities, link, build, curated checks, publish), the identity steps it hands
between the ingest and the identity store (`identities`), the Prefect flows that wrap the same
steps in tasks (`flows`), the schedules `whereabouts serve` keeps (`schedules`), the local
Prefect API (`prefect_api`), the run lock (`locking`), the `runs` history (`runs`) and the
per-run validation report (`report`).
May import every stage below it: the ground floor, sources, quality, ingest, identity,
warehouse and briefing (not synth: the pipeline never reads what the generator knows).
"""
