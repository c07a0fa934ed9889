"""A provider's error answer decides how the attempt ends, and only its status and error
code are kept: its body may echo the number, the name or the variables of the call."""

from __future__ import annotations

import json

import pytest
from batchcalls.adapters.provider_http import result_of_error

ECHO = {"error": {"code": "busy", "message": "cannot call +12125550104 for Ada (plan gold)"}}


@pytest.mark.parametrize(
    ("status", "body", "outcome", "detail"),
    [
        (503, json.dumps(ECHO).encode(), "unavailable", "HTTP 503 busy"),
        (422, b'{"error": {"code": "from_rejected"}}', "from_rejected", "HTTP 422 from_rejected"),
        (422, b'{"error": {"code": "invalid_to"}}', "refused", "HTTP 422 invalid_to"),
        (400, b"<html>bad number +12125550104</html>", "refused", "HTTP 400"),
        (400, b'{"error": {"code": "+12125550104"}}', "refused", "HTTP 400"),
        (400, b'{"error": "+12125550104"}', "refused", "HTTP 400"),
        (500, b"[" * 100_000, "unavailable", "HTTP 500"),
        # The agent or our credentials refused: the campaign cannot go on.
        (401, b"", "blocked", "HTTP 401"),
        (403, b'{"error": {"code": "forbidden"}}', "blocked", "HTTP 403 forbidden"),
        (404, b'{"error": {"code": "agent_not_found"}}', "blocked", "HTTP 404 agent_not_found"),
        (422, b'{"error": {"code": "unauthorized"}}', "blocked", "HTTP 422 unauthorized"),
    ],
)
def test_an_error_answer_keeps_its_status_and_code_and_never_its_body(
    status, body, outcome, detail
):
    result = result_of_error(status, body)
    assert (result.status, result.http_status, result.detail) == (outcome, status, detail)
