"""One HTTP exchange bounded by a wall-clock deadline — shared by every outside-service client.

requests' ``(connect, read)`` timeouts apply per socket operation, so a server that drips its
status line, headers or body a byte at a time never trips them. Here the header phase runs in
a helper thread that is abandoned at the deadline, and the body is read with ``read1`` (whatever
one socket read gives) under a watchdog that shuts the socket when the deadline passes.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import requests

READ_SIZE = 64 * 1024


class TransientHTTPError(Exception):
    """The exchange did not complete (timeout, deadline, connection or read error)."""

    def __init__(self, reason: str, *, status: int | None = None, body: bytes = b"") -> None:
        super().__init__(reason)
        self.reason, self.status, self.body = reason, status, body


def exchange(
    session: requests.Session,
    method: str,
    url: str,
    *,
    deadline: float,
    connect_timeout: float,
    read_timeout: float,
    clock: Callable[[], float] = time.monotonic,
    **kwargs: Any,
) -> tuple[int, Mapping[str, str], bytes]:
    """``(status, headers, body)`` of one request, or TransientHTTPError within ``deadline`` s."""
    ends = clock() + deadline
    kwargs["timeout"] = (min(connect_timeout, deadline), min(read_timeout, deadline))
    kwargs["stream"] = True
    try:
        r = _request_within(session, method, url, kwargs, ends, deadline, clock)
    except requests.Timeout as exc:
        raise TransientHTTPError(f"timeout before the response headers ({type(exc).__name__})") from None
    except requests.RequestException as exc:
        raise TransientHTTPError(f"connection error: {type(exc).__name__}: {exc}") from None
    fired = threading.Event()

    def watchdog() -> None:  # unblocks a read stuck past the deadline
        fired.set()
        try:
            r.raw.shutdown()
        except Exception:  # noqa: BLE001 - best effort; the read loop reports the deadline
            pass

    timer = threading.Timer(max(0.0, ends - clock()), watchdog)
    timer.daemon = True
    timer.start()
    chunks: list[bytes] = []
    late = f"deadline of {deadline:g}s exceeded while reading the body"
    try:
        for chunk in _iter_body(r):
            chunks.append(chunk)
            if clock() > ends:
                break
        if fired.is_set() or clock() > ends:
            raise TransientHTTPError(f"{late} ({sum(map(len, chunks))} bytes read)",
                                     status=r.status_code, body=b"".join(chunks))
    except TransientHTTPError:
        raise
    except Exception as exc:  # requests/urllib3/socket errors while streaming
        reason = late if fired.is_set() else f"error reading the body: {type(exc).__name__}: {exc}"
        raise TransientHTTPError(reason, status=r.status_code, body=b"".join(chunks)) from None
    finally:
        timer.cancel()
        r.close()
    return r.status_code, r.headers, b"".join(chunks)


def _request_within(session: requests.Session, method: str, url: str, kwargs: dict[str, Any],
                    ends: float, deadline: float, clock: Callable[[], float]) -> requests.Response:
    box: dict[str, Any] = {}
    abandoned = threading.Event()

    def request() -> None:
        try:
            box["response"] = session.request(method, url, **kwargs)
        except BaseException as exc:  # noqa: BLE001 - handed to the calling thread below
            box["error"] = exc
        if abandoned.is_set() and "response" in box:
            box["response"].close()

    worker = threading.Thread(target=request, name="http-request", daemon=True)
    worker.start()
    worker.join(max(0.0, ends - clock()))
    if worker.is_alive():
        abandoned.set()
        raise TransientHTTPError(f"deadline of {deadline:g}s exceeded before the response headers")
    if "error" in box:
        raise box["error"]
    return box["response"]  # type: ignore[no-any-return]


def _iter_body(r: requests.Response) -> Iterator[bytes]:
    # iter_content(n) blocks until n bytes (or EOF) arrive, so a dripping server would only be
    # noticed every n bytes; read1 returns whatever one socket read gives.
    raw = r.raw
    if hasattr(raw, "read1"):
        while True:
            chunk = raw.read1(READ_SIZE, decode_content=True)
            if not chunk:
                return
            yield chunk
    else:  # pragma: no cover - urllib3 < 2.3
        yield from r.iter_content(READ_SIZE)
