"""The error a handler or middleware raises, :class:`ApiError`.

It carries every provider's fields (a status, a message, Onfleet's subcode and cause,
Nash's code, HyperTrack's per-field detail, Deftship's payload); the request's dialect
(:mod:`loadtest.emulator.dialect`) renders it in the provider's own shape.
"""

from __future__ import annotations

from typing import Any

JSON = "application/json; charset=utf-8"


class ApiError(Exception):
    """An error answer.  ``error`` is Onfleet's numeric subcode, ``code`` Nash's code,
    ``detail`` HyperTrack's per-field detail, ``data`` Deftship's payload."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        error: int | None = None,
        cause: str | None = None,
        code: str | None = None,
        detail: dict[str, Any] | None = None,
        data: Any = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.error = error
        self.cause = cause
        self.code = code
        self.detail = detail
        self.data = data
        self.headers = headers or {}
