"""The sources stage: what a source may send and where its files are.

Owns the standard episode record (fields, code lists, the SSDA903 columns), the source
declarations in `schemas/sources/*.yaml` (load, check, explain errors) and the discovery of
complete raw files in `data/raw/<source>/`. It reads files' names, never their rows.
May import only the ground floor (`pipelines.settings`, `pipelines.db`).
"""
