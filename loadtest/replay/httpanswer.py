"""Reading one HTTP/1.1 answer for :mod:`loadtest.replay.httpclient`: the request written,
the answer framed (by length, chunks, or the connection's end; 1xx interim answers
skipped; bytes after it never merged in; a ``101`` refused) and decoded (gzip, deflate),
all before one deadline.

Concepts held here: :class:`HttpError` (no answer), :class:`Broken` (an exchange that
broke, and whether any of its answer had arrived: what decides a resend), :class:`Answer`
with :class:`LazyHeaders`, and :func:`send_read`.  The connections themselves (pool,
reuse, addresses, TLS) are the client's.
"""

from __future__ import annotations

import ssl
import time
import zlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import httptools

#: Read size per ``recv``.
BLOCK = 65536


class HttpError(Exception):
    """No answer: the connection could not be made, broke, timed out or the answer was not
    HTTP.  ``timed_out`` says which of the first kind it was."""

    def __init__(self, message: str, timed_out: bool = False) -> None:
        super().__init__(message)
        self.timed_out = timed_out


@dataclass(slots=True)
class Answer:
    status: int
    #: Header (name, value) pairs as the server sent them, latin-1 decoded on first read.
    raw_headers: list[tuple[bytes, bytes]]
    body: bytes
    keep_alive: bool

    @property
    def headers(self) -> Mapping[str, str]:
        return LazyHeaders(self.raw_headers)


class LazyHeaders(Mapping[str, str]):
    """An answer's headers, decoded into a dict only when first read: most answers'
    headers are never looked at (only a refusal's, or a limiter's).  A repeated name keeps
    its last value."""

    __slots__ = ("_dict", "_raw")

    def __init__(self, raw: list[tuple[bytes, bytes]]) -> None:
        self._raw = raw
        self._dict: dict[str, str] | None = None

    def _get(self) -> dict[str, str]:
        if self._dict is None:
            self._dict = {k.decode("latin-1"): v.decode("latin-1") for k, v in self._raw}
        return self._dict

    def __getitem__(self, key: str) -> str:
        return self._get()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._get())

    def __len__(self) -> int:
        return len(self._get())


class _Reader:
    """httptools callbacks for one answer.  A 1xx interim answer (100, 102, 103 Early
    Hints) is skipped, as RFC 9110 asks of a client; anything after the final answer
    (a stray byte, a second answer) is never merged into it but marks the connection as
    not reusable (``leftover``)."""

    __slots__ = (
        "body",
        "complete",
        "encoding",
        "headers",
        "headers_done",
        "interim",
        "keep_alive",
        "leftover",
        "parser",
        "status",
    )

    def __init__(self) -> None:
        self.headers: list[tuple[bytes, bytes]] = []
        self.body: list[bytes] = []
        self.complete = False
        self.headers_done = False
        self.interim = False
        self.keep_alive = False
        self.leftover = False
        self.status = 0
        self.encoding = b""
        self.parser = httptools.HttpResponseParser(self)

    def on_message_begin(self) -> None:
        if self.complete:
            self.leftover = True

    def on_header(self, name: bytes, value: bytes) -> None:
        if self.complete:
            return
        self.headers.append((name, value))
        if name[:1] in b"Cc" and name.lower() == b"content-encoding":
            self.encoding = value.strip().lower()

    def on_headers_complete(self) -> None:
        if self.complete:
            return
        status = self.parser.get_status_code()
        self.interim = 100 <= status < 200 and status != 101
        self.headers_done = not self.interim

    def on_body(self, chunk: bytes) -> None:
        if not self.complete:
            self.body.append(chunk)

    def on_message_complete(self) -> None:
        if self.complete:
            return
        if self.interim:  # not the answer: forget it, the final one follows
            self.interim = False
            self.headers.clear()
            self.encoding = b""
            return
        self.complete = True
        # Read here: once the message is over, llhttp resets it for the next one.
        self.keep_alive = bool(self.parser.should_keep_alive())
        self.status = int(self.parser.get_status_code())


