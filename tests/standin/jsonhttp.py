"""A small threaded JSON HTTP stand-in (127.0.0.1, port 0) with a request log and faults,
the common part of the ClinicalTrials.gov and Europe PMC stand-ins."""

from __future__ import annotations

import http.server
import json
import threading
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlsplit


@dataclass
class Logged:
    path: str
    params: dict[str, str]


@dataclass
class _Fault:
    kind: str  # 500 | 429 | html | truncated | empty
    times: int = 1
    retry_after: str | None = None
    left: int = field(init=False)

    def __post_init__(self) -> None:
        self.left = self.times


class JsonStandin:
    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.log: list[Logged] = []
        self.faults: list[_Fault] = []
        self._server: http.server.ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- to override: (status, body object) for GET path with params
    def answer(self, path: str, params: dict[str, str]) -> tuple[int, Any]:  # pragma: no cover
        raise NotImplementedError

    def inject(self, kind: str, *, times: int = 1, retry_after: str | None = None) -> None:
        with self.lock:
            self.faults.append(_Fault(kind, times, retry_after))

    def requests(self, path: str | None = None) -> list[Logged]:
        with self.lock:
            return [e for e in self.log if path is None or e.path.endswith(path)]

    @property
    def url(self) -> str:
        assert self._server is not None
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/"

    def start(self) -> JsonStandin:
        standin = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet
                pass

            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                params = dict(parse_qsl(parts.query, keep_blank_values=True))
                with standin.lock:
                    standin.log.append(Logged(parts.path, params))
                    fault = next((f for f in standin.faults if f.left > 0), None)
                    if fault is not None:
                        fault.left -= 1
                if fault is not None:
                    self._fault(fault)
                    return
                status, obj = standin.answer(parts.path, params)
                self._send(status, json.dumps(obj).encode(), "application/json;charset=UTF-8")

            def _fault(self, fault: _Fault) -> None:
                if fault.kind == "429":
                    headers = {"Retry-After": fault.retry_after} if fault.retry_after else {}
                    self._send(429, b'{"error":"Too Many Requests"}', "application/json", headers)
                elif fault.kind == "500":
                    self._send(500, b"<html><body><h1>500 Internal Server Error</h1></body></html>", "text/html")
                elif fault.kind == "html":
                    self._send(200, b"<!DOCTYPE html><html><body>Maintenance</body></html>", "text/html")
                elif fault.kind == "truncated":
                    self._send(200, b'{"studies": [{"protocolSection": {', "application/json")
                elif fault.kind == "empty":
                    self._send(200, b"", "application/json")
                else:
                    self._send(int(fault.kind), b'{"message":"bad request"}', "application/json")

            def _send(self, status: int, body: bytes, ctype: str, headers: dict[str, str] | None = None) -> None:
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(body)

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
