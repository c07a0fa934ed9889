"""A small JSON client for the local stack's HTTP API (the demo goes through HTTP only)."""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from typing import Any


class ApiError(RuntimeError):
    def __init__(self, method: str, path: str, status: int, body: Any) -> None:
        super().__init__(f"{method} {path} answered {status}: {json.dumps(body)[:500]}")
        self.status = status
        self.body = body


class Client:
    def __init__(self, base_url: str, api_key: str, timeout: float = 900) -> None:
        self.base_url = base_url.rstrip("/")
        self.api_key = api_key
        self.timeout = timeout

    def call(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        """(status, JSON body or None); never raises on an HTTP error status."""
        data = None if body is None else json.dumps(body).encode()
        headers = {"Authorization": f"Bearer {self.api_key}"}
        if data is not None:
            headers["Content-Type"] = "application/json"
        request = urllib.request.Request(
            self.base_url + path, data=data, headers=headers, method=method
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                status, raw = response.status, response.read()
        except urllib.error.HTTPError as failure:
            status, raw = failure.code, failure.read()
        try:
            return status, json.loads(raw) if raw else None
        except ValueError:
            return status, raw.decode("utf-8", "replace")

    def json(self, method: str, path: str, body: Any = None, ok: tuple[int, ...] = ()) -> Any:
        """The JSON body of a 2xx answer (or one of `ok`); ApiError otherwise."""
        status, answer = self.call(method, path, body)
        if not (200 <= status < 300 or status in ok):
            raise ApiError(method, path, status, answer)
        return answer

    def items(self, path: str, limit: int = 1000) -> list[dict[str, Any]]:
        """Every item of a paginated list."""
        items: list[dict[str, Any]] = []
        cursor = None
        separator = "&" if "?" in path else "?"
        while True:
            query = f"{path}{separator}limit={limit}"
            if cursor:
                query += f"&cursor={urllib.parse.quote(cursor)}"
            page = self.json("GET", query)
            items.extend(page["items"])
            cursor = page.get("next_cursor")
            if not cursor:
                return items