def _length_unknown(headers: list[tuple[bytes, bytes]]) -> bool:
    """An answer whose body runs to the connection's end (no length, not chunked)."""
    for k, v in headers:
        low = k.lower()
        if low == b"content-length" or (low == b"transfer-encoding" and b"chunked" in v.lower()):
            return False
    return True


_SWITCHED = HttpError("the server switched protocols (101): not HTTP/1.1")


def left_s(deadline: float, timeout_s: float) -> float:
    """Seconds left before ``deadline``; a timeout when none are."""
    left = deadline - time.monotonic()
    if left <= 0:
        raise HttpError(f"no answer within {timeout_s:g} s", timed_out=True)
    return left


def send_read(sock: Any, method: str, data: bytes, deadline: float, timeout_s: float) -> Answer:
    """Write the request and read its answer (1xx interim answers skipped), everything
    before ``deadline``."""
    got_any = False
    reader = _Reader()
    parser = reader.parser
    try:
        sock.settimeout(left_s(deadline, timeout_s))
        sock.sendall(data)
        while not reader.complete:
            sock.settimeout(left_s(deadline, timeout_s))
            chunk = sock.recv(BLOCK)
            if not chunk:
                if reader.headers_done and _length_unknown(reader.headers):
                    break  # the body ran to the connection's end
                what = "closed the connection before answering"
                if got_any:
                    what = "closed the connection in the middle of its answer"
                raise Broken(HttpError(f"server {what}"), got_any)
            got_any = True
            try:
                parser.feed_data(chunk)
            except httptools.HttpParserError:
                if not reader.complete:
                    raise
                reader.leftover = True  # junk after a whole answer: it stands, alone
            if method == "HEAD" and reader.headers_done:
                break
    except (TimeoutError, HttpError):
        raise Broken(HttpError(f"no answer within {timeout_s:g} s", timed_out=True), True) from None
    except httptools.HttpParserUpgrade:
        raise Broken(HttpError("the server switched protocols (101): not HTTP/1.1"), True) from None
    except httptools.HttpParserError as exc:
        raise Broken(HttpError(f"not an HTTP answer: {exc}"), True) from None
    except (OSError, ssl.SSLError) as exc:
        raise Broken(HttpError(describe(exc)), got_any) from None
    keep = reader.complete and reader.keep_alive and not reader.leftover
    status = reader.status if reader.complete else int(parser.get_status_code())
    if status == 101:
        raise Broken(_SWITCHED, True)
    body = reader.body[0] if len(reader.body) == 1 else b"".join(reader.body)
    if body and reader.encoding and reader.encoding != b"identity":
        body = _decoded(body, reader.encoding)
    return Answer(status, reader.headers, body, keep)


class Broken(Exception):
    """A request's exchange broke; ``got_any``: some of the answer had arrived."""

    def __init__(self, error: HttpError, got_any: bool) -> None:
        super().__init__(str(error))
        self.error = error
        self.got_any = got_any


def _decoded(body: bytes, encoding: bytes) -> bytes:
    """A ``gzip`` or ``deflate`` answer's body, decoded (the connection stays usable: the
    answer was read whole)."""
    try:
        if encoding in (b"gzip", b"x-gzip"):
            return zlib.decompress(body, 16 + zlib.MAX_WBITS)
        if encoding == b"deflate":
            try:
                return zlib.decompress(body)
            except zlib.error:  # raw deflate, as some servers send it
                return zlib.decompress(body, -zlib.MAX_WBITS)
    except zlib.error as exc:
        what = encoding.decode("latin-1")
        raise Broken(HttpError(f"a {what} answer that does not decode: {exc}"), True) from None
    what = encoding.decode("latin-1")
    raise Broken(HttpError(f"an answer in an encoding not asked for: {what!r}"), True)


def describe(exc: BaseException) -> str:
    name = type(exc).__name__
    text = str(exc)
    return f"{name}: {text}" if text else name
