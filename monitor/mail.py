"""Delivery: SMTP (STARTTLS or implicit TLS, certificate verified) and the file outbox.

This module knows SMTP and the file system, nothing about digests: it takes finished message
bytes and says what happened to each recipient. ``monitor.digest`` decides what that means for
the outbox row (retry, fail, done).

Facts it is built on (docs/reliability.md, checked on Python 3.11.7):

- ``starttls()`` / ``SMTP_SSL`` without a context do not verify the certificate, so a context
  from ``ssl.create_default_context()`` is always passed; ``LITMON_SMTP_VERIFY=false`` is the
  explicit opt-out for a trusted local relay, ``LITMON_SMTP_CA_FILE`` trusts a private CA.
- ``sendmail`` returns normally when *any* recipient was accepted and lists the refused ones in
  a dict; that dict is the per-recipient result, not something to ignore.
- A password is never sent without TLS: with ``starttls`` a server that does not offer
  STARTTLS is refused before anything else is said.
"""

from __future__ import annotations

import os
import re
import smtplib
import ssl
import tempfile
from dataclasses import dataclass, field
from email.utils import parseaddr
from pathlib import Path

from monitor.config import Settings


class MailError(Exception):
    """A delivery attempt failed as a whole. ``transient``: worth trying again later."""

    def __init__(self, message: str, *, transient: bool, code: int | None = None) -> None:
        super().__init__(message)
        self.transient = transient
        self.code = code


@dataclass
class Delivery:
    """What the server said about each recipient of one message."""

    accepted: list[str] = field(default_factory=list)
    refused: dict[str, tuple[int, str]] = field(default_factory=dict)  # address -> (code, text)


_NAME_ADDR = re.compile(r"^\s*(.*?)\s*<([^<>\s]+@[^<>\s]+)>\s*$", re.DOTALL)


def split_sender(mail_from: str) -> tuple[str, str]:
    """``LITMON_MAIL_FROM`` as (display name, address): "Lab, Univ <a@b>" -> ("Lab, Univ", "a@b").

    Not ``parseaddr``: it reads a display name with a comma, colon or semicolon as a list or
    a group ("Dr. A, B <d@x>" gives "Dr."), which made the envelope sender and the From
    header wrong for names the configuration accepts.
    """
    m = _NAME_ADDR.match(mail_from)
    if m:
        return m.group(1).strip().strip('"'), m.group(2)
    return "", (parseaddr(mail_from)[1] or mail_from).strip()


def envelope_sender(mail_from: str) -> str:
    """The bare address of ``LITMON_MAIL_FROM`` ("litmon <a@b>" -> "a@b")."""
    return split_sender(mail_from)[1]


def tls_context(settings: Settings) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(settings.smtp_ca_file) if settings.smtp_ca_file else None)
    if not settings.smtp_verify:
        # Explicit opt-out for a relay on localhost / a private network; still encrypted.
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def _text(value: bytes | str) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def _is_transient(code: int | None) -> bool:
    # 4xx: try again later (RFC 5321 §4.2.1); 5xx and anything odd: permanent.
    return code is not None and 400 <= code < 500


def smtp_send(settings: Settings, message: bytes, sender: str, recipients: list[str]) -> Delivery:
    """Send ``message`` to ``recipients``; per-recipient refusals come back in ``Delivery``.

    Raises MailError when the message as a whole was not accepted.
    """
    if not settings.smtp_host:
        raise MailError("no SMTP host configured (LITMON_SMTP_HOST)", transient=False)
    host, port, timeout = settings.smtp_host, settings.smtp_effective_port, settings.smtp_timeout
    security = settings.smtp_security
    if settings.smtp_password and security == "none":  # config refuses this too; belt and braces
        raise MailError("refusing to send the SMTP password without TLS", transient=False)
    try:
        if security == "ssl":
            client: smtplib.SMTP = smtplib.SMTP_SSL(host, port, timeout=timeout,
                                                   context=tls_context(settings))
        else:
            client = smtplib.SMTP(host, port, timeout=timeout)
        with client:
            client.ehlo()
            if security == "starttls":
                if not client.has_extn("starttls"):
                    raise MailError(
                        f"{host}:{port} does not offer STARTTLS; refusing to send in clear "
                        "(LITMON_SMTP_SECURITY=starttls; use ssl, or none for a trusted relay)",
                        transient=False,
                    )
                client.starttls(context=tls_context(settings))
                client.ehlo()
            if settings.smtp_username:
                client.login(settings.smtp_username, settings.smtp_password or "")
            try:
                refused = client.sendmail(sender, recipients, message)
            except smtplib.SMTPRecipientsRefused as exc:
                # Every recipient refused: the same per-recipient answer, nobody accepted.
                return Delivery([], {a: (int(c), _text(t)) for a, (c, t) in exc.recipients.items()})
    except MailError:
        raise
    except ssl.SSLCertVerificationError as exc:
        raise MailError(f"TLS certificate of {host}:{port} not trusted: {exc.verify_message}",
                        transient=False) from exc
    except smtplib.SMTPResponseException as exc:
        # Sender refused, DATA refused, AUTH refused, greeting refused: all carry a code.
        code = int(exc.smtp_code)
        raise MailError(f"{host}:{port} said {code} {_text(exc.smtp_error)}",
                        transient=_is_transient(code), code=code) from exc
    except smtplib.SMTPServerDisconnected as exc:
        # Includes a connection dropped in the middle of DATA: no 250, so not delivered (as
        # far as we can know); the retry reuses the Message-ID.
        raise MailError(f"{host}:{port} closed the connection: {exc}", transient=True) from exc
    except smtplib.SMTPNotSupportedError as exc:
        raise MailError(f"{host}:{port}: {exc}", transient=False) from exc
    except (OSError, smtplib.SMTPException) as exc:  # refused, reset, timeout, TLS handshake
        raise MailError(f"{host}:{port}: {type(exc).__name__}: {exc}", transient=True) from exc
    out = {a: (int(c), _text(t)) for a, (c, t) in refused.items()}
    return Delivery([r for r in recipients if r not in out], out)


def write_atomically(path: Path, data: bytes) -> None:
    """Write to a temporary file beside ``path`` and rename: readers never see half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_outbox(settings: Settings, stem: str, message: bytes, html: str) -> Path:
    """Write ``<outbox>/<stem>.eml`` and a browsable ``<stem>.html`` beside it; returns the .eml."""
    eml = settings.effective_outbox_dir / f"{stem}.eml"
    write_atomically(eml.with_suffix(".html"), html.encode("utf-8"))
    write_atomically(eml, message)  # last: the .eml is the proof the digest was written
    return eml
