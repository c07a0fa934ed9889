"""A small world to run campaigns in, under faults, and read what happened from outside:
the HTTP API, the simulated provider's log, and the events the bus delivered to the local
sink. Used by the scenario tests, the exhaustive fault suite and `make faults`."""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from local_stack import LocalStack, aws_requests
from local_stack.aws_requests import AwsRequest, InvocationCrashed
from tests.support.calls import campaign_calls

KEY = "key-faults"
TENANT = "tenant_faults"
START = datetime(2026, 11, 30, 14, 0, tzinfo=UTC)  # a Monday, 09:00 in New York
CALLER_IDS = ["+12025550100", "+12025550101"]
PROVIDER_WIDE_CALL_LIMIT = 3
CALL_SECONDS = 10
FINAL = frozenset({"completed", "failed", "cancelled", "skipped"})
_numbers = itertools.count(100)


def ms(text: str) -> int:
    return int(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp() * 1000)


# A call whose outcome never comes (its callbacks dropped) ends after this (AWS default:
# an hour), so that three of them one after another still end inside a run (and a
# twenty-minute provider outage stays shorter).
CALL_TIMEOUT_SECONDS = 1800
# A message a crashed invocation held comes back after at most this (AWS: the queue's
# visibility timeout, up to the planning queue's 90 minutes): runs stay short.
MAX_VISIBILITY_SECONDS = 120


def start_stack(**options: Any) -> LocalStack:
    """A stack for fault runs: simulated clock, a small provider-wide limit, short calls,
    crashed messages back within two minutes."""
    from aws_lambda_powertools.utilities import parameters

    parameters.clear_caches()  # each stack signs callbacks with its own provider secret
    stack = LocalStack.start(
        clock="simulated",
        clock_start=options.pop("clock_start", START),
        api_keys={KEY: TENANT},
        parameters={"ProviderWideCallLimit": str(PROVIDER_WIDE_CALL_LIMIT)},
        max_visibility_seconds=MAX_VISIBILITY_SECONDS,
        **options,
    )
    stack.provider.settings.call_seconds = CALL_SECONDS
    # Set once the stack saved the environment (it gives it back when it stops), before
    # any function loads its settings.
    os.environ["CALL_TIMEOUT_SECONDS"] = str(CALL_TIMEOUT_SECONDS)
    return stack


def numbers(outcomes: str) -> list[str]:
    """Fresh numbers whose last digit makes the simulated provider answer as told:
    c completed, n no_answer, b busy, f failed (e.g. "cnb")."""
    digit = {"c": "4", "n": "1", "b": "2", "f": "3"}
    return [f"+1212555{next(_numbers) % 1000:03d}{digit[o]}" for o in outcomes]


