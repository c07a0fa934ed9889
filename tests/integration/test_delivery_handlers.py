"""Delivery handlers under moto: the dispatcher tick, the caller, provider callbacks, the
sweeper and the publisher.

Slots are written here as the planner writes them (slot first, then the contact
scheduled for it); the provider, event bus and webhooks are in-memory fakes, the call
queue a fake that keeps what was sent so a test can deliver it (or deliver it twice).
Events reach the fake bus as on AWS: from the outbox, when `world.publish()` runs the
publisher over it (the stream's part).
"""

from __future__ import annotations

import copy
import json
from datetime import timedelta
from typing import Any

import pytest
from batchcalls.adapters.bookings import BookingLedger
from batchcalls.adapters.campaign_store import CampaignStore
from batchcalls.adapters.contact_moves import ContactCounts
from batchcalls.adapters.contact_store import ContactPlanWrites, ContactStore
from batchcalls.adapters.outbox import OutboxStore
from batchcalls.adapters.provider_http import CallRequest, PlaceResult
from batchcalls.adapters.slot_store import SlotStore, minute_of, new_slot
from batchcalls.adapters.tables import ContactRecord
from batchcalls.clock import to_epoch_ms
from batchcalls.domain.contacts import NewContact
from batchcalls.domain.outcomes import sign
from batchcalls.ids import call_id_for, contact_id_for
from batchcalls.models.campaign import CampaignSettings
from batchcalls.services.delivery import DeliveryConfig, DeliveryService
from batchcalls.services.publishing import EventPublisher
from batchcalls.settings import reset_settings

from tests.support.api import LambdaContextStub, load_event

TENANT = "tenant_a"
SECRET = "provider-test-secret"
NUMBERS = ["+12025550100", "+12025550101"]


class FakeQueue:
    def __init__(self) -> None:
        self.sent: list[tuple[dict[str, Any], int]] = []

    def send(self, messages):
        self.sent.extend((copy.deepcopy(m), d) for m, d in messages)
        return []

    def take(self) -> list[tuple[dict[str, Any], int]]:
        taken, self.sent = self.sent, []
        return taken


class FakeProvider:
    def __init__(self) -> None:
        self.calls: list[CallRequest] = []
        self.reject_from: set[str] = set()
        self.answer: PlaceResult | None = None
        self.budgets: list[float] = []

    def place(self, call: CallRequest, budget_seconds: float) -> PlaceResult:
        self.budgets.append(budget_seconds)
        if call.from_number in self.reject_from:
            return PlaceResult("from_rejected", 422)
        if self.answer is not None:
            return self.answer
        self.calls.append(call)
        return PlaceResult("accepted", 200)


class FakeBus:
    def __init__(self) -> None:
        self.put_details: list[dict[str, Any]] = []
        self.webhook_urls: dict[str, str | None] = {}  # by eventId: the webhook that wants it
        self.refuse: set[str] = set()  # event names the bus refuses

    def put_many(self, details, tenants, webhook_urls=None):
        taken = [d["event"] not in self.refuse for d in details]
        urls = webhook_urls or [None] * len(details)
        for detail, ok, url in zip(details, taken, urls, strict=True):
            if ok:
                self.put_details.append(detail)
                self.webhook_urls[detail["eventId"]] = url
        return taken


class FakeCommands:
    """The planning queue: the planner's requests, kept."""

    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []

    def send_command(self, message: dict[str, Any]) -> None:
        self.sent.append(message)


class FakeDeadLetters:
    def __init__(self) -> None:
        self.messages: list[dict[str, Any]] = []
        self.deleted = 0

    def receive(self):
        taken, self.messages = self.messages, []
        return [(message, f"r{i}") for i, message in enumerate(taken)]

    def delete(self, receipt):
        self.deleted += 1


