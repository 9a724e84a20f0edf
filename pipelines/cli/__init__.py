"""The command line: `whereabouts` (also `python -m pipelines`).

`parser` checks arguments and paths before anything heavy loads; `commands` says what each
command does by calling the flows and stages; `main` turns known failures into one line.
The top of the tree: it may import every other package; nothing imports it.
"""
