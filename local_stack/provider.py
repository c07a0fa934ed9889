"""The simulated voice provider (API.md "Provider"), served over HTTP on loopback.

`POST /calls` accepts a call, or refuses its caller ID with 422 `from_rejected`, or
refuses the campaign itself: an agent id listed in `unknown_agents` with 404
`agent_not_found`, every call with 401 `unauthorized` while `refuse_credentials` is set
(both make the campaign fail with `batch.failed`); a repeated `call_id` answers as the
first time did without dialling again. Each call is
work on the event loop: after `call_seconds` of the injected clock the outcome (by the
last digit of `to`: 1 no_answer, 2 busy, 3 failed, else completed; a number ending in
`99` completes with `opt_out: true`, the callee asking not to be called again) is posted to the
call's `callback_url`, signed `X-Signature: t=<unix seconds>,v1=<HMAC-SHA256 hex of
"<t>.<body>">` with the provider secret, unless callbacks are set to be dropped. A
callback that gets no 2xx (an error status, a refused or dropped connection) is posted
again 30 s, 2 min, 10 min and 30 min later (injected clock, signed anew), then given up.

Faults (`faults.py`) make it misbehave: `provider_5xx` answers POST /calls 503 without
dialling; `provider_timeout` dials and closes the connection without an answer;
`provider_drop_callbacks` and `provider_duplicate_callbacks` drop an outcome or post it
twice.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import threading
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from local_stack.loop import EventLoop

if TYPE_CHECKING:
    from local_stack.faults import Faults

log = logging.getLogger("local_stack")

OUTCOMES = {"1": "no_answer", "2": "busy", "3": "failed"}
SUMMARIES = {
    "completed": "Simulated call: the contact answered and the agent finished the script.",
    "no_answer": "Simulated call: nobody answered.",
    "busy": "Simulated call: the line was busy.",
    "failed": "Simulated call: the call could not be connected.",
}
# A callback that got no 2xx is posted again this long after the previous attempt.
CALLBACK_RETRY_SECONDS = (30, 120, 600, 1800)


def iso(instant: datetime) -> str:
    return instant.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The `X-Signature` header value of a callback body."""
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={digest.hexdigest()}"


def opts_out(number: str) -> bool:
    """The callee of a number ending in 99 asks not to be called again (API.md)."""
    return number.endswith("99")


def outcome_for(number: str) -> str:
    digits = [c for c in number if c.isdigit()]
    return OUTCOMES.get(digits[-1] if digits else "", "completed")


@dataclass
class ProviderSettings:
    call_seconds: float = 60
    reject_from: frozenset[str] = frozenset()
    drop_callbacks: bool = False
    unknown_agents: frozenset[str] = frozenset()
    refuse_credentials: bool = False

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> ProviderSettings:
        """SIM_PROVIDER_CALL_SECONDS, SIM_PROVIDER_REJECT_FROM (a comma list),
        SIM_PROVIDER_DROP_CALLBACKS (true/false), SIM_PROVIDER_UNKNOWN_AGENTS (a comma
        list), SIM_PROVIDER_REFUSE_CREDENTIALS (true/false)."""

        def listed(name: str) -> frozenset[str]:
            return frozenset(n.strip() for n in environ.get(name, "").split(",") if n.strip())

        def flag(name: str) -> bool:
            return environ.get(name, "").lower() in ("1", "true", "yes")

        return cls(
            call_seconds=float(environ.get("SIM_PROVIDER_CALL_SECONDS", "60")),
            reject_from=listed("SIM_PROVIDER_REJECT_FROM"),
            drop_callbacks=flag("SIM_PROVIDER_DROP_CALLBACKS"),
            unknown_agents=listed("SIM_PROVIDER_UNKNOWN_AGENTS"),
            refuse_credentials=flag("SIM_PROVIDER_REFUSE_CREDENTIALS"),
        )

    def update(self, changes: dict[str, Any]) -> None:
        """Apply `{"call_seconds", "reject_from", "drop_callbacks", "unknown_agents",
        "refuse_credentials"}`; ValueError if wrong."""
        known = {
            "call_seconds",
            "reject_from",
            "drop_callbacks",
            "unknown_agents",
            "refuse_credentials",
        }
        unknown = set(changes) - known
        if unknown:
            raise ValueError(f"unknown settings: {sorted(unknown)}")
        if "call_seconds" in changes:
            seconds = changes["call_seconds"]
            if isinstance(seconds, bool) or not isinstance(seconds, int | float) or seconds < 0:
                raise ValueError("call_seconds must be a number >= 0")
            self.call_seconds = seconds
        if "reject_from" in changes:
            numbers = changes["reject_from"]
            if not isinstance(numbers, list) or not all(isinstance(n, str) for n in numbers):
                raise ValueError("reject_from must be a list of phone numbers")
            self.reject_from = frozenset(numbers)
        if "unknown_agents" in changes:
            agents = changes["unknown_agents"]
            if not isinstance(agents, list) or not all(isinstance(a, str) for a in agents):
                raise ValueError("unknown_agents must be a list of agent ids")
            self.unknown_agents = frozenset(agents)
        for name in ("drop_callbacks", "refuse_credentials"):
            if name in changes:
                if not isinstance(changes[name], bool):
                    raise ValueError(f"{name} must be true or false")
                setattr(self, name, changes[name])

    def as_dict(self) -> dict[str, Any]:
        return {
            "call_seconds": self.call_seconds,
            "reject_from": sorted(self.reject_from),
            "drop_callbacks": self.drop_callbacks,
            "unknown_agents": sorted(self.unknown_agents),
            "refuse_credentials": self.refuse_credentials,
        }


