"""Campaign webhooks delivered from the bus: the sender's use case, replay, the secret.

A rule on the bus sends every event whose `resources` name a campaign webhook
(`webhook/<url>`, beside its tenant's `tenant/<id>`) to the webhook queue. For each, the sender records a delivery item and makes its first
attempt; a failed attempt is followed by the next one on the schedule (domain/webhooks),
through a message to the same queue delayed until it is due (a delay longer than SQS's
15 minutes is waited in steps). Every attempt is claimed in the delivery item before the
POST and recorded after it, each conditional on the count before: a message delivered
twice, or an old one, finds the counts moved on and makes no second attempt.
"""

from __future__ import annotations

import math
from typing import Any, Protocol

from batchcalls.adapters.campaign_store import Page
from batchcalls.adapters.event_destinations import resolve_host
from batchcalls.adapters.tables import WebhookDeliveryItem
from batchcalls.adapters.webhook_http import PostResult
from batchcalls.adapters.webhook_store import AttemptResult, WebhookDeliveries, WebhookSecrets
from batchcalls.clock import Clock, to_epoch_ms
from batchcalls.domain import webhooks as rules
from batchcalls.errors import ErrorDetail, NotFound, ValidationFailed
from batchcalls.observability import logger, metrics

MESSAGE_KIND = "webhook_attempt"
# A claim older than this belongs to a sender that stopped (its function timeout is 30 s).
CLAIM_STALE_MS = 60_000


class Poster(Protocol):
    def post(self, url: str, body: str, headers: dict[str, str]) -> PostResult: ...


class Queue(Protocol):
    def send_later(self, message: dict[str, Any], delay_seconds: int) -> None: ...


class WebhookUrls:
    """The URL rules at create and patch: https, and every address public (a name that
    does not resolve yet is accepted; the send checks again)."""

    def __init__(self, local_sink: str = "", resolver: rules.Resolver = resolve_host) -> None:
        self.local_sink = local_sink
        self.resolver = resolver

    def check(self, webhooks: dict[str, str | None]) -> None:
        problems = [
            ErrorDetail(f"webhooks.{name}", problem)
            for name, url in sorted(webhooks.items())
            if url and (problem := rules.url_problem(url, self.resolver, self.local_sink))
        ]
        if problems:
            raise ValidationFailed("a webhook URL is not allowed", problems)


def attempt_message(
    tenant_id: str, campaign_id: str, delivery_id: str, taken: int
) -> dict[str, Any]:
    """The message for the attempt after `taken` recorded ones."""
    return {
        "kind": MESSAGE_KIND,
        "tenant_id": tenant_id,
        "campaign_id": campaign_id,
        "delivery_id": delivery_id,
        "attempt": taken,
    }


