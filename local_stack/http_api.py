"""The template's HTTP API: route matching as API Gateway does it, events, responses.

Routes come from the functions' `HttpApi` (payload 2.0) and `Api` (payload 1.0) events.
A request takes the most specific route: literal segments before `{param}` ones, a
greedy `{proxy+}` last, `$default` only when nothing else matches, and a route's own
method before `ANY`. The stage is `$default`, so `rawPath` is the request's path.
"""

from __future__ import annotations

import base64
import json
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import parse_qsl, unquote

from local_stack.template import HttpRoute

ACCOUNT_ID = "123456789012"
API_ID = "local"
TEXT_TYPES = ("text/", "application/json", "application/xml", "application/javascript")


@dataclass(frozen=True)
class Match:
    route: HttpRoute
    path_parameters: dict[str, str]


@dataclass(frozen=True)
class _Compiled:
    route: HttpRoute
    segments: tuple[str, ...]

    @property
    def greedy(self) -> bool:
        return bool(self.segments) and self.segments[-1].endswith("+}")

    def rank(self) -> tuple[Any, ...]:
        variable = tuple(s.startswith("{") for s in self.segments)
        return (
            self.route.path is None,
            self.greedy,
            sum(variable),
            variable,
            self.route.method == "ANY",
        )

    def match(self, parts: list[str]) -> dict[str, str] | None:
        if self.route.path is None:
            return {}
        segments = self.segments
        if self.greedy:
            fixed = segments[:-1]
            if len(parts) <= len(fixed):
                return None
        elif len(parts) != len(segments):
            return None
        else:
            fixed = segments
        parameters: dict[str, str] = {}
        for template, part in zip(fixed, parts, strict=False):
            if template.startswith("{"):
                if not part:
                    return None
                parameters[template[1:-1]] = unquote(part)
            elif template != part:
                return None
        if self.greedy:
            name = segments[-1][1:-2]
            parameters[name] = unquote("/".join(parts[len(fixed) :]))
        return parameters


def _split(path: str) -> list[str]:
    stripped = path.strip("/")
    return stripped.split("/") if stripped else []


class RouteTable:
    def __init__(self, routes: list[HttpRoute]) -> None:
        compiled = [
            _Compiled(r, tuple(_split(r.path)) if r.path is not None else ()) for r in routes
        ]
        self._routes = sorted(compiled, key=lambda c: c.rank())

    @property
    def routes(self) -> list[HttpRoute]:
        return [c.route for c in self._routes]

    def match(self, method: str, path: str) -> Match | None:
        parts = _split(path)
        for compiled in self._routes:
            if compiled.route.method not in ("ANY", method.upper()):
                continue
            parameters = compiled.match(parts)
            if parameters is not None:
                return Match(compiled.route, parameters)
        return None


@dataclass
class HttpRequest:
    """What the local server hands over: enough to build either payload format."""

    method: str
    path: str  # raw, percent-encoded
    query_string: str
    headers: list[tuple[str, str]]
    body: bytes
    source_ip: str
    host: str
    protocol: str = "HTTP/1.1"


def _body(request: HttpRequest) -> tuple[str | None, bool]:
    if not request.body:
        return None, False
    content_type = next((v for k, v in request.headers if k.lower() == "content-type"), "")
    textual = not content_type or content_type.lower().startswith(TEXT_TYPES)
    if textual:
        try:
            return request.body.decode("utf-8"), False
        except UnicodeDecodeError:
            pass
    return base64.b64encode(request.body).decode(), True


def _joined(pairs: list[tuple[str, str]], lower: bool) -> dict[str, str]:
    joined: dict[str, str] = {}
    for key, value in pairs:
        key = key.lower() if lower else key
        joined[key] = f"{joined[key]},{value}" if key in joined else value
    return joined


def build_event(match: Match, request: HttpRequest, now: datetime) -> dict[str, Any]:
    if match.route.payload_format.startswith("1"):
        return _event_v1(match, request, now)
    return _event_v2(match, request, now)


