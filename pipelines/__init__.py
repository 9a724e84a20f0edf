"""Whereabouts: analytics for children reported missing or absent.

Importing the package pins the run-time environment before Prefect or Great Expectations
load: nothing leaves the machine, and Prefect keeps its state inside the project.
"""

from __future__ import annotations

import os

from pipelines.settings import PROJECT_ROOT

for _name, _value in {
    # No telemetry from any library.
    "DO_NOT_TRACK": "1",
    "GX_ANALYTICS_ENABLED": "False",
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    # Prefect state (its SQLite database, logs) stays with the project, not in ~/.prefect.
    "PREFECT_HOME": str(PROJECT_ROOT / ".prefect"),
    # With no server running each process starts a temporary one: give it time on 2 cores.
    "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "120",
    # Prefect's own terminal UI is noise in a nightly log.
    "PREFECT_LOGGING_LEVEL": "WARNING",
    "PREFECT_CLI_COLORS": "false",
}.items():
    os.environ.setdefault(_name, _value)

__version__ = "0.1.0"
