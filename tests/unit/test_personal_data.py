"""Personal data stays out of logs and traces: phone numbers are masked to their last
two digits, names, variables and call summaries are hidden, and no handler hands its
response (contacts) to the tracer."""

from __future__ import annotations

import ast
import io
import json
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from batchcalls.observability import logger, mask_personal_data, mask_phone, mask_text

ROOT = Path(__file__).resolve().parents[2]
NUMBER = "+12125550104"


@pytest.mark.parametrize(
    ("number", "masked"),
    [
        ("+12125550104", "+*********04"),
        ("+442071838750", "+**********50"),
        ("(212) 555-0104", "(***) ***-**04"),
        ("12", "**"),
        ("", ""),
    ],
)
def test_a_phone_number_keeps_only_its_last_two_digits(number, masked):
    assert mask_phone(number) == masked


def test_numbers_inside_text_are_masked_and_other_digits_are_not():
    text = f"dialling {NUMBER} from +14155550100 at 1796047200000 (2026-12-01T09:00:00+0000)"
    assert mask_text(text) == (
        "dialling +*********04 from +*********00 at 1796047200000 (2026-12-01T09:00:00+0000)"
    )


def test_a_record_hides_names_variables_summaries_and_numbers_at_any_depth():
    record = {
        "message": f"call to {NUMBER} failed",
        "call_id": "call_0123",
        "to": "12125550104",
        "call": {
            "from": "+14155550100",
            "name": "Ada Lovelace",
            "variables": {"plan": "gold", "notes": "prefers mornings"},
            "phone_numbers": ["+14155550100"],
        },
        "contacts": [{"phone_number": NUMBER, "summary": "She agreed to renew."}],
        "count": 3,
    }
    masked = json.dumps(mask_personal_data(record))
    for secret in ("2125550104", "4155550100", "Ada", "Lovelace", "gold", "mornings", "renew"):
        assert secret not in masked, secret
    assert '"call_id": "call_0123"' in masked and '"count": 3' in masked
    assert '"variables": {"plan": "***", "notes": "***"}' in masked


@pytest.fixture
def log_lines() -> Iterator[io.StringIO]:
    """What the shared logger writes, through its own formatter."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logger.registered_formatter)
    logger.addHandler(handler)
    yield stream
    logger.removeHandler(handler)


def test_a_log_line_never_carries_a_full_number_name_or_variable(log_lines):
    # When the shared logger writes a line with personal data in the message, in keys
    # and in an exception's text
    logger.warning(
        f"provider refused {NUMBER}",
        to=NUMBER,
        contact_name="Ada",
        variables={"plan": "gold"},
        message_text=str({"to": NUMBER, "from": "+14155550100"}),
    )
    try:
        raise ValueError(f"cannot dial {NUMBER}")
    except ValueError:
        logger.exception("dial failed")
    # Then every line is JSON and none carries them
    lines = [json.loads(line) for line in log_lines.getvalue().splitlines() if line]
    assert [line["level"] for line in lines] == ["WARNING", "ERROR"]
    written = json.dumps(lines)
    for secret in ("2125550104", "4155550100", "Ada", "gold"):
        assert secret not in written, secret
    assert lines[0]["message"] == "provider refused +*********04"
    assert "cannot dial +*********04" in lines[1]["exception"]


def _tracer_decorators(path: Path) -> list[tuple[str, ast.expr]]:
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            for decorator in node.decorator_list:
                target = decorator.func if isinstance(decorator, ast.Call) else decorator
                if ast.unparse(target).startswith("tracer.capture"):
                    found.append((f"{path.parent.name}.{node.name}", decorator))
    return found


def test_no_function_hands_its_response_to_the_tracer():
    # Every handler and traced method returns or carries contacts at some point; none may
    # put what it returns into X-Ray.
    decorators = [
        d for app in sorted(ROOT.glob("functions/*/app.py")) for d in _tracer_decorators(app)
    ]
    assert {name.split(".")[0] for name, _ in decorators} >= {"api", "provider_events", "caller"}
    for name, decorator in decorators:
        assert isinstance(decorator, ast.Call), f"{name}: {ast.unparse(decorator)}"
        arguments = {k.arg: ast.unparse(k.value) for k in decorator.keywords}
        assert arguments.get("capture_response") == "False", f"{name}: {ast.unparse(decorator)}"