def _event_v2(match: Match, request: HttpRequest, now: datetime) -> dict[str, Any]:
    headers = [(k, v) for k, v in request.headers if k.lower() != "cookie"]
    cookies = [
        c.strip()
        for k, v in request.headers
        if k.lower() == "cookie"
        for c in v.split(";")
        if c.strip()
    ]
    query = parse_qsl(request.query_string, keep_blank_values=True)
    body, encoded = _body(request)
    user_agent = next((v for k, v in request.headers if k.lower() == "user-agent"), "")
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": match.route.route_key,
        "rawPath": request.path,
        "rawQueryString": request.query_string,
        "headers": _joined(headers, lower=True),
        "requestContext": {
            "accountId": ACCOUNT_ID,
            "apiId": API_ID,
            "domainName": request.host,
            "domainPrefix": request.host.split(".")[0].split(":")[0],
            "http": {
                "method": request.method.upper(),
                "path": request.path,
                "protocol": request.protocol,
                "sourceIp": request.source_ip,
                "userAgent": user_agent,
            },
            "requestId": str(uuid.uuid4()),
            "routeKey": match.route.route_key,
            "stage": "$default",
            "time": now.strftime("%d/%b/%Y:%H:%M:%S +0000"),
            "timeEpoch": int(now.timestamp() * 1000),
        },
        "isBase64Encoded": encoded,
    }
    if cookies:
        event["cookies"] = cookies
    if query:
        event["queryStringParameters"] = _joined(query, lower=False)
    if match.path_parameters:
        event["pathParameters"] = dict(match.path_parameters)
    if body is not None:
        event["body"] = body
    return event


def _event_v1(match: Match, request: HttpRequest, now: datetime) -> dict[str, Any]:
    multi_headers: dict[str, list[str]] = {}
    for key, value in request.headers:
        multi_headers.setdefault(key, []).append(value)
    multi_query: dict[str, list[str]] = {}
    for key, value in parse_qsl(request.query_string, keep_blank_values=True):
        multi_query.setdefault(key, []).append(value)
    body, encoded = _body(request)
    return {
        "version": "1.0",
        "resource": match.route.path or "$default",
        "path": request.path,
        "httpMethod": request.method.upper(),
        "headers": {k: v[-1] for k, v in multi_headers.items()},
        "multiValueHeaders": multi_headers,
        "queryStringParameters": {k: v[-1] for k, v in multi_query.items()} or None,
        "multiValueQueryStringParameters": multi_query or None,
        "pathParameters": dict(match.path_parameters) or None,
        "stageVariables": None,
        "requestContext": {
            "accountId": ACCOUNT_ID,
            "apiId": API_ID,
            "domainName": request.host,
            "httpMethod": request.method.upper(),
            "identity": {"sourceIp": request.source_ip},
            "path": request.path,
            "protocol": request.protocol,
            "requestId": str(uuid.uuid4()),
            "requestTime": now.strftime("%d/%b/%Y:%H:%M:%S +0000"),
            "requestTimeEpoch": int(now.timestamp() * 1000),
            "resourcePath": match.route.path or "$default",
            "stage": "$default",
        },
        "body": body,
        "isBase64Encoded": encoded,
    }


@dataclass
class HttpResponse:
    status: int
    headers: list[tuple[str, str]]
    body: bytes


class BadFunctionResponse(ValueError):
    """The function answered something API Gateway would turn into a 500."""


def to_response(result: Any, payload_format: str = "2.0") -> HttpResponse:
    """A function's result as API Gateway turns it into an HTTP response."""
    if isinstance(result, dict) and "statusCode" in result:
        try:
            status = int(result["statusCode"])
        except (TypeError, ValueError) as error:
            raise BadFunctionResponse(f"statusCode {result['statusCode']!r}") from error
        headers = [(str(k), str(v)) for k, v in (result.get("headers") or {}).items()]
        for key, values in (result.get("multiValueHeaders") or {}).items():
            headers += [(str(key), str(v)) for v in values]
        headers += [("Set-Cookie", str(c)) for c in result.get("cookies") or []]
        raw = result.get("body")
        if raw is None:
            body = b""
        elif result.get("isBase64Encoded"):
            body = base64.b64decode(str(raw))
        else:
            body = raw.encode() if isinstance(raw, str) else json.dumps(raw).encode()
        return HttpResponse(status, headers, body)
    if payload_format.startswith("1"):
        raise BadFunctionResponse("a payload 1.0 response needs a statusCode")
    try:
        body = json.dumps(result).encode()
    except (TypeError, ValueError) as error:
        raise BadFunctionResponse("the result is not JSON") from error
    return HttpResponse(200, [("Content-Type", "application/json")], body)
