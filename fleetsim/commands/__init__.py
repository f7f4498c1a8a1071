"""One module per subcommand; each exposes ``register(subparsers) -> None``.

Modules are discovered (sorted by name), so adding a command never edits a shared list.
"""
