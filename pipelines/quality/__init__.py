"""The quality stage: the table contracts and the checks made from them.

Owns `schemas/tables/*.yml` (the one description of every table), the Great Expectations
suites generated from them (run on pandas frames), and the curated suite with its
reconciliations that a newly built database must pass before it is published (its checks
as SQL aggregates in DuckDB, with GX run only on a table that fails one).
May import the ground floor and `pipelines.sources`.
"""
