"""Drive the api function with API Gateway HTTP API (payload 2.0) events."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from tests.support.template import ROOT

EVENTS = ROOT / "events"


def load_event(name: str) -> dict[str, Any]:
    return json.loads((EVENTS / name).read_text())


def http_event(
    method: str,
    path: str,
    body: Any = None,
    headers: dict[str, str] | None = None,
    query: dict[str, str] | None = None,
    raw_body: str | None = None,
) -> dict[str, Any]:
    event = load_event("api_create_campaign.json")
    event["routeKey"] = f"{method} {path}"
    event["rawPath"] = path
    event["rawQueryString"] = urlencode(query or {})
    event["queryStringParameters"] = dict(query) if query else None
    event["headers"] = {"content-type": "application/json", **(headers or {})}
    event["requestContext"]["http"]["method"] = method
    event["requestContext"]["http"]["path"] = path
    if raw_body is not None:
        event["body"] = raw_body
    elif body is not None:
        event["body"] = json.dumps(body)
    else:
        event["body"] = None
    event["isBase64Encoded"] = False
    return event


@dataclass
class Reply:
    status: int
    body: Any
    headers: dict[str, str]


class LambdaContextStub:
    function_name = "ApiFunction"
    memory_limit_in_mb = 512
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:ApiFunction"
    aws_request_id = "test-request"

    def get_remaining_time_in_millis(self) -> int:
        return 30_000


class ApiClient:
    """Calls the api function's handler in-process, as API Gateway would."""

    def __init__(self, handler: Any, api_key: str | None) -> None:
        self.handler = handler
        self.api_key = api_key

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        key: str | None = "default",
        headers: dict[str, str] | None = None,
        query: dict[str, str] | None = None,
        raw_body: str | None = None,
    ) -> Reply:
        all_headers = dict(headers or {})
        api_key = self.api_key if key == "default" else key
        if api_key:
            all_headers["authorization"] = f"Bearer {api_key}"
        event = http_event(method, path, body, all_headers, query, raw_body)
        result = self.handler(event, LambdaContextStub())
        text = result.get("body") or ""
        parsed = json.loads(text) if text else None
        return Reply(result["statusCode"], parsed, result.get("headers") or {})

    def get(self, path: str, **kwargs: Any) -> Reply:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, body: Any = None, **kwargs: Any) -> Reply:
        return self.request("POST", path, body, **kwargs)

    def patch(self, path: str, body: Any = None, **kwargs: Any) -> Reply:
        return self.request("PATCH", path, body, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> Reply:
        return self.request("DELETE", path, **kwargs)


__all__ = ["ApiClient", "Path", "Reply", "http_event", "load_event"]
