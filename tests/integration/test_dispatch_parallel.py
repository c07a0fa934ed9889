"""The dispatcher's parallel claims under moto: claims batched in transactions (one
campaign's contact shard each), several at a time, and several claimers at once (two
ticks, a tick and a planner's hand-over) never claim a slot twice, nor leave a claim
half-written, nor let more calls be live than the limits allow.

The `world` (moto, fakes for the queue and the provider) is test_delivery_handlers'.
"""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any

import pytest
from batchcalls.adapters.delivery_store import CLAIMS_PER_TRANSACTION, Claim, DeliveryStore
from batchcalls.adapters.slot_store import SlotStore, minute_of
from batchcalls.adapters.tables import SlotRecord
from batchcalls.adapters.transactions import WriteUnavailable
from batchcalls.clock import to_epoch_ms
from batchcalls.ids import contact_id_for, contact_shard
from batchcalls.services.delivery import call_message

from tests.integration import test_delivery_handlers as handlers

TENANT = handlers.TENANT
world = handlers.world  # the fixture


def phones(count: int, prefix: str = "+1202555") -> list[str]:
    return [f"{prefix}{i:04d}" for i in range(count)]


def slots_of(campaign_id: str, *minutes_ms: int) -> list[SlotRecord]:
    found = SlotStore().in_minutes(minute_of(m) for m in minutes_ms)
    return [s for s in found if s.campaign_id == campaign_id]


def contacts_claimed_once(sent: list[tuple[dict[str, Any], int]]) -> Counter[str]:
    return Counter(m["contact_id"] for m, _ in sent)


def run_together(*steps: Any) -> list[Any]:
    """Run the steps in threads at once; their results (an exception is re-raised)."""
    results: list[Any] = [None] * len(steps)
    errors: list[BaseException] = []

    def run(index: int) -> None:
        try:
            results[index] = steps[index]()
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(steps))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    return results


class BothReadFirst:
    """Holds each claimer after its contacts are read until every claimer has read
    them: all of them then claim the same slots, as read in the same state."""

    def __init__(self, claimers: int, monkeypatch: pytest.MonkeyPatch) -> None:
        barrier = threading.Barrier(claimers, timeout=30)
        original = DeliveryStore.contacts

        def contacts(store: DeliveryStore, keys: Any, workers: int = 1) -> Any:
            found = original(store, keys, workers)
            barrier.wait()
            return found

        monkeypatch.setattr(DeliveryStore, "contacts", contacts)


def test_two_ticks_claiming_the_same_minute_at_once_claim_each_slot_once(world, monkeypatch):
    # Given 70 calls of two campaigns due in the next minute (many batches, every shard)
    first = world.campaign(phones(40), [45 + i * 0.25 for i in range(40)])
    second = world.campaign(phones(30, "+1303555"), [50 + i * 0.25 for i in range(30)])
    # When two ticks read them in the same state, then claim them at once
    BothReadFirst(2, monkeypatch)
    reports = run_together(world.service.tick, world.service.tick)
    # Then each call was claimed and sent once, by one tick or the other
    sent = world.queue.take()
    assert sum(r.claimed for r in reports) == 70
    assert set(contacts_claimed_once(sent).values()) == {1}
    assert len(sent) == 70
    # and each slot, contact and counter says so
    assert world.counts(first) == {"queued": 40}
    assert world.counts(second) == {"queued": 30}
    now_ms = to_epoch_ms(world.clock.now())
    for campaign in (first, second):
        assert {s.status for s in slots_of(campaign, now_ms, now_ms + 60_000)} == {"queued"}


def test_a_tick_and_a_planners_hand_over_at_once_claim_each_slot_once(world, monkeypatch):
    # Given 40 calls due within the minute, handed over by their planner (dispatch_soon)
    # while the tick claims them too
    campaign = world.campaign(phones(40), [5 + i * 0.5 for i in range(40)])
    now_ms = to_epoch_ms(world.clock.now())
    slots = slots_of(campaign, now_ms, now_ms + 60_000)
    BothReadFirst(2, monkeypatch)
    run_together(world.service.tick, lambda: world.service.dispatch_soon(slots))
    # Then each was claimed and sent once
    sent = world.queue.take()
    assert len(sent) == 40
    assert set(contacts_claimed_once(sent).values()) == {1}
    assert world.counts(campaign) == {"queued": 40}


def test_live_call_limits_hold_with_concurrent_claimers_and_duplicate_messages(world, monkeypatch):
    # Given a campaign allowed 2 live calls, and another allowed 5, under a provider-wide
    # limit of 3 (the world's), 30 calls due at once, claimed by two ticks at once
    small = world.campaign(phones(12), [1] * 12, max_concurrent_calls=2)
    large = world.campaign(phones(18, "+1303555"), [1] * 18, max_concurrent_calls=5)
    BothReadFirst(2, monkeypatch)
    run_together(world.service.tick, world.service.tick)
    sent = world.queue.take()
    assert len(sent) == 30
    # When every message is delivered twice (SQS delivers at least once)
    world.clock.advance(2)
    world.deliver(sent + sent)
    for _ in range(10):  # and the waiting calls admitted to free places, when they arrive
        if not world.deliver_due():
            break
    # Then no more than the limits are live: 3 in all, at most 2 of the small campaign,
    # each dialled once; the others wait (queued), none lost
    calls = [c.variables["batch_id"] for c in world.provider.calls]
    assert len(calls) == 3
    assert Counter(calls)[small] <= 2
    assert len({c.call_id for c in world.provider.calls}) == 3
    small_counts, large_counts = world.counts(small), world.counts(large)
    assert small_counts.get("in_progress", 0) == Counter(calls)[small]
    assert sum(small_counts.values()) == 12
    assert sum(large_counts.values()) == 18
    assert small_counts.get("in_progress", 0) + large_counts.get("in_progress", 0) == 3


