"""What the shared tracer loads and patches at import, in a fresh interpreter (a cold
start's): with tracing on, the X-Ray recorder patches botocore only;
with tracing off, the X-Ray recorder (aws_xray_sdk.core) is never imported."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from batchcalls.observability import TRACED_MODULES

PROBE = """
import json, sys
import batchcalls.observability
patched = sorted(sys.modules["aws_xray_sdk.core.patcher"]._PATCHED_MODULES) if (
    "aws_xray_sdk.core.patcher" in sys.modules) else None
print(json.dumps({
    "patched": patched,
    "xray_loaded": "aws_xray_sdk.core" in sys.modules,
    "requests_loaded": "requests" in sys.modules,
}))
"""


def import_observability(tracing_on: bool) -> dict:
    environment = {
        key: value
        for key, value in os.environ.items()
        if key not in {"POWERTOOLS_TRACE_DISABLED", "LAMBDA_TASK_ROOT"}
    }
    if tracing_on:  # as in Lambda: Powertools takes LAMBDA_TASK_ROOT for "in Lambda"
        environment["LAMBDA_TASK_ROOT"] = os.getcwd()
    else:
        environment["POWERTOOLS_TRACE_DISABLED"] = "true"
    answer = subprocess.run(
        [sys.executable, "-c", PROBE], env=environment, capture_output=True, text=True, check=True
    )
    return json.loads(answer.stdout.strip().splitlines()[-1])


def test_with_tracing_on_only_botocore_is_patched() -> None:
    loaded = import_observability(tracing_on=True)

    assert loaded["xray_loaded"]
    assert loaded["patched"] == list(TRACED_MODULES) == ["botocore"]
    assert not loaded["requests_loaded"]


def test_with_tracing_off_the_xray_recorder_is_never_imported() -> None:
    loaded = import_observability(tracing_on=False)

    assert loaded == {"patched": None, "xray_loaded": False, "requests_loaded": False}
