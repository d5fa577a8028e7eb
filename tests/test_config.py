"""Settings: defaults, every variable read, bad values named, secrets from _FILE."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from monitor.config import NCBI_EUTILS_URL, ConfigError, Settings


def test_defaults_need_no_environment() -> None:
    s = Settings.from_env({})
    assert s.eutils_url == NCBI_EUTILS_URL
    assert s.effective_database_url == "sqlite:///data/litmon.db"
    assert s.fetch_batch_size == 200
    assert s.overlap_days == 3
    assert s.smtp_host is None
    assert s.effective_outbox_dir == Path("data/outbox")


def test_every_documented_variable_is_read(tmp_path: Path) -> None:
    s = Settings.from_env({
        "LITMON_DATABASE_URL": "postgres://u:p@db:5432/litmon",
        "LITMON_DATA_DIR": str(tmp_path),
        "LITMON_EUTILS_URL": "http://127.0.0.1:8080/eutils",
        "LITMON_NCBI_API_KEY": "k123",
        "LITMON_NCBI_EMAIL": "me@example.org",
        "LITMON_NCBI_TOOL": "litmon-ci",
        "LITMON_FEEDS_DIR": "/etc/feeds",
        "LITMON_REPORTS_DIR": "/srv/reports",
        "LITMON_FETCH_BATCH_SIZE": "500",
        "LITMON_LOOKBACK_START": "2000-01-01",
    })
    assert s.effective_database_url == "postgresql+psycopg://u:p@db:5432/litmon"
    assert s.data_dir == tmp_path
    assert s.eutils_url == "http://127.0.0.1:8080/eutils/"  # a trailing slash is added
    assert (s.ncbi_api_key, s.ncbi_email, s.ncbi_tool) == ("k123", "me@example.org", "litmon-ci")
    assert s.feeds_dir == Path("/etc/feeds") and s.reports_dir == Path("/srv/reports")
    assert s.fetch_batch_size == 500
    assert s.lookback_start == date(2000, 1, 1)


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"LITMON_FETCH_BATCH_SIZE": "501"}, "LITMON_FETCH_BATCH_SIZE"),
        ({"LITMON_FETCH_BATCH_SIZE": "many"}, "LITMON_FETCH_BATCH_SIZE"),
        ({"LITMON_EUTILS_URL": "ftp://x"}, "LITMON_EUTILS_URL"),
        ({"LITMON_DATABASE_URL": "mysql://x"}, "LITMON_DATABASE_URL"),
        ({"LITMON_NCBI_TOOL": "my tool"}, "LITMON_NCBI_TOOL"),
        ({"LITMON_NCBI_EMAIL": "not-an-address"}, "LITMON_NCBI_EMAIL"),
        ({"LITMON_SMTP_SECURITY": "tls13"}, "LITMON_SMTP_SECURITY"),
        ({"LITMON_SMTP_PORT": "70000"}, "LITMON_SMTP_PORT"),
        ({"LITMON_LOOKBACK_START": "2020-13-01"}, "LITMON_LOOKBACK_START"),
        ({"LITMON_SMTP_USERNAME": "u"}, "LITMON_SMTP_PASSWORD"),
        ({"LITMON_SMTP_USERNAME": "u", "LITMON_SMTP_PASSWORD": "p", "LITMON_SMTP_SECURITY": "none"},
         "LITMON_SMTP_SECURITY"),
    ],
)
def test_bad_values_stop_with_the_variable_named(env: dict[str, str], named: str) -> None:
    with pytest.raises(ConfigError, match=named):
        Settings.from_env(env)


def test_secret_from_file_strips_the_trailing_newline(tmp_path: Path) -> None:
    secret = tmp_path / "key"
    secret.write_text("s3cr3t\n")
    s = Settings.from_env({"LITMON_NCBI_API_KEY_FILE": str(secret)})
    assert s.ncbi_api_key == "s3cr3t"


def test_secret_file_problems_are_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="LITMON_SMTP_PASSWORD_FILE=.*cannot read"):
        Settings.from_env({"LITMON_SMTP_PASSWORD_FILE": str(tmp_path / "missing")})
    secret = tmp_path / "pw"
    secret.write_text("x")
    with pytest.raises(ConfigError, match="both set"):
        Settings.from_env({"LITMON_SMTP_PASSWORD": "y", "LITMON_SMTP_PASSWORD_FILE": str(secret)})
    with pytest.raises(ConfigError, match="not a secret"):
        Settings.from_env({"LITMON_FEEDS_DIR_FILE": str(secret)})


def test_password_in_database_url_is_redacted_in_errors() -> None:
    with pytest.raises(ConfigError) as err:
        Settings.from_env({"LITMON_DATABASE_URL": "oracle://admin:hunter2@db/x"})
    assert "hunter2" not in str(err.value)


def test_unknown_litmon_variables_are_collected_for_a_warning() -> None:
    s = Settings.from_env({"LITMON_EUTIL_URL": "typo", "LITMON_TEST_POSTGRES_URL": "x"})
    assert s.extra == {"LITMON_EUTIL_URL": "typo"}
