"""pytest fixtures for the ClinicalTrials.gov and Europe PMC stand-ins (a pytest plugin)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.standin.ctgov import CtgovStandin
from tests.standin.europepmc import EuropePmcStandin


@pytest.fixture
def ctgov_server() -> Iterator[CtgovStandin]:
    """An empty ClinicalTrials.gov stand-in; add studies with ``add_study``. ``.url`` ends in /."""
    server = CtgovStandin().start()
    try:
        yield server  # type: ignore[misc]
    finally:
        server.stop()


@pytest.fixture
def ctgov_recorded() -> Iterator[CtgovStandin]:
    """The stand-in serving the real recorded two-page search by its page tokens."""
    server = CtgovStandin.recorded().start()
    try:
        yield server  # type: ignore[misc]
    finally:
        server.stop()


@pytest.fixture
def europepmc_server() -> Iterator[EuropePmcStandin]:
    """An empty Europe PMC stand-in; add results with ``add_result``."""
    server = EuropePmcStandin().start()
    try:
        yield server  # type: ignore[misc]
    finally:
        server.stop()


@pytest.fixture
def europepmc_recorded() -> Iterator[EuropePmcStandin]:
    """The stand-in serving the ten real recorded pages by their cursor marks."""
    server = EuropePmcStandin.recorded().start()
    try:
        yield server  # type: ignore[misc]
    finally:
        server.stop()