class World:
    def __init__(self, clock) -> None:
        self.clock = clock
        self.queue = FakeQueue()
        self.provider = FakeProvider()
        self.events = FakeBus()
        self.commands = FakeCommands()
        self.dead_letters = FakeDeadLetters()
        self.service = DeliveryService(
            clock,
            DeliveryConfig(
                provider_wide_call_limit=3,
                call_timeout_seconds=600,
                public_base_url="https://api.example.com",
            ),
            self.queue,
            self.provider,
            publisher=EventPublisher(self.events, self.commands),
            dead_letters=self.dead_letters,
        )
        self.campaigns = CampaignStore()
        self.contacts = ContactStore()
        self.counter = 0

    # ------------------------------------------------------------ given
    def campaign(self, phones: list[str], due_offsets: list[float], **settings: Any) -> str:
        self.counter += 1
        campaign_id = f"batch_test{self.counter:04d}"
        values = {
            "agent_id": "agent_1",
            "phone_numbers": NUMBERS,
            "legal_hours_guard": False,
            "webhooks": {"on_call_complete": "https://hooks.example.com/call"},
            **settings,
        }
        now = self.clock.now()
        self.campaigns.create(
            TENANT, campaign_id, "active", CampaignSettings.model_validate(values), now
        )
        contacts = [NewContact(p, None, None, {"first_name": "Ann"}, ("UTC",)) for p in phones]
        self.contacts.add(TENANT, campaign_id, contacts, 1, now)
        for phone, offset in zip(phones, due_offsets, strict=True):
            self.plan(campaign_id, phone, to_epoch_ms(now) + int(offset * 1000))
        return campaign_id

    def plan(self, campaign_id: str, phone: str, due_ms: int, version: int = 1) -> None:
        contact = self.contact(campaign_id, phone)
        settings = CampaignSettings.model_validate(self.campaigns.get(TENANT, campaign_id).settings)
        BookingLedger().book(TENANT, campaign_id, [due_ms])
        SlotStore().put_many(
            [
                new_slot(
                    TENANT,
                    campaign_id,
                    contact.contact_id,
                    int(contact.attempts) + 1,
                    version,
                    due_ms,
                    settings.priority,
                    settings.phone_numbers[0],
                )
            ]
        )
        # As the planner moves a contact: with its counters.
        assert ContactPlanWrites().schedule(
            [(contact, due_ms, settings.phone_numbers[0])], version, self.clock.now()
        ) == [True]

    def contact(self, campaign_id: str, phone: str) -> ContactRecord:
        return self.contacts.get(TENANT, campaign_id, contact_id_for(campaign_id, phone))

    def booked(self, campaign_id: str) -> dict[str, int]:
        """Calls booked per minute, zero counts left out."""
        counts = BookingLedger().booked_minutes(TENANT, campaign_id, "0", "9")
        return {minute: n for minute, n in counts.items() if n}

    def counts(self, campaign_id: str) -> dict[str, int]:
        totals = ContactCounts().totals(TENANT, campaign_id)
        return {status: n for status, n in totals.items() if n}

    def publish(self) -> int:
        """What the outbox's stream does: every event written so far goes to the bus."""
        items = OutboxStore().unpublished(to_epoch_ms(self.clock.now()) + 1)
        return self.service.sweeper.publisher.publish(items)  # type: ignore[union-attr]

    def sweep(self) -> dict[str, Any]:
        from functions.sweeper import app

        return app.lambda_handler(load_event("sweeper_run.json"), LambdaContextStub())

    # ------------------------------------------------------------ when
    def tick(self) -> dict[str, Any]:
        from functions.dispatcher import app

        return app.lambda_handler(load_event("dispatcher_tick.json"), LambdaContextStub())

    def deliver(self, messages: list[tuple[dict[str, Any], int]]) -> dict[str, Any]:
        from functions.caller import app

        event = load_event("caller_call.json")
        template = event["Records"][0]
        event["Records"] = []
        for index, (message, _) in enumerate(messages):
            record = copy.deepcopy(template)
            record["messageId"] = f"m-{index}"
            record["body"] = json.dumps(message)
            event["Records"].append(record)
        return app.lambda_handler(event, LambdaContextStub())

    def deliver_due(self) -> int:
        """Deliver every message sent so far, as SQS would once its delay passed."""
        messages = self.queue.take()
        if messages:
            latest = max(m["due_ms"] for m, _ in messages)
            if latest > to_epoch_ms(self.clock.now()):
                self.clock.set(
                    self.clock.now()
                    + timedelta(milliseconds=latest - to_epoch_ms(self.clock.now()))
                )
            self.deliver(messages)
        return len(messages)

    def callback(
        self, call_id: str, status: str, *, signature: str | None = "valid", **extra: Any
    ) -> tuple[int, Any]:
        from functions.provider_events import app

        event = load_event("provider_events_completed.json")
        body = json.dumps({"call_id": call_id, "status": status, "duration_seconds": 42, **extra})
        event["body"] = body
        stamp = int(self.clock.now().timestamp())
        if signature == "valid":
            event["headers"]["x-signature"] = sign(SECRET, stamp, body.encode())
        elif signature is None:
            del event["headers"]["x-signature"]
        else:
            event["headers"]["x-signature"] = signature
        answer = app.lambda_handler(event, LambdaContextStub())
        return answer["statusCode"], json.loads(answer["body"])


