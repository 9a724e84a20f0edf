"""The benchmark's floor: DuckDB alone loading the same rows, in a process of its own.

The floor a user compares the nightly against is the plain load of what a force sends: every
row as one standard-layout CSV, read by DuckDB's `read_csv` with each column's type and the
date formats given, into a table of a new database file.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from benchmarks.process import measure

# The one standard-layout CSV's formats, given to read_csv as a force's extract would be.
FORMATS = {"DATE": "%Y-%m-%d", "TIMESTAMP": "%Y-%m-%d %H:%M"}
# The floor's process: DuckDB alone, given its SQL (the duckdb CLI is not installed), in a
# fresh process; the figure is the statement and the file's commit on close, the rows counted
# afterwards.
FLOOR_SCRIPT = """
import json, sys, time, duckdb
con = duckdb.connect(sys.argv[1])
start = time.perf_counter()
con.sql(sys.argv[2])
con.close()
seconds = time.perf_counter() - start
rows = duckdb.connect(sys.argv[1]).execute("select count(*) from t").fetchall()[0][0]
print(json.dumps({"seconds": round(seconds, 2), "rows": rows}))
"""


def _quote(text: str | Path) -> str:
    return "'" + str(text).replace("'", "''") + "'"


def write_one_csv(extracts: Path, one: Path) -> dict:
    """Every row of the source's extracts as one standard-layout CSV, as a force would send
    its history: one date and one datetime format throughout. An impossible date (the
    generator's planted dirt, which the pipeline quarantines) is written blank, so that
    DuckDB's typed read takes every row."""
    import duckdb

    from pipelines.sources.record import FIELD_TYPES

    text = f"read_csv({_quote(extracts / '*.csv')}, all_varchar = true, union_by_name = true)"
    con = duckdb.connect()
    columns = [row[0] for row in con.execute(f"describe from {text}").fetchall()]
    typed = {c: FORMATS[FIELD_TYPES[c]] for c in columns if FIELD_TYPES.get(c) in FORMATS}
    kept = [f"if(try_strptime({c}, {_quote(typed[c])}) is null, null, {c}) as {c}" if c in typed
            else c for c in columns]  # fmt: skip
    blanked = " + ".join(
        f"count({c}) - count(try_strptime({c}, {_quote(f)}))" for c, f in typed.items()
    )
    one.parent.mkdir(parents=True, exist_ok=True)
    con.execute(f"copy (select {', '.join(kept)} from {text}) to {_quote(one)} (header)")
    ((rows, blank),) = con.execute(f"select count(*), {blanked} from {text}").fetchall()
    con.close()
    return {"rows": rows, "dates_blanked": blank, "bytes": one.stat().st_size}


def floor_sql(one: Path, table: str = "t") -> str:
    """DuckDB's typed load of the one CSV: every column's type and the date formats given."""
    from pipelines.sources.record import FIELD_TYPES

    with one.open(encoding="utf-8") as handle:
        header = handle.readline().rstrip("\n").split(",")
    columns = ", ".join(f"{_quote(c)}: {_quote(FIELD_TYPES.get(c, 'VARCHAR'))}" for c in header)
    return (
        f"create table {table} as select * from read_csv({_quote(one)}, header = true, "
        f"auto_detect = false, delim = ',', quote = '\"', columns = {{{columns}}}, "
        f"dateformat = {_quote(FORMATS['DATE'])}, timestampformat = {_quote(FORMATS['TIMESTAMP'])})"
    )


def measure_floor(name: str, load: str, db: Path, out: Path, env: dict[str, str]) -> dict:
    """DuckDB alone running `load` into a new file, in a process of its own."""
    figure = measure(name, [sys.executable, "-c", FLOOR_SCRIPT, db, load], out, env)
    db.unlink()
    inner = json.loads(figure.pop("output")[-1])
    return {"seconds": inner.pop("seconds"), "wall_seconds": figure.pop("seconds")} | figure | inner
