"""One typed Settings object, read once from the environment.

Every variable is ``LITMON_<NAME>``; every secret may instead be given as ``LITMON_<NAME>_FILE``
(a path whose content, minus a trailing newline, is the value) so it never shows in
``docker inspect``. A bad value stops start-up with the variable's name and what is wrong.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from datetime import date
from pathlib import Path
from typing import Any

NCBI_EUTILS_URL = "https://eutils.ncbi.nlm.nih.gov/entrez/eutils/"
CTGOV_URL = "https://clinicaltrials.gov/api/v2/"
EUROPEPMC_URL = "https://www.ebi.ac.uk/europepmc/webservices/rest/"
PREFIX = "LITMON_"

# Values that may come from a NAME_FILE secret.
SECRETS = frozenset(
    {"DATABASE_URL", "NCBI_API_KEY", "NCBI_EMAIL", "SMTP_USERNAME", "SMTP_PASSWORD"}
)


class ConfigError(Exception):
    """A setting is missing or malformed; the message names the variable."""


@dataclass(frozen=True)
class Settings:
    data_dir: Path = Path("data")
    database_url: str = ""  # empty: a SQLite file in data_dir
    eutils_url: str = NCBI_EUTILS_URL
    ncbi_api_key: str | None = None
    ncbi_email: str | None = None
    ncbi_tool: str = "litmon"
    feeds_dir: Path = Path("feeds")
    reports_dir: Path = Path("reports")
    # PubMed fetching
    fetch_batch_size: int = 200
    overlap_days: int = 3
    lookback_start: date = date(1800, 1, 1)  # first run of a feed searches from here
    http_timeout: float = 60.0  # read timeout, seconds
    http_deadline: float = 180.0  # wall clock per request, seconds
    http_max_attempts: int = 6  # per request, first try included
    http_backoff: float = 1.0  # seconds before the first retry; doubles, capped at 60
    # mail
    smtp_host: str | None = None
    smtp_port: int | None = None
    smtp_username: str | None = None
    smtp_password: str | None = None
    smtp_security: str = "starttls"
    smtp_verify: bool = True  # False only for a trusted local relay
    smtp_timeout: float = 30.0
    smtp_ca_file: Path | None = None  # extra CA bundle to trust (a private relay's CA)
    mail_from: str = "litmon <litmon@localhost>"
    outbox_dir: Path | None = None  # default: data_dir / "outbox"
    report_url: str | None = None  # public base URL of reports/, for links in digests
    # service
    lease_seconds: float = 60.0
    heartbeat_seconds: float = 15.0
    shutdown_grace_seconds: float = 30.0
    digest_retry_seconds: float = 60.0
    log_format: str = "text"
    log_level: str = "INFO"
    # other sources: a feed's [trials] and [preprints] tables
    ctgov_url: str = CTGOV_URL
    europepmc_url: str = EUROPEPMC_URL
    extra: dict[str, str] = field(default_factory=dict, compare=False)

    @property
    def effective_database_url(self) -> str:
        if self.database_url:
            return normalise_database_url(self.database_url)
        return f"sqlite:///{(self.data_dir / 'litmon.db').as_posix()}"

    @property
    def effective_outbox_dir(self) -> Path:
        return self.outbox_dir if self.outbox_dir is not None else self.data_dir / "outbox"

    @property
    def smtp_effective_port(self) -> int:
        if self.smtp_port:
            return self.smtp_port
        return {"ssl": 465, "starttls": 587}.get(self.smtp_security, 25)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        return cls(**_read(env))


def normalise_database_url(url: str) -> str:
    """Accept the URL forms people paste (postgres://, postgresql://) and use psycopg 3."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


def _raw(env: Mapping[str, str], name: str) -> str | None:
    var = PREFIX + name
    value = env.get(var)
    file_var = var + "_FILE"
    path = env.get(file_var)
    if path and name in SECRETS:
        if value:
            raise ConfigError(f"{var} and {file_var} are both set; set one of them")
        try:
            value = Path(path).read_text(encoding="utf-8").rstrip("\r\n")
        except OSError as exc:
            raise ConfigError(f"{file_var}={path}: cannot read the file ({exc.strerror})") from exc
    elif path:
        raise ConfigError(f"{file_var} is set but {var} is not a secret; set {var} itself")
    if value is None or value.strip() == "":
        return None
    return value.strip()


def _read(env: Mapping[str, str]) -> dict[str, Any]:
    out: dict[str, Any] = {}

    def text(name: str, key: str | None = None) -> None:
        value = _raw(env, name)
        if value is not None:
            out[key or name.lower()] = value

    def number(name: str, kind: type, low: float, high: float) -> None:
        value = _raw(env, name)
        if value is None:
            return
        try:
            parsed = kind(value)
        except ValueError:
            raise ConfigError(
                f"{PREFIX}{name}={value!r}: not a {'whole ' if kind is int else ''}number"
            ) from None
        if not (low <= parsed <= high):
            raise ConfigError(f"{PREFIX}{name}={value!r}: must be between {low:g} and {high:g}")
        out[name.lower()] = parsed

    def choice(name: str, options: tuple[str, ...]) -> None:
        value = _raw(env, name)
        if value is None:
            return
        if value.lower() not in options:
            raise ConfigError(f"{PREFIX}{name}={value!r}: must be one of {', '.join(options)}")
        out[name.lower()] = value.lower()

    def flag(name: str) -> None:
        value = _raw(env, name)
        if value is None:
            return
        low = value.lower()
        if low in ("1", "true", "yes", "on"):
            out[name.lower()] = True
        elif low in ("0", "false", "no", "off"):
            out[name.lower()] = False
        else:
            raise ConfigError(f"{PREFIX}{name}={value!r}: must be true or false")

    def path(name: str) -> None:
        value = _raw(env, name)
        if value is not None:
            out[name.lower()] = Path(value)

    path("DATA_DIR")
    text("DATABASE_URL")
    if "database_url" in out:
        url = out["database_url"]
        if not re.match(r"^(sqlite|postgres|postgresql)(\+\w+)?://", url):
            raise ConfigError(
                f"{PREFIX}DATABASE_URL: unsupported URL scheme in {_redact(url)!r}; "
                "use sqlite:///path/to/file.db or postgresql://user:pass@host:5432/db"
            )
    text("EUTILS_URL")
    if "eutils_url" in out:
        url = out["eutils_url"]
        if not re.match(r"^https?://[^/\s]+", url):
            raise ConfigError(f"{PREFIX}EUTILS_URL={url!r}: must be an http(s) URL")
        if not url.endswith("/"):
            out["eutils_url"] = url + "/"
    for name in ("CTGOV_URL", "EUROPEPMC_URL"):
        text(name)
        if name.lower() in out:
            url = out[name.lower()]
            if not re.match(r"^https?://[^/\s]+", url):
                raise ConfigError(f"{PREFIX}{name}={url!r}: must be an http(s) URL")
            if not url.endswith("/"):
                out[name.lower()] = url + "/"
    text("NCBI_API_KEY")
    text("NCBI_EMAIL")
    if "ncbi_email" in out and not _looks_like_address(out["ncbi_email"]):
        raise ConfigError(f"{PREFIX}NCBI_EMAIL={out['ncbi_email']!r}: not an email address")
    text("NCBI_TOOL")
    if "ncbi_tool" in out and not re.fullmatch(r"[A-Za-z0-9._-]+", out["ncbi_tool"]):
        raise ConfigError(
            f"{PREFIX}NCBI_TOOL={out['ncbi_tool']!r}: NCBI wants a name without spaces "
            "(letters, digits, . _ -)"
        )
    path("FEEDS_DIR")
    path("REPORTS_DIR")
    number("FETCH_BATCH_SIZE", int, 1, 500)
    number("OVERLAP_DAYS", int, 0, 365)
    lookback = _raw(env, "LOOKBACK_START")
    if lookback is not None:
        try:
            out["lookback_start"] = date.fromisoformat(lookback)
        except ValueError:
            raise ConfigError(
                f"{PREFIX}LOOKBACK_START={lookback!r}: not a date (YYYY-MM-DD)"
            ) from None
    number("HTTP_TIMEOUT", float, 1, 3600)
    number("HTTP_DEADLINE", float, 1, 7200)
    number("HTTP_MAX_ATTEMPTS", int, 1, 20)
    number("HTTP_BACKOFF", float, 0, 600)
    text("SMTP_HOST")
    number("SMTP_PORT", int, 1, 65535)
    text("SMTP_USERNAME")
    text("SMTP_PASSWORD")
    choice("SMTP_SECURITY", ("starttls", "ssl", "none"))
    flag("SMTP_VERIFY")
    number("SMTP_TIMEOUT", float, 1, 600)
    path("SMTP_CA_FILE")
    if "smtp_ca_file" in out and not out["smtp_ca_file"].is_file():
        raise ConfigError(f"{PREFIX}SMTP_CA_FILE={str(out['smtp_ca_file'])!r}: no such file")
    text("MAIL_FROM")
    if "mail_from" in out and not _looks_like_address(out["mail_from"]):
        raise ConfigError(f"{PREFIX}MAIL_FROM={out['mail_from']!r}: not an email address")
    path("OUTBOX_DIR")
    text("REPORT_URL")
    number("LEASE_SECONDS", float, 5, 3600)
    number("HEARTBEAT_SECONDS", float, 1, 3600)
    number("SHUTDOWN_GRACE_SECONDS", float, 0, 3600)
    number("DIGEST_RETRY_SECONDS", float, 1, 86400)
    choice("LOG_FORMAT", ("text", "json"))
    choice("LOG_LEVEL", ("debug", "info", "warning", "error"))
    if "log_level" in out:
        out["log_level"] = out["log_level"].upper()
    if out.get("smtp_username") and not out.get("smtp_password"):
        raise ConfigError(
            f"{PREFIX}SMTP_USERNAME is set but {PREFIX}SMTP_PASSWORD (or {PREFIX}SMTP_PASSWORD_FILE) is not"
        )
    if out.get("smtp_username") and out.get("smtp_security") == "none":
        raise ConfigError(
            f"{PREFIX}SMTP_SECURITY=none with {PREFIX}SMTP_USERNAME set would send the password "
            "in clear; use starttls or ssl"
        )
    known = {f.name.upper() for f in fields(Settings)} | {s + "_FILE" for s in SECRETS}
    out["extra"] = {
        k: v for k, v in env.items()
        if k.startswith(PREFIX) and k[len(PREFIX):] not in known
        and not k.startswith(PREFIX + "TEST_")
    }
    return out


_ADDRESS = re.compile(r"^(?:[^<>@\s]+ )*<?[^<>@\s]+@[^<>@\s]+>?$")


def _looks_like_address(value: str) -> bool:
    return bool(_ADDRESS.match(value.strip())) and "\n" not in value and "\r" not in value


def _redact(url: str) -> str:
    return re.sub(r"://([^:/@]+):[^@]+@", r"://\1:***@", url)