@pytest.fixture
def world(aws, clock, monkeypatch):
    from functions.caller import app as caller
    from functions.dispatcher import app as dispatcher
    from functions.provider_events import app as provider_events
    from functions.sweeper import app as sweeper

    monkeypatch.setenv("PROVIDER_SECRET", SECRET)
    reset_settings()
    provider_events._secret.cache_clear()
    built = World(clock)
    handlers = (dispatcher, caller, provider_events, sweeper)
    for module in handlers:
        module.use_service(built.service)
    yield built
    for module in handlers:
        module.use_service(None)
    provider_events._secret.cache_clear()


def call_id_of(world: World, campaign_id: str, phone: str, attempt: int = 1) -> str:
    return call_id_for(campaign_id, contact_id_for(campaign_id, phone), attempt)


# ============================================================================ dispatcher
def test_a_due_slot_is_claimed_once_and_sent_delayed_to_its_own_second(world):
    # Given a call due 30.25 s from now
    campaign = world.campaign(["+12025550114"], [30.25])
    # When the tick runs twice (a rule may fire twice)
    world.tick()
    world.tick()
    # Then it was sent once, delayed so it arrives at (never before) its second
    sent = world.queue.take()
    assert len(sent) == 1
    assert sent[0][1] == 31
    assert world.contact(campaign, "+12025550114").status == "queued"
    assert world.counts(campaign) == {"queued": 1}


def test_a_send_that_would_arrive_over_half_a_second_late_waits_for_the_next_second(
    world, clock, monkeypatch
):
    # Given a call due 30.25 s from now, and a clock on which a wait takes time (the
    # system clock's, as on AWS)
    monkeypatch.setattr(clock, "sleep", lambda seconds: clock.advance(seconds) and None)
    began = clock.now()
    campaign = world.campaign(["+12025550115"], [30.25])
    # When the tick sends it
    world.tick()
    # Then it waited a quarter of a second, and the message, delayed 30 s instead of 31,
    # arrives at its time instead of 0.75 s after it
    [(message, delay)] = world.queue.take()
    assert (message["contact_id"], delay) == (
        world.contact(campaign, "+12025550115").contact_id,
        30,
    )
    assert (clock.now() - began).total_seconds() == 0.25


def test_a_missed_tick_loses_nothing(world, clock):
    # Given a tick, then a call planned two minutes ahead and three ticks missed
    world.tick()
    world.campaign(["+12025550114"], [90])
    clock.advance(300)
    # When the next tick comes late
    world.tick()
    # Then the overdue call is sent at once
    assert [d for _, d in world.queue.take()] == [0]


def test_slots_of_a_paused_campaign_wait_and_of_a_cancelled_one_are_dropped(world):
    paused = world.campaign(["+12025550114"], [5])
    cancelled = world.campaign(["+12025550124"], [5])
    world.campaigns.transition(
        world.campaigns.get(TENANT, paused), {"active"}, "paused", world.clock.now()
    )
    world.campaigns.transition(
        world.campaigns.get(TENANT, cancelled), {"active"}, "cancelled", world.clock.now()
    )
    world.tick()
    assert world.queue.take() == []
    assert world.contact(paused, "+12025550114").status == "scheduled"


def test_a_stale_slot_of_an_older_plan_is_never_sent(world):
    campaign = world.campaign(["+12025550114"], [5])
    # Re-planned meanwhile: the contact now waits for version 2 at another time
    world.plan(campaign, "+12025550114", to_epoch_ms(world.clock.now()) + 200_000, version=2)
    world.tick()
    assert world.queue.take() == []


