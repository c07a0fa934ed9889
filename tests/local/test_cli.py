"""`python -m local_stack` (what `make local` runs) serves until interrupted."""

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_the_command_serves_the_api_with_the_configured_keys_and_stops_on_ctrl_c():
    # Given
    port = free_port()
    environment = {
        **os.environ,
        "PORT": str(port),
        "PROVIDER_PORT": str(free_port()),
        "CLOCK": "simulated",
        "CLOCK_START": "2026-11-30T14:00:00Z",
        "API_KEYS": "cli-key:tenant_cli",
        "PYTHONPATH": str(ROOT),
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "local_stack"],
        cwd=ROOT,
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        # When it is up (polling a server that starts)
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(base + "/_local/clock", timeout=2) as response:
                    clock = json.loads(response.read())
                break
            except (urllib.error.URLError, OSError):
                assert process.poll() is None, process.stdout.read()
                assert time.monotonic() < deadline, "the local stack did not start"
                time.sleep(0.1)
        # Then
        assert clock == {"now": "2026-11-30T14:00:00.000Z", "mode": "simulated"}
        request = urllib.request.Request(
            base + "/batch-calls", headers={"Authorization": "Bearer cli-key"}
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            assert response.status == 200
    finally:
        process.send_signal(signal.SIGINT)
        output, _ = process.communicate(timeout=60)
    assert process.returncode == 0
    assert f"http://127.0.0.1:{port}" in output
    assert "cli-key" in output and "simulated" in output
