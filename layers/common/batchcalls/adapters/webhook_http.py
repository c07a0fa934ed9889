"""The one HTTP client of customers' webhook endpoints.

The POST goes to the address that was checked (the name is resolved once, each address
judged, and the connection made to a judged one, with the name kept for TLS and `Host`),
so a name cannot resolve to a public address for the check and a private one for the
send. Redirects are never followed (http.client does not); the timeout bounds the
connection and each read."""

from __future__ import annotations

import http.client
import socket
import ssl
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass

from batchcalls.adapters.event_destinations import resolve_host
from batchcalls.domain.public_urls import address_problem
from batchcalls.domain.webhooks import TIMEOUT_SECONDS, is_local_sink

MAX_RESPONSE_BYTES = 64 * 1024


@dataclass(frozen=True)
class PostResult:
    status_code: int | None
    latency_ms: int
    error: str | None
    sent: bool = True  # False: refused before any byte left (a private address)


class _PinnedHttps(http.client.HTTPSConnection):
    """HTTPS to one given address, the certificate checked against the URL's name."""

    def __init__(self, host: str, address: str, port: int, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout, context=ssl.create_default_context())
        self._address = address

    def connect(self) -> None:
        sock = socket.create_connection((self._address, self.port), self.timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)  # type: ignore[attr-defined]


class WebhookPoster:
    def __init__(
        self,
        local_sink: str = "",
        resolver: Callable[[str], list[str]] | None = None,
        timeout_seconds: float = TIMEOUT_SECONDS,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.local_sink = local_sink
        self.resolver = resolver
        self.timeout_seconds = timeout_seconds
        self.monotonic = monotonic

    def post(self, url: str, body: str, headers: dict[str, str]) -> PostResult:
        parts = urllib.parse.urlsplit(url)
        host = parts.hostname or ""
        port = parts.port
        path = parts.path or "/"
        if parts.query:
            path += "?" + parts.query
        connection: http.client.HTTPConnection
        if is_local_sink(url, self.local_sink):
            connection = http.client.HTTPConnection(host, port or 80, timeout=self.timeout_seconds)
        else:
            if parts.scheme != "https":
                return PostResult(None, 0, "refused: not an https URL", sent=False)
            # `resolve_host` looked up at each send: tests replace the module's lookup.
            addresses = (self.resolver or resolve_host)(host)
            if not addresses:
                return PostResult(None, 0, f"{host} does not resolve")
            problems = [address_problem(a) for a in addresses]
            if any(problems):
                problem = next(p for p in problems if p)
                return PostResult(
                    None,
                    0,
                    f"refused: {host} resolves to a non-public address ({problem})",
                    sent=False,
                )
            connection = _PinnedHttps(host, addresses[0], port or 443, self.timeout_seconds)
        started = self.monotonic()
        try:
            connection.request("POST", path, body=body.encode(), headers=headers)
            response = connection.getresponse()
            response.read(MAX_RESPONSE_BYTES)
            status: int | None = response.status
            error = None if 200 <= response.status < 300 else f"HTTP {response.status}"
        except TimeoutError:
            status, error = None, f"no response within {self.timeout_seconds:g} s"
        except (OSError, http.client.HTTPException) as failure:
            status, error = None, f"{type(failure).__name__}: {failure}"[:300]
        finally:
            connection.close()
        latency = int((self.monotonic() - started) * 1000)
        return PostResult(status, latency, error)