def test_a_minute_without_slots_costs_no_shard_query(world, clock):
    # Given a call planned into one shard of one minute
    campaign = world.campaign(["+12025550114"], [90])
    due_minute = to_epoch_ms(clock.now()) // 60_000 * 60_000 + 60_000
    # Then only that partition is marked, and an empty minute has no mark at all
    store = SlotStore()
    [partition] = store.marked_partitions([minute_of(due_minute)])
    assert store.marked_partitions([minute_of(due_minute + 60_000)]) == []
    assert [s.contact_id for s in store.in_minutes([minute_of(due_minute)])] == [
        world.contact(campaign, "+12025550114").contact_id
    ]
    assert partition.startswith(minute_of(due_minute))


def test_a_claim_whose_message_was_lost_is_sent_again(world, clock):
    # Given a call claimed and sent, whose message never reached the caller
    clock.set(clock.now().replace(minute=0, second=10, microsecond=0))
    campaign = world.campaign(["+12025550114"], [5])
    world.tick()
    [(lost, _)] = world.queue.take()
    # When ticks run every minute, and the sweeper every five, for the next ten minutes
    resent = []
    for minute in range(1, 11):
        clock.advance(60)
        world.tick()
        if minute % 5 == 0:
            world.sweep()
        resent += world.queue.take()
    # Then it was sent again once, with no delay, and is dialled once when it arrives
    assert [(m["contact_id"], d) for m, d in resent] == [(lost["contact_id"], 0)]
    world.deliver([*resent, (lost, 0)])
    assert len(world.provider.calls) == 1
    assert world.contact(campaign, "+12025550114").status == "in_progress"


# ============================================================================ caller
def test_a_call_is_dialled_once_even_when_its_message_arrives_twice(world):
    campaign = world.campaign(["+12025550114"], [5])
    world.tick()
    messages = world.queue.take()
    world.clock.advance(5)
    # When the same message is delivered twice
    assert world.deliver(messages) == {"batchItemFailures": []}
    world.deliver(messages)
    # Then the provider got one call with the contact's variables, batch and contact ids
    assert len(world.provider.calls) == 1
    call = world.provider.calls[0]
    contact = world.contact(campaign, "+12025550114")
    assert call.call_id == call_id_of(world, campaign, "+12025550114")
    assert call.variables == {
        "first_name": "Ann",
        "batch_id": campaign,
        "contact_id": contact.contact_id,
    }
    assert call.callback_url == "https://api.example.com/provider/events"
    assert contact.status == "in_progress" and int(contact.attempts) == 1
    assert world.counts(campaign) == {"in_progress": 1}


def test_no_more_than_max_concurrent_calls_are_live_and_a_freed_place_is_reused(world):
    # Given three calls due now and room for one at a time
    phones = ["+12025550114", "+12025550124", "+12025550134"]
    campaign = world.campaign(phones, [0, 0.1, 0.2], max_concurrent_calls=1)
    world.tick()
    world.deliver_due()
    # Then one is dialled and two wait (queued), none bounced to the queue
    assert len(world.provider.calls) == 1
    assert world.queue.take() == []
    assert world.counts(campaign) == {"in_progress": 1, "queued": 2}
    # When the live call ends, the next waiting one is admitted at once (delay 0)
    status, _ = world.callback(world.provider.calls[0].call_id, "completed")
    assert status == 200
    admitted = world.queue.take()
    assert [(m["contact_id"], d, m["reserved"]) for m, d in admitted] == [
        (contact_id_for(campaign, phones[1]), 0, True)
    ]
    world.deliver(admitted)
    assert [c.to for c in world.provider.calls] == phones[:2]


def test_the_provider_wide_limit_serves_higher_priority_first(world):
    # Given the provider-wide limit (3) taken by one campaign
    busy = world.campaign(
        ["+12025550114", "+12025550124", "+12025550134"], [0, 0, 0], max_concurrent_calls=5
    )
    low = world.campaign(["+12025550144"], [1], priority=2)
    high = world.campaign(["+12025550154"], [2], priority=9)
    world.tick()
    world.deliver_due()
    assert len(world.provider.calls) == 3
    # When one call ends
    world.callback(call_id_of(world, busy, "+12025550114"), "completed")
    # Then the higher-priority waiting call gets the place, though it fell due later
    admitted = world.queue.take()
    assert [m["campaign_id"] for m, _ in admitted] == [high]
    assert world.contact(low, "+12025550144").status == "queued"


