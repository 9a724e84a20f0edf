"""Identity and linkage: one child across agencies.

Owns the restricted identity store (its own DuckDB file, mode 0600; names, dates of birth,
UPNs, NHS numbers and cross-references live here and nowhere else), the normalisation of
identity values, record linkage (exact shared keys, then splink's saved model), stable
`person_id`s with their change log, the review queue and reviewers' decisions, linkage
quality, and audited look-ups. It hands the rest of the pipeline only pseudonymous pairs
(`child_id` -> `person_id`).

May import: the ground floor (settings, db, errors), `sources`, `quality` and `ingest` (for
the keyed-hash discipline), and `synth` in `training` alone (with no identity store given,
the model is trained on seeded synthetic people, as the committed one was). Never imported
by `ingest` or anything below it.
"""
