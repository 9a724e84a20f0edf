"""The command line: `whereabouts` (also `python -m pipelines`).

`parser` checks arguments and paths before anything heavy loads; `commands` says what each
command does by calling the flows and stages; `main` turns known failures into one line.
The top of the tree: it may import every other package; nothing imports it.
"""

import time

# When the command began, as near as Python lets us (the interpreter's own start-up, some
# 30 ms, comes before): the seconds a run prints are the ones its user waited.
STARTED = time.monotonic()
