"""Synthetic extracts: seeded, deterministic fictional sources for the demo, the tests and
the benchmark.

`generator` simulates children and their episodes; `layouts` writes what each fictional
source would send, in its own layout, with the defects real extracts have.
May import the ground floor and `pipelines.sources` (the standard record) only: the
pipeline never reads what the generator knows.
"""

from __future__ import annotations

from pipelines.synth.generator import generate

__all__ = ["generate"]