def test_a_full_batch_is_one_transaction_of_at_most_100_items(world, monkeypatch):
    # Given 33 calls of one campaign whose contacts share one contact shard
    numbers = [p for p in phones(2000) if contact_shard(contact_id_for("batch_test0001", p)) == 0]
    campaign = world.campaign(numbers[:33], [10] * 33)
    assert campaign == "batch_test0001"
    items: list[int] = []
    from batchcalls.adapters import transactions

    original = transactions.Transaction._write

    def counted(tx: transactions.Transaction) -> None:
        if tx.what == "claim":
            items.append(len(tx))
        original(tx)

    monkeypatch.setattr(transactions.Transaction, "_write", counted)
    # When the tick claims them
    report = world.service.tick()
    # Then 32 go in one transaction (3 items each and their shard's counter), one in another
    assert report.claimed == 33
    assert sorted(items) == [3 + 1, 3 * CLAIMS_PER_TRANSACTION + 1]
    assert max(items) <= 100


def test_a_batch_with_a_claim_taken_meanwhile_claims_the_others(world):
    # Given 5 calls of one shard read for one batch, one of them claimed meanwhile by
    # another claimer
    numbers = [p for p in phones(400) if contact_shard(contact_id_for("batch_test0001", p)) == 3]
    campaign = world.campaign(numbers[:5], [10] * 5)
    now_ms = to_epoch_ms(world.clock.now())
    slots = sorted(slots_of(campaign, now_ms), key=lambda s: s.contact_id)
    store = DeliveryStore()
    contacts = store.contacts((TENANT, campaign, s.contact_id) for s in slots)
    claims = [Claim(s, contacts[s.contact_id], call_message(s), int(s.due_ms)) for s in slots]
    assert store.claim_many(claims[2:3], world.clock.now())[0] is not None
    # When the batch is claimed
    claimed = store.claim_many(claims, world.clock.now())
    # Then the other four are claimed, in one go, and the one taken is not claimed again
    assert [m is not None for m in claimed] == [True, True, False, True, True]
    assert world.counts(campaign) == {"queued": 5}


def test_a_batch_dynamodb_refuses_is_left_whole_for_the_next_tick(world, monkeypatch):
    # Given 40 calls due next minute, and DynamoDB refusing the first claim transaction
    # (throttled past its retries)
    campaign = world.campaign(phones(40), [70 + i * 0.5 for i in range(40)])
    original = DeliveryStore.claim_many
    refused: list[int] = []
    lock = threading.Lock()

    def claim_many(store: DeliveryStore, claims: Any, now: Any) -> Any:
        with lock:
            first = not refused
            if first:
                refused.append(len(claims))
        if first:
            raise WriteUnavailable("claim: throttled")
        return original(store, claims, now)

    monkeypatch.setattr(DeliveryStore, "claim_many", claim_many)
    # When the tick runs
    report = world.service.tick()
    # Then the refused batch is wholly unclaimed (slots planned, contacts scheduled,
    # counters equal), the others sent, and the watermark stays at its minute
    sent = world.queue.take()
    assert report.claimed == 40 - refused[0] == len(sent)
    assert world.counts(campaign) == {"queued": 40 - refused[0], "scheduled": refused[0]}
    now_ms = to_epoch_ms(world.clock.now())
    statuses = Counter(s.status for s in slots_of(campaign, now_ms + 60_000))
    assert statuses == {"queued": 40 - refused[0], "planned": refused[0]}
    assert report.watermark_ms <= now_ms - now_ms % 60_000 + 60_000
    # When the next tick runs, it claims them
    world.clock.advance(20)
    again = world.service.tick()
    assert again.claimed == refused[0]
    assert set(contacts_claimed_once(sent + world.queue.take()).values()) == {1}
    assert world.counts(campaign) == {"queued": 40}


def test_a_tick_that_dies_after_claiming_leaves_its_calls_to_the_sweeper(world):
    # Given 40 calls due in a few seconds, and a dispatcher that dies once its claims are
    # written, before any message is sent
    world.clock.set(world.clock.now().replace(minute=0, second=10, microsecond=0))
    campaign = world.campaign(phones(40), [5 + i * 0.25 for i in range(40)])

    class Died(Exception):
        pass

    def die(messages: Any) -> Any:
        raise Died

    world.queue.send = die  # type: ignore[method-assign]
    with pytest.raises(Died):
        world.service.tick()
    del world.queue.send  # sending works again
    # Then every claim is whole: each contact queued with its slot and its claim
    assert world.counts(campaign) == {"queued": 40}
    # When ticks run every minute and the sweeper every five
    resent = []
    for minute in range(1, 11):
        world.clock.advance(60)
        world.tick()
        if minute % 5 == 0:
            world.sweep()
        resent += world.queue.take()
    # Then each claimed call is sent again once, and dialled once
    assert len(resent) == 40
    assert set(contacts_claimed_once(resent).values()) == {1}
    world.deliver(resent + resent)
    assert len(world.provider.calls) == 3  # the world's provider-wide limit
    assert len({c.call_id for c in world.provider.calls}) == 3
    assert sum(world.counts(campaign).values()) == 40
