"""moto's server app, run in this process on loopback (so the runtime can hook into it)."""

from __future__ import annotations

import json
import logging
import threading
import urllib.request
from typing import Any

from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from werkzeug.serving import BaseWSGIServer, make_server

log = logging.getLogger("local_stack")

# A stack started again in the same process (tests) reuses the port, so a boto3 client
# that some module cached for the previous stack still reaches moto.
_last_port = 0


class _QuietHandler(MotoRequestHandler):
    def log_request(self, *args: Any, **kwargs: Any) -> None:
        return None


class MotoServer:
    def __init__(self, host: str = "127.0.0.1") -> None:
        self.host = host
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def endpoint_url(self) -> str:
        assert self._server is not None, "start() first"
        return f"http://{self.host}:{self._server.server_port}"

    def start(self) -> str:
        global _last_port
        app = DomainDispatcherApplication(create_backend_app)
        for port in dict.fromkeys((_last_port, 0)):
            try:
                self._server = make_server(
                    self.host, port, app, threaded=True, request_handler=_QuietHandler
                )
                break
            except OSError:
                continue
        assert self._server is not None
        _last_port = self._server.server_port
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), name="moto-server", daemon=True
        )
        self._thread.start()
        return self.endpoint_url

    def reset(self) -> None:
        """Forget every resource (moto keeps them per process, shared with mock_aws)."""
        request = urllib.request.Request(
            self.endpoint_url + "/moto-api/reset", data=json.dumps({}).encode(), method="POST"
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            response.read()

    def stop(self) -> None:
        if self._server is None:
            return
        try:
            self.reset()
        except OSError as error:
            log.warning("moto reset failed: %s", error)
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._server = None
