"""Coordination items of delivery: live-call leases, waiting calls, claims in transit,
the dispatcher's watermark, call records and rejected caller IDs.

Every item lives in the Coordination table (pk, sk). Keys:
- `lease#count` / `provider` and `campaign#<tenant>#<campaign>`: live calls (value).
- `lease#live` / `<lease id>`: one per live call; `expires_ms` on the injected clock.
  At most the provider-wide limit of them exist, so one partition holds them all.
- `waiting#<tenant>#<campaign>` / `<due ms>#<contact>#<attempt>`: a due call that found
  no free place; `data` is its call message. `waiting#index` / `<tenant>#<campaign>`
  counts them per campaign (value) so a freed place finds them without a scan.
- `claims#<n>` / `<due ms>#...`: a claimed call on its way through the call queue; it
  is removed when the caller dials or parks it, so one left old was lost and is re-sent.
- `dispatcher` / `watermark`: the first minute the next tick reads (epoch ms).
- `call#<call id>` / `call`: which contact and attempt a provider call id belongs to.
- `rejected#<tenant>#<campaign>` / `<number>`: caller IDs the provider refused
  (`from_rejected`); delivery skips them and later plans should too.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from pynamodb.connection import Connection
from pynamodb.exceptions import DeleteError, PutError, TransactWriteError, UpdateError
from pynamodb.transactions import TransactWrite

from batchcalls.adapters.tables import CoordinationRecord

COUNT_PK = "lease#count"
PROVIDER_SK = "provider"
LIVE_PK = "lease#live"
WAITING_INDEX_PK = "waiting#index"
CLAIM_SHARDS = 10


def _conditional_failure(error: Exception) -> bool:
    return getattr(error, "cause_response_code", None) in (
        "ConditionalCheckFailedException",
        "TransactionCanceledException",
    )


def campaign_sk(tenant_id: str, campaign_id: str) -> str:
    return f"campaign#{tenant_id}#{campaign_id}"


def waiting_pk(tenant_id: str, campaign_id: str) -> str:
    return f"waiting#{tenant_id}#{campaign_id}"


def waiting_sk(due_ms: int, contact_id: str, attempt: int) -> str:
    return f"{due_ms:013d}#{contact_id}#{attempt}"


def claim_key(message: dict[str, Any]) -> tuple[str, str]:
    contact_id = message["contact_id"]
    shard = int(hashlib.blake2s(contact_id.encode(), digest_size=4).hexdigest(), 16)
    return (
        f"claims#{shard % CLAIM_SHARDS}",
        f"{int(message.get('claim_ms', message['due_ms'])):013d}#{message['tenant_id']}#{message['campaign_id']}"
        f"#{contact_id}#{message['attempt']}#{message['plan_version']}",
    )


@dataclass(frozen=True)
class Lease:
    lease_id: str
    tenant_id: str
    campaign_id: str
    expires_ms: int
    data: dict[str, Any]


@dataclass(frozen=True)
class WaitingCall:
    tenant_id: str
    campaign_id: str
    sk: str
    message: dict[str, Any]


def _transaction() -> TransactWrite:
    return TransactWrite(connection=model_connection())


def model_connection() -> Connection:
    """The models' own connection (its botocore client made once per table binding), not a
    new one per transaction: a new Connection makes a new botocore session and client,
    which parses the DynamoDB service model again (~0.3 s of CPU for every transaction)."""
    return CoordinationRecord._get_connection().connection


class LeaseStore:
    """Implements services.delivery ports over the Coordination table."""

    # ------------------------------------------------------------------ leases
    def _take_items(
        self,
        tx: TransactWrite,
        lease_id: str,
        tenant_id: str,
        campaign_id: str,
        campaign_limit: int,
        provider_limit: int,
        expires_ms: int,
        data: dict[str, Any],
    ) -> None:
        value = CoordinationRecord.value
        tx.update(
            CoordinationRecord(pk=COUNT_PK, sk=PROVIDER_SK),
            actions=[value.add(1)],
            condition=value.does_not_exist() | (value < provider_limit),
        )
        tx.update(
            CoordinationRecord(pk=COUNT_PK, sk=campaign_sk(tenant_id, campaign_id)),
            actions=[value.add(1)],
            condition=value.does_not_exist() | (value < campaign_limit),
        )
        tx.save(
            CoordinationRecord(
                pk=LIVE_PK,
                sk=lease_id,
                value=0,
                expires_ms=expires_ms,
                data={"tenant_id": tenant_id, "campaign_id": campaign_id, **data},
            ),
            condition=CoordinationRecord.pk.does_not_exist(),
        )

    def take(
        self,
        lease_id: str,
        tenant_id: str,
        campaign_id: str,
        campaign_limit: int,
        provider_limit: int,
        expires_ms: int,
        data: dict[str, Any],
    ) -> bool:
        """One live-call place, per campaign and provider-wide at once; False when either
        limit is reached (or the lease is already held)."""
        try:
            with _transaction() as tx:
                self._take_items(
                    tx,
                    lease_id,
                    tenant_id,
                    campaign_id,
                    campaign_limit,
                    provider_limit,
                    expires_ms,
                    data,
                )
        except TransactWriteError as error:
            if _conditional_failure(error):
                return False
            raise
        return True

    def get(self, lease_id: str) -> Lease | None:
        try:
            item = CoordinationRecord.get(LIVE_PK, lease_id, consistent_read=True)
        except CoordinationRecord.DoesNotExist:
            return None
        return _lease(item)

    def release(self, lease_id: str) -> Lease | None:
        """Free the place; returns the lease, or None if it was already released."""
        lease = self.get(lease_id)
        if lease is None:
            return None
        value = CoordinationRecord.value
        try:
            with _transaction() as tx:
                tx.delete(
                    CoordinationRecord(pk=LIVE_PK, sk=lease_id),
                    condition=CoordinationRecord.pk.exists(),
                )
                tx.update(CoordinationRecord(pk=COUNT_PK, sk=PROVIDER_SK), actions=[value.add(-1)])
                tx.update(
                    CoordinationRecord(
                        pk=COUNT_PK, sk=campaign_sk(lease.tenant_id, lease.campaign_id)
                    ),
                    actions=[value.add(-1)],
                )
        except TransactWriteError as error:
            if _conditional_failure(error):
                return None
            raise
        return lease

    def extend(self, lease_id: str, data: dict[str, Any], expires_ms: int) -> None:
        try:
            CoordinationRecord(pk=LIVE_PK, sk=lease_id).update(
                actions=[
                    CoordinationRecord.data.set(data),
                    CoordinationRecord.expires_ms.set(expires_ms),
                ],
                condition=CoordinationRecord.pk.exists(),
            )
        except UpdateError as error:
            if not _conditional_failure(error):
                raise

    def expired(self, now_ms: int) -> list[Lease]:
        return [
            _lease(item)
            for item in CoordinationRecord.query(
                LIVE_PK,
                filter_condition=CoordinationRecord.expires_ms <= now_ms,
                consistent_read=True,
            )
        ]

    def live_counts(self) -> dict[str, int]:
        """Live calls by counter key (`provider`, `campaign#<tenant>#<campaign>`)."""
        return {
            item.sk: int(item.value or 0)
            for item in CoordinationRecord.query(COUNT_PK, consistent_read=True)
        }

    def forget_campaign_counter(self, tenant_id: str, campaign_id: str) -> None:
        try:
            CoordinationRecord(pk=COUNT_PK, sk=campaign_sk(tenant_id, campaign_id)).delete(
                condition=CoordinationRecord.value == 0
            )
        except DeleteError as error:
            if not _conditional_failure(error):
                raise

    # ------------------------------------------------------------------ waiting calls
    def park(self, message: dict[str, Any], priority: int) -> bool:
        """The call waits for a free place; False if it already waits."""
        tenant_id, campaign_id = message["tenant_id"], message["campaign_id"]
        claim_pk, claim_sk = claim_key(message)
        try:
            with _transaction() as tx:
                tx.save(
                    CoordinationRecord(
                        pk=waiting_pk(tenant_id, campaign_id),
                        sk=waiting_sk(
                            int(message["due_ms"]), message["contact_id"], int(message["attempt"])
                        ),
                        value=0,
                        data={**message, "leased": False},
                    ),
                    condition=CoordinationRecord.pk.does_not_exist(),
                )
                tx.update(
                    CoordinationRecord(pk=WAITING_INDEX_PK, sk=f"{tenant_id}#{campaign_id}"),
                    actions=[
                        CoordinationRecord.value.add(1),
                        CoordinationRecord.data.set({"priority": priority}),
                    ],
                )
                tx.delete(CoordinationRecord(pk=claim_pk, sk=claim_sk))
        except TransactWriteError as error:
            if _conditional_failure(error):
                return False
            raise
        return True

    def waiting_campaigns(self) -> list[tuple[str, str, int, int]]:
        """(tenant, campaign, waiting count, priority when parked), every index entry."""
        found = []
        for item in CoordinationRecord.query(WAITING_INDEX_PK, consistent_read=True):
            tenant_id, _, campaign_id = item.sk.partition("#")
            priority = int((item.data or {}).get("priority", 5))
            found.append((tenant_id, campaign_id, int(item.value or 0), priority))
        return found

    def any_waiting(self) -> bool:
        return any(count > 0 for _, _, count, _ in self.waiting_campaigns())

    def waiting_of(self, tenant_id: str, campaign_id: str, limit: int) -> list[WaitingCall]:
        return [
            WaitingCall(tenant_id, campaign_id, item.sk, dict(item.data or {}))
            for item in CoordinationRecord.query(
                waiting_pk(tenant_id, campaign_id), limit=limit, consistent_read=True
            )
        ]

    def admit(
        self,
        waiting: WaitingCall,
        lease_id: str,
        campaign_limit: int,
        provider_limit: int,
        expires_ms: int,
        data: dict[str, Any],
        message: dict[str, Any],
    ) -> bool:
        """Move a waiting call into a free place (lease taken, claim in transit)."""
        claim_pk, claim_sk = claim_key(message)
        try:
            with _transaction() as tx:
                tx.delete(
                    CoordinationRecord(
                        pk=waiting_pk(waiting.tenant_id, waiting.campaign_id), sk=waiting.sk
                    ),
                    condition=CoordinationRecord.pk.exists(),
                )
                tx.update(
                    CoordinationRecord(
                        pk=WAITING_INDEX_PK, sk=f"{waiting.tenant_id}#{waiting.campaign_id}"
                    ),
                    actions=[CoordinationRecord.value.add(-1)],
                )
                tx.save(
                    CoordinationRecord(pk=claim_pk, sk=claim_sk, value=0, data=message),
                )
                self._take_items(
                    tx,
                    lease_id,
                    waiting.tenant_id,
                    waiting.campaign_id,
                    campaign_limit,
                    provider_limit,
                    expires_ms,
                    data,
                )
        except TransactWriteError as error:
            if _conditional_failure(error):
                return False
            raise
        return True

    def drop_waiting(self, waiting: WaitingCall) -> None:
        try:
            with _transaction() as tx:
                tx.delete(
                    CoordinationRecord(
                        pk=waiting_pk(waiting.tenant_id, waiting.campaign_id), sk=waiting.sk
                    ),
                    condition=CoordinationRecord.pk.exists(),
                )
                tx.update(
                    CoordinationRecord(
                        pk=WAITING_INDEX_PK, sk=f"{waiting.tenant_id}#{waiting.campaign_id}"
                    ),
                    actions=[CoordinationRecord.value.add(-1)],
                )
        except TransactWriteError as error:
            if not _conditional_failure(error):
                raise

    def forget_waiting_index(self, tenant_id: str, campaign_id: str) -> None:
        try:
            CoordinationRecord(pk=WAITING_INDEX_PK, sk=f"{tenant_id}#{campaign_id}").delete(
                condition=CoordinationRecord.value <= 0
            )
        except DeleteError as error:
            if not _conditional_failure(error):
                raise

    # ------------------------------------------------------------------ claims in transit
    def claim_item(self, message: dict[str, Any]) -> CoordinationRecord:
        pk, sk = claim_key(message)
        return CoordinationRecord(pk=pk, sk=sk, value=0, data=message)

    def forget_claim(self, message: dict[str, Any]) -> None:
        pk, sk = claim_key(message)
        CoordinationRecord(pk=pk, sk=sk).delete()

    def stale_claims(self, sent_before_ms: int) -> Iterator[CoordinationRecord]:
        """Claims whose message was sent before the instant and not yet handled."""
        for shard in range(CLAIM_SHARDS):
            for item in CoordinationRecord.query(
                f"claims#{shard}",
                CoordinationRecord.sk < f"{sent_before_ms:013d}",
                consistent_read=True,
            ):
                data = item.data or {}
                if int(data.get("sent_ms", data.get("due_ms", 0))) < sent_before_ms:
                    yield item

    def mark_resent(self, item: CoordinationRecord, now_ms: int) -> None:
        data = dict(item.data or {})
        data["sent_ms"] = now_ms
        try:
            item.update(
                actions=[CoordinationRecord.data.set(data)],
                condition=CoordinationRecord.pk.exists(),
            )
        except UpdateError as error:
            if not _conditional_failure(error):
                raise

    # ------------------------------------------------------------------ watermark
    def watermark(self) -> int | None:
        try:
            return int(
                CoordinationRecord.get("dispatcher", "watermark", consistent_read=True).value
            )
        except CoordinationRecord.DoesNotExist:
            return None

    def set_watermark(self, minute_ms: int) -> None:
        CoordinationRecord(pk="dispatcher", sk="watermark", value=minute_ms).save()

    # ------------------------------------------------------------------ calls
    def record_call(self, call_id: str, data: dict[str, Any]) -> None:
        CoordinationRecord(pk=f"call#{call_id}", sk="call", value=0, data=data).save()

    def call(self, call_id: str) -> dict[str, Any] | None:
        try:
            return dict(CoordinationRecord.get(f"call#{call_id}", "call").data or {})
        except CoordinationRecord.DoesNotExist:
            return None

    # ------------------------------------------------------------------ rejected caller IDs
    def reject_number(self, tenant_id: str, campaign_id: str, number: str) -> None:
        try:
            CoordinationRecord(pk=f"rejected#{tenant_id}#{campaign_id}", sk=number, value=1).save(
                condition=CoordinationRecord.pk.does_not_exist()
            )
        except PutError as error:
            if not _conditional_failure(error):
                raise

    def rejected_numbers(self, tenant_id: str, campaign_id: str) -> set[str]:
        return {item.sk for item in CoordinationRecord.query(f"rejected#{tenant_id}#{campaign_id}")}


def _lease(item: CoordinationRecord) -> Lease:
    data = dict(item.data or {})
    return Lease(
        lease_id=item.sk,
        tenant_id=str(data.get("tenant_id", "")),
        campaign_id=str(data.get("campaign_id", "")),
        expires_ms=int(item.expires_ms or 0),
        data=data,
    )