@dataclass
class CallRecord:
    call_id: str
    batch_id: str | None
    contact_id: str | None
    from_number: str
    to: str
    agent_id: str | None
    placed_at: str
    ended_at: str | None
    status: str
    callback_url: str
    callback_status: int | str | None = None
    callback_attempts: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["from"] = data.pop("from_number")
        return data


class SimulatedProvider:
    def __init__(
        self,
        loop: EventLoop,
        secret: str,
        settings: ProviderSettings,
        faults: Faults | None = None,
    ) -> None:
        self.faults = faults
        self.loop = loop
        self.secret = secret
        self.settings = settings
        self._calls: list[CallRecord] = []
        self._answers: dict[str, tuple[int, dict[str, Any]]] = {}
        self._lock = threading.Lock()

    def calls(self) -> list[dict[str, Any]]:
        with self._lock:
            return [c.as_dict() for c in self._calls]

    def answer_mode(self, payload: Any) -> str | None:
        """How a fault makes POST /calls answer now: None, "5xx" or "timeout"."""
        if self.faults is None or self._problem(payload):
            return None
        return self.faults.provider_answer(payload["call_id"])

    def place(self, payload: Any) -> tuple[int, dict[str, Any]]:
        """`POST /calls`: the status and body the provider answers."""
        problem = self._problem(payload)
        if problem:
            return 400, {"error": {"code": "invalid_request", "message": problem}}
        call_id = payload["call_id"]
        with self._lock:
            if call_id in self._answers:
                return self._answers[call_id]
            refusal = self._refusal(payload)
            if refusal is not None:
                return refusal  # not remembered: the setting may change
            if payload["from"] in self.settings.reject_from:
                answer = (
                    422,
                    {
                        "error": {
                            "code": "from_rejected",
                            "message": f"caller ID {payload['from']} is not allowed",
                        }
                    },
                )
                self._answers[call_id] = answer
                return answer
            variables = payload.get("variables") or {}
            now = self.loop.now()
            record = CallRecord(
                call_id=call_id,
                batch_id=variables.get("batch_id") or payload.get("batch_id"),
                contact_id=variables.get("contact_id") or payload.get("contact_id"),
                from_number=payload["from"],
                to=payload["to"],
                agent_id=payload.get("agent_id"),
                placed_at=iso(now),
                ended_at=None,
                status="in_progress",
                callback_url=payload["callback_url"],
            )
            self._calls.append(record)
            accepted: tuple[int, dict[str, Any]] = (200, {"call_id": call_id, "status": "accepted"})
            self._answers[call_id] = accepted
            seconds = self.settings.call_seconds
        self.loop.call_later(seconds, f"call {call_id} ends", lambda at: self._end(record, at))
        return accepted

    def _refusal(self, payload: dict[str, Any]) -> tuple[int, dict[str, Any]] | None:
        """The campaign itself refused: our credentials, or its agent."""
        if self.settings.refuse_credentials:
            return 401, {"error": {"code": "unauthorized", "message": "invalid API key"}}
        agent = payload.get("agent_id")
        if agent in self.settings.unknown_agents:
            return 404, {"error": {"code": "agent_not_found", "message": f"no agent {agent}"}}
        return None

    @staticmethod
    def _problem(payload: Any) -> str | None:
        if not isinstance(payload, dict):
            return "the body must be a JSON object"
        for name in ("call_id", "from", "to", "callback_url"):
            if not isinstance(payload.get(name), str) or not payload[name]:
                return f"{name} is required (a string)"
        if payload.get("variables") is not None and not isinstance(payload["variables"], dict):
            return "variables must be an object"
        return None

    def _end(self, record: CallRecord, now: datetime) -> None:
        status = outcome_for(record.to)
        duration = int(self.settings.call_seconds) if status == "completed" else 0
        with self._lock:
            record.status = status
            record.ended_at = iso(now)
        if self.settings.drop_callbacks or (
            self.faults is not None and self.faults.drop_callback(record.call_id)
        ):
            record.callback_status = "dropped"
            return
        outcome: dict[str, Any] = {
            "call_id": record.call_id,
            "status": status,
            "duration_seconds": duration,
            "summary": SUMMARIES[status],
        }
        if status == "completed" and opts_out(record.to):
            outcome["opt_out"] = True
        body = json.dumps(outcome).encode()
        self._post(record, body, 1, now)
        if self.faults is not None and self.faults.duplicate_callback(record.call_id):
            self._post(record, body, 1, now)

    def _post(self, record: CallRecord, body: bytes, attempt: int, now: datetime) -> None:
        status = self._send(record, body, now)
        record.callback_attempts.append({"at": iso(now), "attempt": attempt, "status": status})
        record.callback_status = status
        if isinstance(status, int) and 200 <= status < 300:
            return
        if attempt > len(CALLBACK_RETRY_SECONDS):
            log.warning("callback of %s given up after %d attempts", record.call_id, attempt)
            return
        self.loop.call_later(
            CALLBACK_RETRY_SECONDS[attempt - 1],
            f"callback of {record.call_id} again",
            lambda at: self._post(record, body, attempt + 1, at),
        )

    def _send(self, record: CallRecord, body: bytes, now: datetime) -> int | str:
        timestamp = int(now.timestamp())
        request = urllib.request.Request(
            record.callback_url,
            data=body,
            method="POST",
            headers={
                "Content-Type": "application/json",
                "X-Signature": sign(self.secret, timestamp, body),
                "User-Agent": "local-stack-simulated-provider",
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                response.read()
                return int(response.status)
        except urllib.error.HTTPError as failure:
            log.warning("callback of %s answered %s", record.call_id, failure.code)
            return int(failure.code)
        except (urllib.error.URLError, OSError, ValueError) as failure:
            log.warning("callback of %s failed: %s", record.call_id, failure)
            return f"error: {failure}"
