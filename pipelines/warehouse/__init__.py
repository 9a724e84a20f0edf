"""The warehouse stage: the SQL models that turn the working store into the curated
database, and what is made from the curated tables' contracts.

Owns the models in `sql/` (staging, intermediate, marts, audit; the build order comes from
what each model reads), the full and incremental build into a new file, publishing it by
rename, the exports and the data dictionary.
May import the ground floor, `pipelines.sources` and `pipelines.quality`.
"""