def test_a_queued_call_of_a_paused_campaign_goes_back_to_scheduled(world):
    campaign = world.campaign(["+12025550114"], [5])
    world.tick()
    world.campaigns.transition(
        world.campaigns.get(TENANT, campaign), {"active"}, "paused", world.clock.now()
    )
    world.deliver_due()
    assert world.provider.calls == []
    contact = world.contact(campaign, "+12025550114")
    assert (
        contact.status == "scheduled"
        and int(contact.scheduled_at) < to_epoch_ms(world.clock.now()) + 1
    )
    assert world.counts(campaign) == {"scheduled": 1}
    # It keeps its booking until the resume re-plans it
    assert sum(world.booked(campaign).values()) == 1


def test_a_queued_call_of_a_cancelled_campaign_is_never_dialled(world):
    campaign = world.campaign(["+12025550114"], [5])
    world.tick()
    world.campaigns.transition(
        world.campaigns.get(TENANT, campaign), {"active"}, "cancelled", world.clock.now()
    )
    world.deliver_due()
    assert world.provider.calls == []
    assert world.contact(campaign, "+12025550114").status == "cancelled"
    assert world.booked(campaign) == {}  # its place is given up


def test_a_call_whose_window_closed_is_replanned_into_the_next_window(world, clock):
    # Given a window 09:00-14:00:05 UTC and a call due at 14:00:04
    campaign = world.campaign(["+12025550114"], [4], start_time="09:00", end_time="14:01")
    world.tick()
    messages = world.queue.take()
    # When its message arrives after the window closed
    clock.advance(120)
    world.deliver(messages)
    # Then it is not dialled but planned into tomorrow's window
    assert world.provider.calls == []
    contact = world.contact(campaign, "+12025550114")
    assert contact.status == "scheduled"
    next_day_9 = (
        to_epoch_ms(clock.now().replace(hour=9, minute=0, second=0, microsecond=0)) + 86_400_000
    )
    assert int(contact.scheduled_at) == next_day_9
    # And its booking moved with it: the missed minute is free again
    assert world.booked(campaign) == {minute_of(next_day_9): 1}


def test_a_rejected_caller_id_fails_over_to_the_next_number(world):
    campaign = world.campaign(["+12025550114"], [0])
    world.provider.reject_from = {NUMBERS[0]}
    world.tick()
    world.deliver_due()
    assert [c.from_number for c in world.provider.calls] == [NUMBERS[1]]
    assert world.service.deps.store.leases.rejected_numbers(TENANT, campaign) == {NUMBERS[0]}
    assert world.contact(campaign, "+12025550114").caller_id == NUMBERS[1]


def test_a_provider_refusal_ends_the_attempt_failed(world):
    campaign = world.campaign(["+12025550114"], [0])
    world.provider.answer = PlaceResult("refused", 400)
    world.tick()
    world.deliver_due()
    contact = world.contact(campaign, "+12025550114")
    assert (contact.status, contact.last_outcome) == ("failed", "failed")
    assert world.service.deps.store.leases.live_counts().get("provider", 0) == 0


def test_an_unreachable_provider_is_dialled_again_later_under_the_same_call_id(world, clock):
    # Given a provider that answers 503 to every request
    campaign = world.campaign(["+12025550114"], [0])
    world.provider.answer = PlaceResult("unavailable", 503)
    world.tick()
    # When the call is delivered
    answer = world.deliver(world.queue.take())
    # Then the message is not a failure (it would end in the dead-letter queue): a new one
    # dials again 15 s later, and the call keeps its place meanwhile
    assert answer == {"batchItemFailures": []}
    [(again, delay)] = world.queue.take()
    assert (delay, again["redials"]) == (15, 1)
    contact = world.contact(campaign, "+12025550114")
    assert (contact.status, int(contact.attempts)) == ("in_progress", 1)
    # And once the provider answers, the same call id is placed once
    world.provider.answer = None
    clock.advance(15)
    world.deliver([(again, 0)])
    world.deliver([(again, 0)])
    assert [c.call_id for c in world.provider.calls] == [
        call_id_of(world, campaign, "+12025550114")
    ]


