"""The ingest stage: raw files into the private working store, every row accounted for.

Owns reading (CSV, XLSX, Parquet, SSDA903) into text, parsing into the standard record,
the DfE SSDA903 Missing rules, pseudonymised child ids, sorting rows into episode versions,
quarantine and findings, the ledger of files, and the working store itself (written on a
thread of its own, one transaction per file).
May import the ground floor, `pipelines.sources` and `pipelines.quality`.
"""
