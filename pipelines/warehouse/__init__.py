"""The warehouse stage: the SQL models that turn the working store into the curated
database, and what is made from the curated tables' contracts.

Owns the models in `sql/` (staging, intermediate, marts, audit; the build order comes from
what each model reads), the full and incremental build into a new file, publishing it by
rename, the exports and the data dictionary; a table on another run date by the same models,
and the restricted practitioners' list (the curated at-risk list with the identity store's
names and references, audited there).
May import the ground floor, `pipelines.sources`, `pipelines.quality`, and
`pipelines.identity` for the practitioners' list alone.
"""