def test_a_call_dialled_again_counts_in_its_second_under_the_rate(world, clock):
    # Given one call a second: a call the provider did not answer, to be dialled again
    # 15 s later, and another call started in that very second
    phones = ["+12025550114", "+12025550124"]
    campaign = world.campaign(phones, [0, 15], max_calls_per_second=1)
    world.provider.answer = PlaceResult("unavailable", 503)
    world.tick()
    first, second = world.queue.take()
    world.deliver([first])
    [(again, delay)] = world.queue.take()
    world.provider.answer = None
    clock.advance(delay)
    world.deliver([second])
    assert [c.to for c in world.provider.calls] == [phones[1]]
    # When the redial arrives in the same second
    world.deliver([(again, 0)])
    # Then it is not dialled in that second, but sent on to the next one with room,
    # keeping its call id and its place
    assert [c.to for c in world.provider.calls] == [phones[1]]
    [(paced, paced_delay)] = world.queue.take()
    assert (paced["contact_id"], paced_delay) == (again["contact_id"], 1)
    clock.advance(1)
    world.deliver([(paced, 0)])
    assert [c.call_id for c in world.provider.calls][1] == call_id_of(world, campaign, phones[0])
    assert world.counts(campaign) == {"in_progress": 2}


# ============================================================================ provider events
@pytest.mark.parametrize(
    "signature",
    [None, "t=1,v1=00", "garbage", "t=1796047200,v1=" + "0" * 64],
)
def test_an_unsigned_or_badly_signed_callback_is_refused(world, signature):
    status, body = world.callback("call_x", "completed", signature=signature)
    assert status == 401
    assert body["error"]["code"] == "unauthorized"


def test_a_signature_older_than_five_minutes_is_refused(world, clock):
    from functions.provider_events import app

    event = load_event("provider_events_completed.json")
    stamp = int(clock.now().timestamp()) - 301
    event["headers"]["x-signature"] = sign(SECRET, stamp, event["body"].encode())
    assert app.lambda_handler(event, LambdaContextStub())["statusCode"] == 401


def test_an_outcome_is_recorded_once_and_emits_one_event(world):
    campaign = world.campaign(["+12025550114"], [0])
    world.tick()
    world.deliver_due()
    call_id = call_id_of(world, campaign, "+12025550114")
    # When the provider posts the outcome twice
    assert world.callback(call_id, "completed", summary="Booked.")[0] == 200
    assert world.callback(call_id, "completed", summary="Booked.")[0] == 200
    # Then the contact is completed once, one call.completed then one batch.completed
    world.publish()
    contact = world.contact(campaign, "+12025550114")
    assert (contact.status, contact.last_outcome, int(contact.duration_seconds)) == (
        "completed",
        "completed",
        42,
    )
    events = [d["event"] for d in world.events.put_details]
    assert events == ["call.completed", "batch.completed", "campaign.status_changed"]
    changed = world.events.put_details[2]
    assert (changed["batchId"], changed["from"], changed["to"]) == (campaign, "active", "completed")
    call = world.events.put_details[0]
    assert call["status"] == "COMPLETED" and call["callId"] == call_id and call["attempt"] == 1
    assert world.events.put_details[1]["statistics"] == {
        "total": 1,
        "succeeded": 1,
        "failed": 0,
        "skipped": 0,
        "cancelled": 0,
    }
    assert world.campaigns.get(TENANT, campaign).status == "completed"
    # the bus event names the webhook that wants it (the webhook rule's match);
    # batch.completed none: the campaign set no on_batch_complete
    done = world.events.put_details[1]
    assert world.events.webhook_urls[call["eventId"]] == "https://hooks.example.com/call"
    assert world.events.webhook_urls[done["eventId"]] is None


def test_no_answer_is_retried_after_its_delay_until_max_attempts(world, clock):
    campaign = world.campaign(
        ["+12025550111"],
        [0],
        retry_strategy={"max_attempts": 2, "no_answer_delay": 600_000, "busy_delay": 0},
    )
    world.tick()
    world.deliver_due()
    ended = to_epoch_ms(clock.now())
    world.callback(call_id_of(world, campaign, "+12025550111"), "no_answer")
    contact = world.contact(campaign, "+12025550111")
    assert (contact.status, int(contact.attempts)) == ("scheduled", 1)
    assert int(contact.scheduled_at) == ended + 600_000
    # And the retry is booked beside the call that was made (both count for the day)
    assert world.booked(campaign) == {minute_of(ended): 1, minute_of(ended + 600_000): 1}
    # When the retry falls due it is dialled as attempt 2, and its no_answer is final
    clock.advance(600)
    world.tick()
    world.deliver_due()
    assert [c.call_id for c in world.provider.calls][-1] == call_id_of(
        world, campaign, "+12025550111", 2
    )
    world.callback(call_id_of(world, campaign, "+12025550111", 2), "no_answer")
    contact = world.contact(campaign, "+12025550111")
    assert (contact.status, contact.last_outcome, int(contact.attempts)) == (
        "failed",
        "no_answer",
        2,
    )


