"""Errors a person sees: one clear message, exit code 2, no traceback."""

from __future__ import annotations


class UserError(Exception):
    """Bad input from a person (a scenario, a flag, a file).  The CLI prints it and exits 2.

    The message names what is wrong (the field path or file and line), the bad value and
    what is allowed.
    """

    exit_code = 2


class ScenarioError(UserError):
    """A scenario file or override that does not validate."""


class InvalidTransition(RuntimeError):
    """A task state change the platform's state machine does not allow (a model bug)."""
