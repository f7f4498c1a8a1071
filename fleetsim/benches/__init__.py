"""One module per benchmark family; each exposes ``BENCHMARKS``: a list of
``(name, function)`` where ``function(ctx: BenchContext) -> list[BenchResult]``.

Modules are discovered (sorted by name), so adding a benchmark never edits a shared list.
"""