def test_a_call_with_no_outcome_ends_unknown_after_the_timeout(world, clock):
    campaign = world.campaign(["+12025550114"], [0])
    world.tick()
    world.deliver_due()
    clock.advance(601)
    world.sweep()
    world.publish()
    contact = world.contact(campaign, "+12025550114")
    assert (contact.status, contact.last_outcome) == ("failed", "unknown")
    assert world.events.put_details[0]["status"] == "UNKNOWN"
    assert world.service.deps.store.leases.live_counts().get("provider", 0) == 0
    # A late callback changes nothing
    world.callback(call_id_of(world, campaign, "+12025550114"), "completed")
    assert world.contact(campaign, "+12025550114").last_outcome == "unknown"


# ============================================================================ outbox, sweeper
def test_an_event_the_bus_refuses_stays_in_the_outbox_until_it_is_taken(world, clock):
    from functions.publisher import app as publisher

    # Given a call that ended while the bus refuses call.completed
    campaign = world.campaign(["+12025550114", "+12025550124"], [0, 0.5])
    world.tick()
    world.deliver_due()
    world.events.refuse = {"call.completed"}
    world.callback(call_id_of(world, campaign, "+12025550114"), "completed")
    [item] = OutboxStore().unpublished(to_epoch_ms(clock.now()) + 1)
    # When the stream hands it to the publisher
    event = load_event("publisher_outbox.json")
    event["Records"][0]["dynamodb"]["NewImage"] = item.serialize()
    publisher.publisher.cache_clear()
    original = publisher.publisher
    publisher.publisher = lambda: world.service.sweeper.publisher  # type: ignore[assignment]
    try:
        answer = publisher.lambda_handler(event, LambdaContextStub())
    finally:
        publisher.publisher = original  # type: ignore[assignment]
    # Then the record is reported failed (the stream retries it) and the event stays
    sequence = event["Records"][0]["dynamodb"]["SequenceNumber"]
    assert answer == {"batchItemFailures": [{"itemIdentifier": sequence}]}
    assert world.events.put_details == []
    # And once the bus takes it again, the sweeper publishes it (with its webhook), once
    world.events.refuse = set()
    clock.advance(301)
    world.sweep()
    world.sweep()
    assert [d["event"] for d in world.events.put_details] == ["call.completed"]
    published = world.events.put_details[0]["eventId"]
    assert world.events.webhook_urls[published] == "https://hooks.example.com/call"
    assert OutboxStore().unpublished(to_epoch_ms(clock.now()) + 1) == []


def test_a_call_message_in_the_dead_letter_queue_is_sent_again_then_given_up(world):
    # Given a claimed call whose message ended in the dead-letter queue
    campaign = world.campaign(["+12025550114"], [5])
    world.tick()
    [(message, _)] = world.queue.take()
    world.dead_letters.messages = [message]
    # When the sweeper runs
    world.sweep()
    # Then it went back to the call queue, marked as redriven once
    [(again, delay)] = world.queue.take()
    assert (again["redriven"], delay) == (1, 0)
    # And a message redriven three times already ends its contact failed, not stuck
    world.dead_letters.messages = [{**message, "redriven": 3}]
    world.sweep()
    assert world.queue.take() == []
    contact = world.contact(campaign, "+12025550114")
    assert (contact.status, contact.reason) == ("failed", "undeliverable")
    assert world.dead_letters.deleted == 2