@dataclass
class World:
    stack: LocalStack
    created: list[str] = field(default_factory=list)
    dry_runs: dict[str, Any] = field(default_factory=dict)  # suite.paths per scenario

    # ------------------------------------------------------------ the API
    def request(self, method: str, path: str, body: Any = None) -> Any:
        """As a client does: a 5xx (the API function failed under a fault) is tried again."""
        for _ in range(5):
            answer = self.stack.request(method, path, body, api_key=KEY)
            if answer.status < 500:
                return answer
        raise AssertionError((method, path, answer.status, answer.body[:300]))

    def create(self, phones: list[str], **settings: Any) -> str:
        """An immediate campaign (unless told otherwise), open all day in UTC, no guard,
        retries 30 s (no answer) or 15 s (busy) later, webhooks to the local sink."""
        sink = f"{self.stack.base_url}/_local/webhook-sink/faults"
        body = {
            "agent_id": "agent_faults",
            "phone_numbers": CALLER_IDS,
            "timezone": "UTC",
            "legal_hours_guard": False,
            "max_calls_per_second": 2,
            "max_concurrent_calls": 2,
            "retry_strategy": {"max_attempts": 2, "no_answer_delay": 30_000, "busy_delay": 15_000},
            "webhooks": {"on_call_complete": f"{sink}/call", "on_batch_complete": f"{sink}/done"},
            "contacts": [{"phone_number": p, "timezone": "UTC"} for p in phones],
            **settings,
        }
        answer = self.request("POST", "/batch-calls", body)
        assert answer.status == 201, answer.json()
        campaign_id = str(answer.json()["id"])
        self.created.append(campaign_id)
        return campaign_id

    def campaign(self, campaign_id: str) -> dict[str, Any]:
        return dict(self.request("GET", f"/batch-calls/{campaign_id}").json())

    def contacts(self, campaign_id: str) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        cursor = None
        while True:
            query = f"?limit=1000{f'&cursor={cursor}' if cursor else ''}"
            page = self.request("GET", f"/batch-calls/{campaign_id}/contacts{query}").json()
            found += page["items"]
            cursor = page["next_cursor"]
            if not cursor:
                return found

    def control(self, campaign_id: str, action: str) -> int:
        """Pause, resume or cancel; a 409 after a failed try means that try did it."""
        answer = self.stack.request("POST", f"/batch-calls/{campaign_id}/{action}", api_key=KEY)
        if answer.status >= 500:
            again = self.request("POST", f"/batch-calls/{campaign_id}/{action}").status
            return 202 if again == 409 and action == "resume" else 200 if again == 409 else again
        return int(answer.status)

    def campaigns_since(self, instant: datetime) -> list[dict[str, Any]]:
        """Every campaign of the tenant created at or after the instant (a create that
        failed half-way and was tried again leaves one behind: it must be harmless). The
        newest ten: a run creates one and its retries (a listing reads each one's counters,
        so a longer page would cost more with every run)."""
        items = self.request("GET", "/batch-calls?limit=10").json()["items"]
        stamp = instant.isoformat(timespec="milliseconds").replace("+00:00", "Z")
        return [c for c in items if c["created_at"] >= stamp]

    # ------------------------------------------------------------ what happened
    def calls(self, campaign_id: str) -> list[dict[str, Any]]:
        """The calls the provider dialled for the campaign, each with its `attempt`."""
        return campaign_calls(self.stack.provider.calls(), campaign_id)

    def bus_events(self, campaign_id: str) -> list[dict[str, Any]]:
        """Event details the bus delivered (through its rule to the local sink)."""
        return [
            hook["body"]
            for hook in self.stack.webhooks
            if hook["url"].endswith("/_local/webhook-sink/events")
            and isinstance(hook["body"], dict)
            and hook["body"].get("batchId") == campaign_id
        ]

    # ------------------------------------------------------------ time
    def now(self) -> datetime:
        return self.stack.now()

    def run_until(self, done: Callable[[], bool], limit_seconds: int, step: int = 60) -> bool:
        moved = 0
        while not done():
            if moved >= limit_seconds:
                return False
            self.stack.advance(step)
            moved += step
        return True

    def finished(self, campaign_id: str) -> bool:
        """Over, every contact final (read from the tables: cheaper than the API, and
        called after every simulated minute)."""
        from batchcalls.adapters.campaign_store import CampaignStore
        from batchcalls.adapters.contact_moves import OPEN_STATUSES, ContactCounts

        status = CampaignStore().get(TENANT, campaign_id).status
        if status not in ("completed", "cancelled", "failed"):
            return False
        counts = ContactCounts().totals(TENANT, campaign_id)
        return not any(counts[s] for s in OPEN_STATUSES) and all(
            c["status"] in FINAL for c in self.contacts(campaign_id)
        )

    def run_to_the_end(self, campaign_id: str, limit_seconds: int = 3 * 3600) -> bool:
        """Advance until the campaign is over and every contact final, then until its
        events left the outbox (the sweeper publishes what the stream did not: at most
        ten minutes more)."""
        from batchcalls.adapters.outbox import OutboxStore

        done = self.run_until(lambda: self.finished(campaign_id), limit_seconds)
        self.stack.advance(60)
        self.run_until(lambda: not OutboxStore().unpublished(2**62), 600)
        return done


class CrashAfter:
    """A listener that kills an invocation of `function` right after the first request
    that `matches` (then never again): a crash placed by what a request does, not by
    its position, so it means the same on any version of the code."""

    def __init__(self, function: str, matches: Callable[[AwsRequest], bool]) -> None:
        self.function = function
        self.matches = matches
        self.fired = 0

    def before(self, request: AwsRequest) -> None:
        return None

    def after(self, request: AwsRequest, response: dict[str, Any]) -> None:
        if self.fired or request.function != self.function or not self.matches(request):
            return
        self.fired += 1
        raise InvocationCrashed(f"crashed after {request.name}")


def writes_status(table_fragment: str, status: str) -> Callable[[AwsRequest], bool]:
    """Matches a DynamoDB write (single or transaction) that sets `status` on an item of
    a table whose name contains `table_fragment`."""

    def matches(request: AwsRequest) -> bool:
        if request.service != "dynamodb":
            return False
        params = request.params
        operations = [params]
        if request.operation == "TransactWriteItems":
            operations = [next(iter(item.values())) for item in params.get("TransactItems", [])]
        elif request.operation not in ("UpdateItem", "PutItem"):
            return False
        for operation in operations:
            if table_fragment not in str(operation.get("TableName", "")):
                continue
            values = operation.get("ExpressionAttributeValues", {}) or {}
            if any(v == {"S": status} for v in values.values()):
                return True
        return False

    return matches


def listening(listener: Any) -> Any:
    return aws_requests.listening(listener)
