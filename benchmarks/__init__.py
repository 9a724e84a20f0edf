"""Benchmarks of the pipeline, run by `make bench`; not part of the shipped package."""