class WebhookService:
    def __init__(
        self,
        clock: Clock,
        queue: Queue | None,
        poster: Poster | None = None,
        deliveries: WebhookDeliveries | None = None,
        secrets: WebhookSecrets | None = None,
    ) -> None:
        self.clock = clock
        self.queue = queue
        self.poster = poster
        self.deliveries = deliveries or WebhookDeliveries()
        self.secrets = secrets or WebhookSecrets(rules.new_secret)

    # ------------------------------------------------------------------ the sender
    def receive(self, message: dict[str, Any]) -> None:
        """One message of the webhook queue: an event from the bus (`detail` and
        `resources`), or an attempt."""
        if message.get("kind") == MESSAGE_KIND:
            self.attempt(
                str(message["tenant_id"]),
                str(message["campaign_id"]),
                str(message["delivery_id"]),
                int(message["attempt"]),
            )
        elif isinstance(message.get("detail"), dict):
            tenant_id, url = rules.routing(list(message.get("resources") or []))
            self.accept(message["detail"], tenant_id, url)
        else:
            logger.warning("not a webhook message", keys=sorted(message))

    def accept(self, detail: dict[str, Any], tenant_id: str | None, url: str | None) -> None:
        campaign_id, event_id = detail.get("batchId"), detail.get("eventId")
        if not (tenant_id and url and campaign_id and event_id):
            logger.warning("event without a webhook", event_id=event_id)
            return
        now_ms = to_epoch_ms(self.clock.now())
        delivery = rules.delivery_id(str(event_id), rules.occurred_ms(detail, now_ms))
        created = self.deliveries.create(
            str(tenant_id),
            str(campaign_id),
            delivery,
            str(event_id),
            str(detail.get("event")),
            str(url),
            rules.body_of(detail),
            now_ms,
        )
        if created:
            metrics.add_metric(name="WebhookDeliveries", unit="Count", value=1)
        # Also when it existed: the first delivery of this message may have stopped there.
        self.attempt(str(tenant_id), str(campaign_id), delivery, 0)

    def attempt(self, tenant_id: str, campaign_id: str, delivery_id: str, taken: int) -> None:
        now = self.clock.now()
        now_ms = to_epoch_ms(now)
        item = self.deliveries.get(tenant_id, campaign_id, delivery_id)
        if item is None or item.status != "pending":
            return
        recorded, attempts = int(item.recorded or 0), int(item.attempts or 0)
        if taken < recorded:
            # An old message: make sure the next attempt's message exists (the sender may
            # have stopped between recording an attempt and sending it), once.
            if int(item.continued or 0) < recorded:
                self._continue(tenant_id, campaign_id, item, recorded, now_ms)
            return
        if taken > recorded:
            return
        if attempts > taken:
            if now_ms - int(item.claimed_ms or 0) < CLAIM_STALE_MS:
                return  # another invocation is making this attempt
            result = AttemptResult(now_ms, None, 0, "the sender stopped during the attempt")
            self._finish(tenant_id, campaign_id, item, taken, result)
            return
        due = int(item.next_attempt_ms or 0)
        if now_ms < due:
            self._wait(tenant_id, campaign_id, delivery_id, taken, due - now_ms)
            return
        if not self.deliveries.claim(item, taken, now_ms):
            return
        assert self.poster is not None, "the sender needs its HTTP client"
        keys = self.secrets.signing(tenant_id, now_ms)
        headers = rules.headers(keys, item.event_id, now, item.body)
        posted = self.poster.post(item.url, item.body, headers)
        result = AttemptResult(now_ms, posted.status_code, posted.latency_ms, posted.error)
        self._finish(tenant_id, campaign_id, item, taken, result, final=not posted.sent)

    def _finish(
        self,
        tenant_id: str,
        campaign_id: str,
        item: WebhookDeliveryItem,
        taken: int,
        result: AttemptResult,
        final: bool = False,
    ) -> None:
        in_round = taken + 1 - int(item.round_start or 0)
        delay = None if final else rules.next_delay(in_round)
        ended_ms = to_epoch_ms(self.clock.now())
        if rules.succeeded(result.status_code):
            status, due = "succeeded", None
        elif delay is None:
            status, due = "failed", None
        else:
            status, due = "pending", ended_ms + delay * 1000
        if not self.deliveries.record(tenant_id, campaign_id, item, taken, result, status, due):
            return
        metrics.add_metric(name=f"Webhook{status.capitalize()}", unit="Count", value=1)
        logger.info(
            "webhook attempt",
            delivery_id=item.sk,
            attempt=taken + 1,
            status_code=result.status_code,
            latency_ms=result.latency_ms,
            error=result.error,
            delivery_status=status,
        )
        if due is not None:
            item.recorded = taken + 1
            item.next_attempt_ms = due
            self._continue(tenant_id, campaign_id, item, taken + 1, ended_ms)

    def _continue(
        self,
        tenant_id: str,
        campaign_id: str,
        item: WebhookDeliveryItem,
        recorded: int,
        now_ms: int,
    ) -> None:
        due = int(item.next_attempt_ms or 0)
        self._wait(tenant_id, campaign_id, item.sk, recorded, max(0, due - now_ms))
        self.deliveries.continued(item, recorded)

    def _wait(
        self, tenant_id: str, campaign_id: str, delivery_id: str, taken: int, remaining_ms: int
    ) -> None:
        assert self.queue is not None, "the webhook queue is needed"
        self.queue.send_later(
            attempt_message(tenant_id, campaign_id, delivery_id, taken),
            math.ceil(remaining_ms / 1000),
        )

    # ------------------------------------------------------------------ the API
    def page(
        self, tenant_id: str, campaign_id: str, status: str | None, limit: int, cursor: str | None
    ) -> Page:
        return self.deliveries.page(tenant_id, campaign_id, status, limit, cursor)

    def replay(self, tenant_id: str, campaign_id: str, delivery_id: str) -> None:
        """Send the delivery again (same `webhook-id`), with a new round of retries. A
        pending one is on its way already: its message is sent again (harmless)."""
        item = (
            self.deliveries.get(tenant_id, campaign_id, delivery_id)
            if rules.is_delivery_id(delivery_id)
            else None
        )
        if item is None:
            raise NotFound(f"no webhook delivery {delivery_id}")
        now_ms = to_epoch_ms(self.clock.now())
        self.deliveries.replay(tenant_id, campaign_id, item, now_ms)
        self._wait(tenant_id, campaign_id, delivery_id, int(item.recorded or 0), 0)
