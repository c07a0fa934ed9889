"""Claims in transit: a claimed call on its way to the caller through the call queue.

`ClaimItem` `claims#<n>` / `<claim ms>#<tenant>#<campaign>#<contact>#<attempt>#<version>`
is written in the transaction that claims a slot (or admits a waiting call) and removed in
the one that starts, parks or drops the call. One left after its message should have
arrived (`sent_ms`, the instant it was due at the caller) was lost on the way (a send that
failed, a crash after the claim): the sweeper sends it again. The message carries its
claim's key, so whoever handles it removes exactly that claim.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from typing import Any

from batchcalls.adapters.tables import ClaimItem
from batchcalls.adapters.transactions import Transaction, conditional

CLAIM_SHARDS = 10


def claim_key(message: dict[str, Any], claim_ms: int) -> list[str]:
    contact_id = message["contact_id"]
    shard = int(hashlib.blake2s(contact_id.encode(), digest_size=4).hexdigest(), 16)
    return [
        f"claims#{shard % CLAIM_SHARDS}",
        f"{claim_ms:013d}#{message['tenant_id']}#{message['campaign_id']}#{contact_id}"
        f"#{message['attempt']}#{message['plan_version']}",
    ]


class ClaimStore:
    def add(
        self,
        tx: Transaction,
        message: dict[str, Any],
        now_ms: int,
        arrives_ms: int,
        label: str = "claim",
    ) -> dict[str, Any]:
        """The claim of `message` (written with `tx`); returns the message naming it."""
        key = claim_key(message, now_ms)
        claimed = {**message, "claim": key}
        tx.put(ClaimItem(pk=key[0], sk=key[1], message=claimed, sent_ms=arrives_ms), label=label)
        return claimed

    def remove(self, tx: Transaction, message: dict[str, Any]) -> None:
        """The message's claim is done with (nothing to do for a message without one)."""
        if message.get("claim"):
            pk, sk = message["claim"]
            tx.delete(ClaimItem(pk=pk, sk=sk), label="claim")

    def forget(self, message: dict[str, Any]) -> None:
        if message.get("claim"):
            pk, sk = message["claim"]
            conditional(lambda: ClaimItem(pk=pk, sk=sk).delete(), "claim delete")

    def expect(self, message: dict[str, Any], arrives_ms: int) -> None:
        """The message was sent again (delayed): not lost before `arrives_ms`."""
        if message.get("claim"):
            pk, sk = message["claim"]
            conditional(
                lambda: ClaimItem(pk=pk, sk=sk).update(
                    actions=[ClaimItem.sent_ms.set(arrives_ms)],
                    condition=ClaimItem.pk.exists(),
                ),
                "claim expected",
            )

    def lost(self, due_before_ms: int) -> Iterator[ClaimItem]:
        """Claims whose message should have reached the caller before the instant."""
        for shard in range(CLAIM_SHARDS):
            # A message arrives after it was claimed: only claims made before the instant.
            for item in ClaimItem.query(
                f"claims#{shard}", ClaimItem.sk < f"{due_before_ms:013d}", consistent_read=True
            ):
                if int(item.sent_ms) < due_before_ms:
                    yield item
