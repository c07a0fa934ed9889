"""Webhook deliveries, their per-campaign counters and the tenants' signing secrets, all in
the Coordination table (encrypted at rest with SSE, point-in-time recovery, TTL on `ttl`).

A secret lives there rather than in Secrets Manager: it is read on every delivery (a
DynamoDB read costs a fraction of a Secrets Manager call and needs no per-tenant secret
resource) and only the API and the sender function may read these items (IAM)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pynamodb.exceptions import DoesNotExist

from batchcalls.adapters.campaign_store import Page, decode_cursor, encode_cursor
from batchcalls.adapters.tables import (
    WebhookCountsItem,
    WebhookDeliveryItem,
    WebhookSecretItem,
)
from batchcalls.adapters.transactions import (
    ConditionFailed,
    Transaction,
    conditional,
    transaction,
    with_retries,
)
from batchcalls.clock import from_epoch_ms, to_iso
from batchcalls.domain.webhooks import KEEP_DELIVERIES_SECONDS, ROTATION_OVERLAP_SECONDS
from batchcalls.errors import NotFound

COUNTS_SK = "counts"
SECRET_SK = "secret"
STATUSES = ("pending", "succeeded", "failed")


def deliveries_pk(tenant_id: str, campaign_id: str) -> str:
    return f"webhooks#{tenant_id}#{campaign_id}"


def counts_pk(tenant_id: str, campaign_id: str) -> str:
    return f"webhookcounts#{tenant_id}#{campaign_id}"


def _iso_ms(ms: int | float | None) -> str | None:
    return None if ms is None else to_iso(from_epoch_ms(int(ms)))


def delivery_view(item: WebhookDeliveryItem) -> dict[str, Any]:
    """API.md: `{id, event_id, event, url, status, attempts, last_status_code, last_error,
    last_attempt_at, next_attempt_at}` (and every attempt)."""
    return {
        "id": item.sk,
        "event_id": item.event_id,
        "event": item.event,
        "url": item.url,
        "status": item.status,
        "attempts": int(item.recorded or 0),
        "last_status_code": None if item.last_status_code is None else int(item.last_status_code),
        "last_error": item.last_error,
        "last_attempt_at": item.last_attempt_at,
        "next_attempt_at": _iso_ms(item.next_attempt_ms) if item.status == "pending" else None,
        "attempt_log": list(item.log or []),
    }


@dataclass(frozen=True)
class AttemptResult:
    at_ms: int
    status_code: int | None
    latency_ms: int
    error: str | None

    def entry(self) -> dict[str, Any]:
        return {
            "at": _iso_ms(self.at_ms),
            "status_code": self.status_code,
            "latency_ms": self.latency_ms,
            "error": self.error,
        }


class WebhookDeliveries:
    """Delivery items and the campaign's counters, always changed together."""

    # ------------------------------------------------------------------ reads
    def get(self, tenant_id: str, campaign_id: str, delivery_id: str) -> WebhookDeliveryItem | None:
        try:
            return with_retries(
                lambda: WebhookDeliveryItem.get(
                    deliveries_pk(tenant_id, campaign_id), delivery_id, consistent_read=True
                ),
                "webhook delivery",
            )
        except DoesNotExist:
            return None

    def page(
        self,
        tenant_id: str,
        campaign_id: str,
        status: str | None,
        limit: int,
        cursor: str | None,
    ) -> Page:
        """Newest first; with `status`, only those (a page may hold fewer than `limit`
        and still have a next one)."""
        start = decode_cursor(cursor, before=lambda v: isinstance(v, str) and len(v) < 200)
        pk = deliveries_pk(tenant_id, campaign_id)
        query = WebhookDeliveryItem.query(
            pk,
            WebhookDeliveryItem.sk < start["before"] if start else None,
            filter_condition=(WebhookDeliveryItem.status == status) if status else None,
            scan_index_forward=False,
            limit=limit,
            consistent_read=True,
        )
        items = list(query)
        last = query.last_evaluated_key
        if last:
            return Page(items, encode_cursor({"before": last["sk"]["S"]}))
        return Page(items, None)

    def webhook_counts(self, tenant_id: str, campaign_id: str) -> dict[str, int]:
        """`{sent, succeeded, failed, pending}`: attempts made, deliveries by status."""
        try:
            item = with_retries(
                lambda: WebhookCountsItem.get(
                    counts_pk(tenant_id, campaign_id), COUNTS_SK, consistent_read=True
                ),
                "webhook counts",
            )
        except DoesNotExist:
            return {"sent": 0, "succeeded": 0, "failed": 0, "pending": 0}
        return {
            name: int(getattr(item, name) or 0)
            for name in ("sent", "succeeded", "failed", "pending")
        }

    # ------------------------------------------------------------------ writes
    @staticmethod
    def _count(tx: Transaction, tenant_id: str, campaign_id: str, **change: int) -> None:
        actions = [
            getattr(WebhookCountsItem, name).add(value) for name, value in change.items() if value
        ]
        if actions:
            tx.update(
                WebhookCountsItem(pk=counts_pk(tenant_id, campaign_id), sk=COUNTS_SK),
                actions,
                label="counts",
            )

    def create(
        self,
        tenant_id: str,
        campaign_id: str,
        delivery_id: str,
        event_id: str,
        event: str,
        url: str,
        body: str,
        now_ms: int,
    ) -> bool:
        """A new pending delivery, due now; False when it exists already."""
        item = WebhookDeliveryItem(
            pk=deliveries_pk(tenant_id, campaign_id),
            sk=delivery_id,
            event_id=event_id,
            event=event,
            url=url,
            body=body,
            status="pending",
            attempts=0,
            recorded=0,
            continued=0,
            round_start=0,
            next_attempt_ms=now_ms,
            log=[],
            created_ms=now_ms,
            ttl=now_ms // 1000 + KEEP_DELIVERIES_SECONDS,
        )
        tx = transaction("webhook delivery")
        tx.put(item, WebhookDeliveryItem.sk.does_not_exist(), label="delivery")
        self._count(tx, tenant_id, campaign_id, pending=1)
        try:
            tx.commit()
        except ConditionFailed:
            return False
        return True

    def claim(self, item: WebhookDeliveryItem, attempt: int, now_ms: int) -> bool:
        """Take attempt number `attempt + 1`: only while `attempt` were taken and recorded."""
        return conditional(
            lambda: item.update(
                actions=[
                    WebhookDeliveryItem.attempts.set(attempt + 1),
                    WebhookDeliveryItem.claimed_ms.set(now_ms),
                ],
                condition=(WebhookDeliveryItem.attempts == attempt)
                & (WebhookDeliveryItem.recorded == attempt)
                & (WebhookDeliveryItem.status == "pending"),
            ),
            "claim webhook attempt",
        )

    def record(
        self,
        tenant_id: str,
        campaign_id: str,
        item: WebhookDeliveryItem,
        attempt: int,
        result: AttemptResult,
        status: str,
        next_attempt_ms: int | None,
    ) -> bool:
        """Attempt `attempt + 1` (claimed) ended with `result`; the delivery is now
        `status` (a retry due at `next_attempt_ms`). False if someone recorded it first."""
        actions: list[Any] = [
            WebhookDeliveryItem.recorded.set(attempt + 1),
            WebhookDeliveryItem.status.set(status),
            WebhookDeliveryItem.last_status_code.remove()
            if result.status_code is None
            else WebhookDeliveryItem.last_status_code.set(result.status_code),
            WebhookDeliveryItem.last_error.remove()
            if result.error is None
            else WebhookDeliveryItem.last_error.set(result.error),
            WebhookDeliveryItem.last_attempt_at.set(str(_iso_ms(result.at_ms))),
            WebhookDeliveryItem.log.set([*(item.log or []), result.entry()]),
            WebhookDeliveryItem.ttl.set(result.at_ms // 1000 + KEEP_DELIVERIES_SECONDS),
        ]
        if next_attempt_ms is not None:
            actions.append(WebhookDeliveryItem.next_attempt_ms.set(next_attempt_ms))
        else:
            actions.append(WebhookDeliveryItem.continued.set(attempt + 1))
        tx = transaction("webhook attempt")
        tx.update(
            WebhookDeliveryItem(pk=item.pk, sk=item.sk),
            actions,
            (WebhookDeliveryItem.recorded == attempt)
            & (WebhookDeliveryItem.attempts == attempt + 1)
            & (WebhookDeliveryItem.status == "pending"),
            label="delivery",
        )
        self._count(
            tx,
            tenant_id,
            campaign_id,
            sent=1,
            pending=0 if status == "pending" else -1,
            succeeded=1 if status == "succeeded" else 0,
            failed=1 if status == "failed" else 0,
        )
        try:
            tx.commit()
        except ConditionFailed:
            return False
        return True

    def continued(self, item: WebhookDeliveryItem, recorded: int) -> None:
        """The message for the attempt after `recorded` is on the queue."""
        conditional(
            lambda: item.update(
                actions=[WebhookDeliveryItem.continued.set(recorded)],
                condition=(WebhookDeliveryItem.recorded == recorded)
                & (WebhookDeliveryItem.continued < recorded),
            ),
            "webhook continued",
        )

    def replay(
        self, tenant_id: str, campaign_id: str, item: WebhookDeliveryItem, now_ms: int
    ) -> bool:
        """A finished delivery becomes pending again, due now, with a new round of
        retries. False when it is pending already (or changed meanwhile)."""
        if item.status == "pending":
            return False
        recorded = int(item.recorded or 0)
        tx = transaction("webhook replay")
        tx.update(
            WebhookDeliveryItem(pk=item.pk, sk=item.sk),
            [
                WebhookDeliveryItem.status.set("pending"),
                WebhookDeliveryItem.round_start.set(recorded),
                WebhookDeliveryItem.continued.set(recorded),
                WebhookDeliveryItem.next_attempt_ms.set(now_ms),
                WebhookDeliveryItem.ttl.set(now_ms // 1000 + KEEP_DELIVERIES_SECONDS),
            ],
            (WebhookDeliveryItem.status == item.status)
            & (WebhookDeliveryItem.recorded == recorded),
            label="delivery",
        )
        self._count(
            tx,
            tenant_id,
            campaign_id,
            pending=1,
            **{str(item.status): -1},
        )
        try:
            tx.commit()
        except ConditionFailed:
            return False
        return True


def webhook_counts(tenant_id: str, campaign_id: str) -> dict[str, int]:
    """The campaign's webhook figures for its analytics: `{sent, succeeded, failed, pending}`."""
    return WebhookDeliveries().webhook_counts(tenant_id, campaign_id)


class WebhookSecrets:
    """The tenant's signing secret, made on first use; a rotation keeps the previous one
    signing for 24 hours."""

    def __init__(self, new_secret: Callable[[], str]) -> None:
        self.new_secret = new_secret

    def _read(self, tenant_id: str) -> WebhookSecretItem | None:
        try:
            return with_retries(
                lambda: WebhookSecretItem.get(
                    f"webhooksecret#{tenant_id}", SECRET_SK, consistent_read=True
                ),
                "webhook secret",
            )
        except DoesNotExist:
            return None

    def get(self, tenant_id: str, now_ms: int) -> WebhookSecretItem:
        item = self._read(tenant_id)
        if item is not None:
            return item
        fresh = WebhookSecretItem(
            pk=f"webhooksecret#{tenant_id}",
            sk=SECRET_SK,
            secret=self.new_secret(),
            created_at=_iso_ms(now_ms),
        )
        if conditional(
            lambda: fresh.save(condition=WebhookSecretItem.pk.does_not_exist()),
            "webhook secret",
        ):
            return fresh
        found = self._read(tenant_id)  # made meanwhile by another request
        if found is None:
            raise NotFound("the webhook secret could not be read")
        return found

    def rotate(self, tenant_id: str, now_ms: int) -> WebhookSecretItem:
        current = self.get(tenant_id, now_ms)
        rotated = WebhookSecretItem(
            pk=current.pk,
            sk=SECRET_SK,
            secret=self.new_secret(),
            previous=current.secret,
            previous_valid_until_ms=now_ms + ROTATION_OVERLAP_SECONDS * 1000,
            created_at=_iso_ms(now_ms),
        )
        with_retries(lambda: rotated.save(), "rotate webhook secret")
        return rotated

    def signing(self, tenant_id: str, now_ms: int) -> list[str]:
        """The secrets that sign now: the current one, and the previous one in its 24 h."""
        item = self.get(tenant_id, now_ms)
        keys = [item.secret]
        until = item.previous_valid_until_ms
        if item.previous and until is not None and now_ms < int(until):
            keys.append(item.previous)
        return keys


def secret_view(item: WebhookSecretItem, now_ms: int) -> dict[str, Any]:
    until = item.previous_valid_until_ms
    valid = item.previous is not None and until is not None and now_ms < int(until)
    return {"secret": item.secret, "previous_valid_until": _iso_ms(until) if valid else None}
