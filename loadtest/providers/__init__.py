"""Request and response shapes of the emulated delivery platforms, one module per provider.

Each module holds the pydantic models of the request bodies (used to write traces, to
document the emulator's OpenAPI and to fuzz it), small builders for bodies, and the
constants of the provider's error shapes.  Nothing here does I/O.
"""
