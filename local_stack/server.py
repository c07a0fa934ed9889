"""The local HTTP servers: the API (routes from the template, plus /_local) and the provider."""

from __future__ import annotations

import json
import logging
import math
import re
import threading
import traceback
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler
from werkzeug.wrappers import Request, Response

from local_stack.aws_requests import InvocationCrashed
from local_stack.faults import FaultError
from local_stack.http_api import BadFunctionResponse, HttpRequest, build_event, to_response
from local_stack.lambdas import triggered
from local_stack.provider import iso

if TYPE_CHECKING:
    from local_stack.stack import LocalStack

log = logging.getLogger("local_stack")

MAX_BODY_BYTES = 10 * 1024 * 1024  # API Gateway HTTP APIs refuse larger payloads
MAX_ADVANCE_SECONDS = 366 * 86400
# A hanging sink holds its request this long (real seconds), past any client's timeout.
HANG_SECONDS = 60

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


def error(status: int, code: str, message: str, details: list[dict[str, str]] | None = None):
    """An error in API.md's shape."""
    body = {"error": {"code": code, "message": message, "details": details or []}}
    return Response(json.dumps(body), status=status, content_type="application/json")


class DropConnection(ConnectionAbortedError):
    """Raised by an app: close the connection without any response (werkzeug drops it)."""


def ok(body: Any, status: int = 200) -> Response:
    return Response(json.dumps(body), status=status, content_type="application/json")


def _json_body(request: Request) -> tuple[Any, Response | None]:
    raw = request.get_data(cache=True)
    try:
        return json.loads(raw or b"null"), None
    except ValueError:
        return None, error(400, "invalid_json", "the body is not valid JSON")