# ---------------------------------------------------------------- the campaign cannot go on
def test_a_provider_refusing_the_agent_fails_the_campaign_with_batch_failed(world):
    # Given two calls due, and a provider that does not know the campaign's agent
    campaign = world.campaign(
        ["+12025550114", "+12025550124"],
        [0, 0.5],
        webhooks={"on_batch_failed": "https://hooks.example.com/failed"},
    )
    world.provider.answer = PlaceResult(
        "blocked", 404, "HTTP 404 agent_not_found", "agent_not_found"
    )
    # When the calls are dialled
    world.tick()
    world.deliver_due()
    world.publish()
    # Then the campaign failed, once, with batch.failed and its status change
    assert world.campaigns.get(TENANT, campaign).status == "failed"
    failed = [d for d in world.events.put_details if d["event"] == "batch.failed"]
    assert len(failed) == 1
    assert failed[0]["batchId"] == campaign
    assert failed[0]["error"].startswith("agent_not_found: ")
    assert set(failed[0]) == {"event", "eventId", "occurredAt", "batchId", "error"}
    # (and its on_batch_failed webhook wants it)
    failed_id = failed[0]["eventId"]
    assert world.events.webhook_urls[failed_id] == "https://hooks.example.com/failed"
    changes = [
        (d["from"], d["to"])
        for d in world.events.put_details
        if d["event"] == "campaign.status_changed"
    ]
    assert changes == [("active", "failed")]
    # (and the planner asked to cancel whatever is not dialled yet)
    assert [(c["kind"], c["campaign_id"]) for c in world.commands.sent] == [("cancel", campaign)]
    # And no contact is lost: neither was called, both are cancelled, no attempt counted
    assert world.counts(campaign) == {"cancelled": 2}
    dialled = world.contact(campaign, "+12025550114")
    assert (dialled.reason, int(dialled.attempts or 0)) == ("campaign_failed", 0)
    assert not [d for d in world.events.put_details if d["event"] == "call.completed"]
    assert world.service.deps.store.leases.leases() == []


def test_every_outbound_number_refused_fails_the_campaign(world):
    # Given a provider that refuses both outbound numbers of the campaign
    campaign = world.campaign(["+12025550114"], [0])
    world.provider.reject_from = set(NUMBERS)
    # When the call is dialled
    world.tick()
    world.deliver_due()
    world.publish()
    # Then both numbers were tried, and the campaign failed with batch.failed
    assert world.campaigns.get(TENANT, campaign).status == "failed"
    [failed] = [d for d in world.events.put_details if d["event"] == "batch.failed"]
    assert failed["error"].startswith("from_rejected: ")
    assert world.counts(campaign) == {"cancelled": 1}


# ---------------------------------------------------------------- analytics counters
def test_analytics_count_each_attempt_once_even_when_its_outcome_comes_twice(world, clock):
    from batchcalls.services.analytics import AnalyticsService

    # Given a contact answered at its second attempt, and one that never answers
    campaign = world.campaign(
        ["+12025550111", "+12025550121"],
        [0, 0.5],
        retry_strategy={"max_attempts": 2, "no_answer_delay": 60_000, "busy_delay": 0},
    )
    world.tick()
    world.deliver_due()
    for phone in ("+12025550111", "+12025550121"):
        # When every outcome is posted twice
        for _ in range(2):
            world.callback(call_id_of(world, campaign, phone), "no_answer", duration_seconds=0)
    clock.advance(60)
    world.tick()
    world.deliver_due()
    answered = call_id_of(world, campaign, "+12025550111", 2)
    for _ in range(2):
        world.callback(answered, "completed", duration_seconds=75)
        world.callback(call_id_of(world, campaign, "+12025550121", 2), "no_answer")
    # Then each attempt counts once
    figures = AnalyticsService().of(TENANT, campaign)
    assert figures["attempts"] == {
        "total": 4,
        "by_outcome": {"completed": 1, "no_answer": 3, "busy": 0, "failed": 0, "unknown": 0},
        "per_contact": {"1": 0, "2": 2},
    }
    assert figures["answer_rate"] == 0.25
    assert figures["duration_seconds"] == {"mean": 75.0, "p50": 75.0, "p95": 75.0}
    assert figures["contacts"]["completed"] == 1 and figures["contacts"]["failed"] == 1
    assert sum(day["placed"] for day in figures["per_day"]) == 4
    assert sum(day["completed"] for day in figures["per_day"]) == 1
    assert sum(day["planned"] for day in figures["per_day"]) == 4
    assert figures["finish_estimate"] is None
