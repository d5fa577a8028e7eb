"""The image, end to end: scripts/container-test.sh (podman; about two minutes with cached layers).

Builds the image from a local Debian base, runs `litmon run` and `litmon serve` in it as non-root
on a read-only root filesystem against the stand-in E-utilities server and an SMTP sink, checks
`litmon health`, the HEALTHCHECK and a clean SIGTERM. Select with ``-m container``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.container
def test_container_end_to_end():
    missing = [tool for tool in ("podman", "runc") if shutil.which(tool) is None]
    if missing:
        pytest.skip(f"needs {' and '.join(missing)} (apt-get install -y podman runc debootstrap)")
    if os.geteuid() != 0:
        pytest.skip("needs root for rootful podman and debootstrap")
    result = subprocess.run([str(REPO / "scripts" / "container-test.sh")], cwd=REPO,
                            capture_output=True, text=True, timeout=1800)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    assert "PASS" in result.stdout