@dataclass
class WebhookSink:
    items: list[dict[str, Any]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    hits: dict[str, int] = field(default_factory=dict)

    def record(self, request: Request, received_at: str) -> None:
        raw = request.get_data(cache=True)
        try:
            body: Any = json.loads(raw) if raw else None
        except ValueError:
            body = raw.decode("utf-8", "replace")
        with self.lock:
            self.hits[request.path] = self.hits.get(request.path, 0) + 1
            self.items.append(
                {
                    "url": request.url,
                    "method": request.method,
                    "headers": {k.lower(): v for k, v in request.headers.items()},
                    "body": body,
                    "raw_body": raw.decode("utf-8", "replace"),
                    "received_at": received_at,
                }
            )

    released: threading.Event = field(default_factory=threading.Event)

    def list(self) -> list[dict[str, Any]]:
        with self.lock:
            return list(self.items)

    def count(self, path: str) -> int:
        """Requests received on that path (this one included)."""
        with self.lock:
            return self.hits.get(path, 0)

    def hang(self) -> None:
        self.released.wait(HANG_SECONDS)

    def clear(self) -> None:
        with self.lock:
            self.items.clear()
            self.hits.clear()


class _QuietHandler(WSGIRequestHandler):
    def log_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def _guarded(app: Callable[[Request], Response]) -> WsgiApp:
    """Never let an exception of the local server itself become a traceback page."""

    def wsgi(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        request = Request(environ)
        try:
            response = app(request)
        except DropConnection:
            raise
        except Exception:
            log.error(
                "local server error on %s %s\n%s",
                request.method,
                request.path,
                traceback.format_exc(),
            )
            response = error(500, "internal_error", "the local stack failed; see its log")
        return response(environ, start_response)

    return wsgi


def _raw_path(request: Request) -> str:
    raw = request.environ.get("RAW_URI") or request.environ.get("REQUEST_URI") or request.path
    path = raw.split("?", 1)[0]
    if "://" in path:  # an absolute-form request target
        path = "/" + path.split("://", 1)[1].partition("/")[2]
    return path or "/"


class ApiApp:
    def __init__(self, stack: LocalStack) -> None:
        self.stack = stack
        self.webhooks = WebhookSink()

    def __call__(self, request: Request) -> Response:
        path = request.path
        if path == "/_local" or path.startswith("/_local/"):
            return self._local(request, path)
        return self._api(request)

    # ----------------------------------------------------------------- the template's API
    def _api(self, request: Request) -> Response:
        stack = self.stack
        match = stack.routes.match(request.method, _raw_path(request))
        if match is None:
            return error(404, "not_found", f"no route for {request.method} {request.path}")
        if (request.content_length or 0) > MAX_BODY_BYTES:
            return error(413, "payload_too_large", "the body is larger than 10 MB")
        body = request.get_data(cache=False)
        if len(body) > MAX_BODY_BYTES:
            return error(413, "payload_too_large", "the body is larger than 10 MB")
        http_request = HttpRequest(
            method=request.method,
            path=_raw_path(request),
            query_string=request.environ.get("QUERY_STRING", ""),
            headers=list(request.headers.items()),
            body=body,
            source_ip=request.remote_addr or "127.0.0.1",
            host=request.host,
            protocol=request.environ.get("SERVER_PROTOCOL", "HTTP/1.1"),
        )
        event = build_event(match, http_request, stack.now())
        function = stack.functions[match.route.function]
        try:
            with triggered(f"http {match.route.route_key}"):
                result = function.invoke(event)
            answer = to_response(result, match.route.payload_format)
        except InvocationCrashed:
            # API Gateway's answer when the function dies (a crash fault).
            log.warning("%s crashed on %s %s", function.logical_id, request.method, request.path)
            return Response(
                json.dumps({"message": "Internal Server Error"}),
                status=502,
                content_type="application/json",
            )
        except BadFunctionResponse as failure:
            log.error("%s answered badly: %s", function.logical_id, failure)
            return error(500, "internal_error", "the function's response was not valid")
        except Exception:
            log.error("%s failed:\n%s", function.logical_id, traceback.format_exc())
            return error(500, "internal_error", "the function failed; see the local stack's log")
        finally:
            stack.loop.drain_soon()
        log.info("%s %s -> %s", request.method, request.full_path.rstrip("?"), answer.status)
        response = Response(answer.body, status=answer.status)
        response.headers.clear()
        for key, value in answer.headers:
            response.headers.add(key, value)
        if "content-type" not in {k.lower() for k, _ in answer.headers} and answer.body:
            response.headers["Content-Type"] = "application/json"
        return response

    # ----------------------------------------------------------------- /_local
    def _local(self, request: Request, path: str) -> Response:
        stack = self.stack
        if path.startswith("/_local/webhook-sink/") or path == "/_local/webhook-sink":
            self.webhooks.record(request, iso(stack.now()))
            parts = path.split("/")
            mode = parts[3] if len(parts) > 3 else ""
            # /_local/webhook-sink/status/<code>/... answers <code>: a failing receiver.
            if mode == "status" and len(parts) > 4 and parts[4].isdigit():
                code = int(parts[4])
                if 200 <= code <= 599:
                    return ok({"received": True}, code)
            # /_local/webhook-sink/fail-<n>/... answers 500 to the first n requests to
            # that path, then 200: a receiver that recovers.
            failing = re.fullmatch(r"fail-(\d{1,6})", mode)
            if failing and self.webhooks.count(path) <= int(failing.group(1)):
                return ok({"received": False}, 500)
            # /_local/webhook-sink/hang/... never answers (its thread waits, in real time,
            # until the client gave up or the stack stops; then the connection drops).
            if mode == "hang":
                self.webhooks.hang()
                raise DropConnection("the webhook sink hangs (hang mode)")
            return ok({"received": True})
        routes: dict[str, dict[str, Callable[[Request], Response]]] = {
            "/_local/clock": {"GET": lambda r: ok(self._clock())},
            "/_local/clock/advance": {"POST": self._advance},
            "/_local/provider/calls": {"GET": lambda r: ok({"items": stack.provider.calls()})},
            "/_local/provider/settings": {
                "GET": lambda r: ok(stack.provider.settings.as_dict()),
                "POST": self._provider_settings,
            },
            "/_local/webhooks": {
                "GET": lambda r: ok({"items": self.webhooks.list()}),
                "DELETE": self._clear_webhooks,
            },
            "/_local/events": {
                "GET": lambda r: ok({"items": [vars(d) for d in stack.event_targets.deliveries]})
            },
            "/_local/faults": {
                "GET": lambda r: ok({"items": stack.faults.as_json()}),
                "POST": self._add_fault,
                "DELETE": self._clear_faults,
            },
            "/_local/faults/requests": {"GET": self._recorded_requests},
        }
        methods = routes.get(path.rstrip("/") or "/")
        if methods is None:
            return error(404, "not_found", f"no local endpoint {path}")
        handler = methods.get(request.method)
        if handler is None:
            response = error(405, "method_not_allowed", f"{request.method} is not allowed here")
            response.headers["Allow"] = ", ".join(methods)
            return response
        return handler(request)

    def _clock(self) -> dict[str, Any]:
        return {
            "now": iso(self.stack.now()),
            "mode": "simulated" if self.stack.simulated else "real",
        }

    def _advance(self, request: Request) -> Response:
        if not self.stack.simulated:
            return error(
                400, "clock_not_simulated", "the clock is real (start with CLOCK=simulated)"
            )
        body, failure = _json_body(request)
        if failure:
            return failure
        seconds = body.get("seconds") if isinstance(body, dict) else None
        valid = (
            isinstance(body, dict)
            and set(body) == {"seconds"}
            and isinstance(seconds, int | float)
            and not isinstance(seconds, bool)
            and math.isfinite(seconds)
            and 0 <= seconds <= MAX_ADVANCE_SECONDS
        )
        if not valid:
            return error(
                400,
                "validation_error",
                'expected {"seconds": N} with 0 <= N <= 31622400',
                [{"field": "seconds", "problem": "a number of seconds, 0 to 366 days"}],
            )
        before = self.stack.loop.tasks_run
        self.stack.advance(float(seconds))  # type: ignore[arg-type]
        return ok({**self._clock(), "tasks_run": self.stack.loop.tasks_run - before})

    def _provider_settings(self, request: Request) -> Response:
        body, failure = _json_body(request)
        if failure:
            return failure
        if not isinstance(body, dict):
            return error(400, "validation_error", "expected a JSON object")
        try:
            self.stack.provider.settings.update(body)
        except ValueError as problem:
            return error(400, "validation_error", str(problem))
        return ok(self.stack.provider.settings.as_dict())

    def _clear_webhooks(self, request: Request) -> Response:
        self.webhooks.clear()
        return Response(status=204)

    def _add_fault(self, request: Request) -> Response:
        body, failure = _json_body(request)
        if failure:
            return failure
        try:
            fault = self.stack.faults.add_spec(body)
        except FaultError as problem:
            return error(400, "validation_error", str(problem), problem.details)
        return ok(fault.as_dict(self.stack.now()), 201)

    def _clear_faults(self, request: Request) -> Response:
        self.stack.faults.clear()
        return Response(status=204)

    def _recorded_requests(self, request: Request) -> Response:
        function = request.args.get("function") or None
        recorded = self.stack.faults.recorder(function)
        return ok({"items": [r.as_dict() for r in recorded]})


class ProviderApp:
    def __init__(self, stack: LocalStack) -> None:
        self.stack = stack

    def __call__(self, request: Request) -> Response:
        provider = self.stack.provider
        if request.path == "/calls":
            if request.method != "POST":
                return error(405, "method_not_allowed", "POST /calls only")
            payload, failure = _json_body(request)
            if failure:
                return failure
            mode = provider.answer_mode(payload)
            if mode == "5xx":
                return error(503, "unavailable", "the provider is unavailable (injected fault)")
            status, answer = provider.place(payload)
            if mode == "timeout":
                raise DropConnection("the provider dialled and never answered (injected fault)")
            return ok(answer, status)
        if request.path == "/_local/provider/calls" and request.method == "GET":
            return ok({"items": provider.calls()})
        return error(404, "not_found", f"no provider endpoint {request.path}")


class _PooledServer(BaseWSGIServer):
    """Requests run on a pool of reused threads, not a new thread each.

    Handlers keep per-thread state (pynamodb makes a botocore session per model and
    thread, a few hundred milliseconds each): reused threads pay for it once.
    """

    multithread = True

    def __init__(self, host: str, port: int, app: WsgiApp, name: str, workers: int = 32) -> None:
        super().__init__(host, port, app, handler=_QuietHandler)
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix=name)

    def process_request(self, request: Any, client_address: Any) -> None:
        self._pool.submit(self._serve, request, client_address)

    def _serve(self, request: Any, client_address: Any) -> None:
        try:
            self.finish_request(request, client_address)
        except Exception:
            self.handle_error(request, client_address)
        finally:
            self.shutdown_request(request)

    def server_close(self) -> None:
        super().server_close()
        self._pool.shutdown(wait=False, cancel_futures=True)


class HttpServer:
    """A pooled WSGI server bound at creation (so its port is known before deploy)."""

    def __init__(self, host: str, port: int, app: Callable[[Request], Response], name: str) -> None:
        self._app = _guarded(app)
        self._server: BaseWSGIServer = _PooledServer(host, port, self._app, name)
        self.name = name
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return self._server.server_port

    def start(self) -> None:
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), name=self.name, daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join(timeout=10)
        self._server.server_close()
