"""A real SMTP server for tests (aiosmtpd on loopback), with behaviour each test can program.

Registered from tests/conftest.py (``pytest_plugins``). Fixtures:

- ``smtp_server``: plain SMTP, no TLS; ``.env()`` gives LITMON_SMTP_* with security ``none``.
- ``smtp_tls_server``: offers and *requires* STARTTLS with a self-signed certificate made for
  the test run (openssl), and accepts AUTH only after TLS; ``.env()`` trusts the certificate
  through LITMON_SMTP_CA_FILE and logs in.
- ``make_smtp_server(tls=..., auth=...)``: anything else (e.g. no STARTTLS but a password set).
- ``smtp_tls_cert``: (cert.pem, key.pem) for 127.0.0.1 / localhost, made once per session.

Behaviour, set on the sink before the client talks to it::

    sink.fail_data("451 4.3.0 Try again later", times=1)   # reply to DATA, then accept
    sink.refuse_rcpt("b@example.org", "550 5.1.1 No such user")  # "*" refuses every address
    sink.drop_data(times=1)         # close the connection instead of answering DATA
    sink.messages                   # what was accepted: envelope and parsed message
"""

from __future__ import annotations

import shutil
import socket
import ssl
import subprocess
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

PASSWORD = "s3cret-test-password"
USERNAME = "litmon-test"


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    data: bytes
    tls: bool
    login: str | None

    @property
    def message(self) -> EmailMessage:
        return BytesParser(policy=policy.default).parsebytes(self.data)  # type: ignore[return-value]


@dataclass
class SmtpSink:
    """The handler's state: programmed replies and what arrived. Shared with the server thread."""

    host: str = "127.0.0.1"
    port: int = 0
    tls: str = "none"  # none | starttls | ssl
    auth: bool = False
    cert_file: Path | None = None
    messages: list[Received] = field(default_factory=list)
    logins: list[tuple[str, bool]] = field(default_factory=list)  # (login, over TLS)
    data_attempts: int = 0
    rcpt_seen: list[str] = field(default_factory=list)
    _data_replies: list[str] = field(default_factory=list)
    _drops: int = 0
    _rcpt_replies: dict[str, str] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    # -- programming ------------------------------------------------------------------------
    def fail_data(self, reply: str, times: int = 1) -> None:
        with self.lock:
            self._data_replies.extend([reply] * times)

    def drop_data(self, times: int = 1) -> None:
        with self.lock:
            self._drops += times

    def refuse_rcpt(self, address: str, reply: str = "550 5.1.1 No such user") -> None:
        with self.lock:
            self._rcpt_replies[address.lower()] = reply

    def accept_all(self) -> None:
        with self.lock:
            self._data_replies.clear()
            self._rcpt_replies.clear()
            self._drops = 0

    # -- settings a client needs ------------------------------------------------------------
    def env(self, **extra: str) -> dict[str, str]:
        env = {
            "LITMON_SMTP_HOST": self.host,
            "LITMON_SMTP_PORT": str(self.port),
            "LITMON_SMTP_SECURITY": self.tls,
            "LITMON_SMTP_TIMEOUT": "5",
            "LITMON_MAIL_FROM": "litmon <digests@litmon.example.org>",
        }
        if self.cert_file is not None:
            env["LITMON_SMTP_CA_FILE"] = str(self.cert_file)
        if self.auth:
            env["LITMON_SMTP_USERNAME"] = USERNAME
            env["LITMON_SMTP_PASSWORD"] = PASSWORD
        env.update(extra)
        return env

    # -- aiosmtpd hooks ---------------------------------------------------------------------
    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str,
                          rcpt_options: list[str]) -> str:
        with self.lock:
            self.rcpt_seen.append(address)
            reply = self._rcpt_replies.get(address.lower()) or self._rcpt_replies.get("*")
        if reply:
            return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        with self.lock:
            self.data_attempts += 1
            if self._drops:
                self._drops -= 1
                # The whole message arrived but no reply ever comes: the client cannot know.
                server.transport.abort()
                return "421 connection dropped"
            if self._data_replies:
                return self._data_replies.pop(0)
            login = session.auth_data.login.decode() if session.authenticated and session.auth_data else None
            self.messages.append(Received(envelope.mail_from, list(envelope.rcpt_tos),
                                          bytes(envelope.original_content or envelope.content),
                                          _over_tls(server, session), login))
        return "250 OK: queued"

    def authenticate(self, server: Any, session: Any, envelope: Any, mechanism: str,
                     auth_data: Any) -> AuthResult:
        ok = isinstance(auth_data, LoginPassword) and auth_data.login.decode() == USERNAME \
            and auth_data.password.decode() == PASSWORD
        with self.lock:
            self.logins.append((auth_data.login.decode() if isinstance(auth_data, LoginPassword) else "?",
                                _over_tls(server, session)))
        return AuthResult(success=ok, handled=False, auth_data=auth_data if ok else None)


def _over_tls(server: Any, session: Any) -> bool:
    # STARTTLS sets session.ssl; implicit TLS shows only on the transport.
    transport = getattr(server, "transport", None)
    return session.ssl is not None or (
        transport is not None and transport.get_extra_info("ssl_object") is not None)


def _free_port(host: str) -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def smtp_tls_cert(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 and localhost, valid for a day."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl command not found: cannot make a test certificate")
    d = tmp_path_factory.mktemp("smtp-tls")
    cert, key = d / "cert.pem", d / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key),
         "-out", str(cert), "-days", "1", "-subj", "/CN=localhost",
         "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"],
        check=True, capture_output=True,
    )
    return cert, key


@pytest.fixture
def make_smtp_server(request: pytest.FixtureRequest) -> Iterator[Callable[..., SmtpSink]]:
    """Start a sink: ``tls`` none | starttls | ssl; ``auth`` accepts AUTH (only over TLS)."""
    controllers: list[Controller] = []

    def start(*, tls: str = "none", auth: bool = False, require_starttls: bool | None = None) -> SmtpSink:
        host = "127.0.0.1"
        sink = SmtpSink(host=host, port=_free_port(host), tls=tls, auth=auth)
        kwargs: dict[str, Any] = {}
        if tls in ("starttls", "ssl"):
            cert, key = request.getfixturevalue("smtp_tls_cert")
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(cert, key)
            sink.cert_file = cert
            if tls == "starttls":
                kwargs["tls_context"] = context
                kwargs["require_starttls"] = True if require_starttls is None else require_starttls
            else:
                kwargs["ssl_context"] = context
        if auth:
            kwargs["authenticator"] = sink.authenticate
            kwargs["auth_require_tls"] = True
        controller = Controller(sink, hostname=host, port=sink.port, ready_timeout=10,
                                server_hostname="localhost", **kwargs)
        controller.start()
        controllers.append(controller)
        return sink

    yield start
    for controller in controllers:
        controller.stop()


@pytest.fixture
def smtp_server(make_smtp_server: Callable[..., SmtpSink]) -> SmtpSink:
    """Plain SMTP on loopback (LITMON_SMTP_SECURITY=none: a trusted local relay)."""
    return make_smtp_server()


@pytest.fixture
def smtp_tls_server(make_smtp_server: Callable[..., SmtpSink]) -> SmtpSink:
    """STARTTLS offered and required, self-signed certificate, AUTH only after TLS."""
    return make_smtp_server(tls="starttls", auth=True)
