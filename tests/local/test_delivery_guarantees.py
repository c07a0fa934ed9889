"""Delivery rules (API.md "Delivery rules") end to end on the local stack with the
simulated clock: rates and daily caps with retries, retry delays, pause and resume,
duplicates of every message, cancel, and windows that close while calls remain.

The stack is shared by this module (its clock moves on from test to test), so each test
plans from `live_stack.now()` and looks only at its own campaign's calls and webhooks.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from aws_lambda_powertools.utilities import parameters

from local_stack.provider import sign
from tests.support.calls import campaign_calls

pytestmark = pytest.mark.slow
KEY = "key-tenant-a"
AGENT = "agent_guarantees"
CALLER_IDS = ["+12025550100"]


# ---------------------------------------------------------------------- helpers
def iso(instant: datetime) -> str:
    return instant.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def ms(text: str) -> int:
    return int(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp() * 1000)


def at(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def create(stack, body: dict[str, Any]) -> str:
    answer = stack.request(
        "POST",
        "/batch-calls",
        {"agent_id": AGENT, "phone_numbers": CALLER_IDS, **body},
        api_key=KEY,
    )
    assert answer.status in (201, 202), answer.json()
    return answer.json()["id"]


def campaign(stack, campaign_id: str) -> dict[str, Any]:
    return stack.request("GET", f"/batch-calls/{campaign_id}", api_key=KEY).json()


def contacts(stack, campaign_id: str) -> dict[str, dict[str, Any]]:
    """Contacts by phone number."""
    items = stack.request(
        "GET", f"/batch-calls/{campaign_id}/contacts?limit=1000", api_key=KEY
    ).json()["items"]
    return {c["phone_number"]: c for c in items}


def calls(stack, campaign_id: str) -> list[dict[str, Any]]:
    """What the simulated provider was asked to dial for this campaign, with `attempt`."""
    return campaign_calls(
        stack.request("GET", "/_local/provider/calls").json()["items"], campaign_id
    )


def call_webhooks(stack, tag: str) -> list[dict[str, Any]]:
    return [
        h["body"]
        for h in stack.webhooks
        if h["url"].endswith(f"/{tag}/call") and h["body"].get("event") == "call.completed"
    ]


def webhooks_to(stack, tag: str) -> dict[str, str]:
    base = f"{stack.base_url}/_local/webhook-sink/{tag}"
    return {"on_call_complete": f"{base}/call", "on_batch_complete": f"{base}/done"}


def peak_concurrency(placed: list[dict[str, Any]]) -> int:
    """Most calls live at one instant; a call ending at t frees its place for one at t."""
    edges = sorted(
        [(ms(c["placed_at"]), 1) for c in placed]
        + [(ms(c["ended_at"]), -1) for c in placed if c["ended_at"]]
    )
    live = peak = 0
    for _, delta in edges:
        live += delta
        peak = max(peak, live)
    return peak


def advance_until(stack, done, step: int = 60, limit: int = 3600) -> None:
    """Advance in steps of `step` simulated seconds until `done()` (at most `limit`)."""
    moved = 0
    while not done():
        assert moved < limit, "the condition did not come within the time allowed"
        stack.advance(step)
        moved += step


def minute_after_next(stack) -> datetime:
    """A start on a minute boundary, after the next minute tick has run."""
    return stack.now().replace(second=0, microsecond=0) + timedelta(minutes=2)


@pytest.fixture(scope="module", autouse=True)
def fresh_provider_secret() -> Iterator[None]:
    """Each stack signs callbacks with its own random provider secret, but Powertools
    caches SSM parameters per process for five minutes (of real time): a stack started
    after another in the same process would refuse every callback (401) with the old one.
    Forget the cache before this module's stack and after it."""
    parameters.clear_caches()
    yield
    parameters.clear_caches()


@pytest.fixture
def provider(live_stack):
    """The simulated provider's settings for one test, put back afterwards."""

    def configure(**settings: Any) -> None:
        answer = live_stack.request("POST", "/_local/provider/settings", settings)
        assert answer.status == 200, answer.json()

    yield configure
    configure(call_seconds=60, reject_from=[], drop_callbacks=False)


# ---------------------------------------------------------------------- 1. rate and cap
def zone_with_midnight_soon(now: datetime, at_least: timedelta) -> tuple[str, datetime]:
    """A timezone whose next local midnight is the soonest one at least `at_least` away."""
    names = [f"Etc/GMT{sign}{h}" for h in range(1, 13) for sign in "+-"] + [
        "UTC",
        "Asia/Kolkata",
        "Asia/Kathmandu",
        "Asia/Yangon",
        "Asia/Tehran",
        "Australia/Darwin",
        "Australia/Eucla",
        "America/St_Johns",
        "Pacific/Marquesas",
        "Pacific/Chatham",
        "Australia/Adelaide",
    ]
    best: tuple[timedelta, str, datetime] | None = None
    for name in names:
        local = now.astimezone(ZoneInfo(name))
        midnight = datetime.combine(local.date() + timedelta(days=1), datetime.min.time())
        midnight = midnight.replace(tzinfo=ZoneInfo(name)).astimezone(UTC)
        wait = midnight - now
        if wait >= at_least and (best is None or wait < best[0]):
            best = (wait, name, midnight)
    assert best is not None
    return best[1], best[2]


@pytest.mark.parametrize("concurrency", [10, 2], ids=["no_call_waits", "calls_wait_for_a_place"])
def test_rate_and_daily_cap_hold_with_every_retry_counted(live_stack, provider, concurrency):
    # Given a campaign of one call per second and eight calls per local day, starting
    # three minutes before its local midnight: six contacts, two that never answer and
    # two always busy (three attempts each, retried at once when busy), so that retries
    # compete with first calls for the same seconds and the same day. With ten live calls
    # allowed none waits for a place (a busy call ends, and is retried, in the very second
    # a first call is placed); with two most calls wait, queued, while retries are planned.
    # (One campaign per test: two at once would make each wait for the other's calls.)
    provider(call_seconds=5)
    zone, midnight = zone_with_midnight_soon(live_stack.now(), timedelta(minutes=5))
    start = midnight - timedelta(minutes=3)
    phones = [
        "+12025550112",
        "+12025550122",
        "+12025550111",
        "+12025550121",
        "+12025550114",
        "+12025550124",
    ]
    campaign_id = create(
        live_stack,
        {
            "schedule_type": "scheduled",
            "scheduled_at": iso(start),
            "timezone": zone,
            "max_calls_per_second": 1,
            "max_calls_per_day": 8,
            "max_concurrent_calls": concurrency,
            "retry_strategy": {"max_attempts": 3, "no_answer_delay": 3_000, "busy_delay": 0},
            "contacts": [{"phone_number": p} for p in phones],
        },
    )

    # When the clock runs past local midnight until the campaign is done
    live_stack.advance((midnight - live_stack.now()).total_seconds() + 120)
    advance_until(live_stack, lambda: campaign(live_stack, campaign_id)["status"] == "completed")

    # Then every attempt was made: 3 for each never-answering or busy number, 1 otherwise
    placed = calls(live_stack, campaign_id)
    per_number = Counter(c["to"] for c in placed)
    assert per_number == {p: 3 if p[-1] in "12" else 1 for p in phones}
    # and no second holds more than one call, retries included
    per_second = Counter(ms(c["placed_at"]) // 1000 for c in placed)
    assert max(per_second.values()) == 1, sorted(c["placed_at"] for c in placed)
    # and no local day holds more than eight, retries included (the first day is full,
    # and some of its eight are retries)
    per_day: dict[Any, list[dict[str, Any]]] = defaultdict(list)
    for call in placed:
        per_day[at(call["placed_at"]).astimezone(ZoneInfo(zone)).date()].append(call)
    assert [len(v) for _, v in sorted(per_day.items())] == [8, 6]
    assert any(c["attempt"] > 1 for c in per_day[min(per_day)])
    # and nothing before the campaign's start, nor more live calls than allowed
    assert min(ms(c["placed_at"]) for c in placed) >= ms(iso(start))
    assert peak_concurrency(placed) <= concurrency


def test_an_immediate_campaign_dials_on_time_and_within_its_rate(live_stack, provider):
    # Given an immediate campaign of one call per second and five contacts, created twenty
    # seconds into a minute
    provider(call_seconds=10)
    live_stack.advance(60 - live_stack.now().second + 20)
    phones = [f"+1202555018{d}" for d in (4, 5, 6, 7, 8)]
    campaign_id = create(
        live_stack,
        {"max_calls_per_second": 1, "contacts": [{"phone_number": p} for p in phones]},
    )
    planned = {p: ms(c["scheduled_at"]) for p, c in contacts(live_stack, campaign_id).items()}

    # When the clock runs two minutes
    live_stack.advance(120)

    # Then every call was placed within a second of its time, one call per second
    placed = calls(live_stack, campaign_id)
    assert sorted(c["to"] for c in placed) == sorted(phones)
    assert all(0 <= ms(c["placed_at"]) - planned[c["to"]] <= 1000 for c in placed), placed
    assert max(Counter(ms(c["placed_at"]) // 1000 for c in placed).values()) == 1


# ---------------------------------------------------------------------- 2. retry delays
def test_retries_wait_their_delay_and_stop_at_max_attempts(live_stack, provider):
    # Given a campaign retrying no-answer after 120 s and busy after 30 s, three attempts
    # at most: one number never answers, one is always busy, one fails, one answers
    provider(call_seconds=10)
    tag = "retries"
    never, busy, failing, answering = (
        "+12025550131",
        "+12025550132",
        "+12025550133",
        "+12025550134",
    )
    campaign_id = create(
        live_stack,
        {
            "retry_strategy": {"max_attempts": 3, "no_answer_delay": 120_000, "busy_delay": 30_000},
            "webhooks": webhooks_to(live_stack, tag),
            "contacts": [{"phone_number": p} for p in (never, busy, failing, answering)],
        },
    )

    # When the clock runs until the campaign is done
    advance_until(live_stack, lambda: campaign(live_stack, campaign_id)["status"] == "completed")

    # Then each retry started no earlier than its previous call's end plus the delay, and
    # within a few seconds of it (nothing else holds it back)
    placed = calls(live_stack, campaign_id)
    by_number = defaultdict(list)
    for call in placed:
        by_number[call["to"]].append(call)
    for number, delay in ((never, 120_000), (busy, 30_000)):
        attempts = by_number[number]
        assert [c["attempt"] for c in attempts] == [1, 2, 3]
        for previous, retry in pairwise(attempts):
            waited = ms(retry["placed_at"]) - ms(previous["ended_at"])
            assert delay <= waited <= delay + 3_000, (number, waited)
    # and a failed call is not retried, an answered one needs no retry
    assert len(by_number[failing]) == 1 and len(by_number[answering]) == 1

    # and the last failure leaves the contact failed with its outcome
    final = contacts(live_stack, campaign_id)
    assert (final[never]["status"], final[never]["last_outcome"], final[never]["attempts"]) == (
        "failed",
        "no_answer",
        3,
    )
    assert (final[busy]["status"], final[busy]["last_outcome"], final[busy]["attempts"]) == (
        "failed",
        "busy",
        3,
    )
    assert (final[failing]["status"], final[failing]["last_outcome"]) == ("failed", "failed")
    assert final[failing]["attempts"] == 1
    assert final[answering]["status"] == "completed"

    # and call.completed came once for every attempt
    hooks = call_webhooks(live_stack, tag)
    assert sorted((h["phoneNumber"], h["attempt"], h["status"]) for h in hooks) == sorted(
        [(never, n, "NO_ANSWER") for n in (1, 2, 3)]
        + [(busy, n, "BUSY") for n in (1, 2, 3)]
        + [(failing, 1, "FAILED"), (answering, 1, "COMPLETED")]
    )


# ---------------------------------------------------------------------- 4. pause, resume
def test_pause_holds_every_call_and_resume_finishes_the_campaign(live_stack, provider):
    # Given a running campaign dialling one call at a time (30 s each), six contacts, one
    # that never answers (two attempts)
    provider(call_seconds=30)
    phones = [f"+1202555014{d}" for d in (4, 5, 6, 7, 8)] + ["+12025550141"]
    start = minute_after_next(live_stack)
    campaign_id = create(
        live_stack,
        {
            "schedule_type": "scheduled",
            "scheduled_at": iso(start),
            "max_concurrent_calls": 1,
            "retry_strategy": {"max_attempts": 2, "no_answer_delay": 60_000, "busy_delay": 0},
            "contacts": [{"phone_number": p} for p in phones],
        },
    )
    live_stack.advance((start - live_stack.now()).total_seconds() + 70)
    assert 1 <= len(calls(live_stack, campaign_id)) < len(phones)

    # When it is paused for ten minutes
    answer = live_stack.request("POST", f"/batch-calls/{campaign_id}/pause", api_key=KEY)
    assert answer.status == 200, answer.json()
    paused_at = live_stack.now()
    before = len(calls(live_stack, campaign_id))
    live_stack.advance(600)

    # Then nothing of it was dialled while paused
    during = calls(live_stack, campaign_id)
    assert len(during) == before
    assert all(at(c["placed_at"]) <= paused_at for c in during)
    assert campaign(live_stack, campaign_id)["status"] == "paused"

    # When it is resumed and the clock runs on
    answer = live_stack.request("POST", f"/batch-calls/{campaign_id}/resume", api_key=KEY)
    assert answer.status in (200, 202), answer.json()
    resumed_at = live_stack.now()
    advance_until(live_stack, lambda: campaign(live_stack, campaign_id)["status"] == "completed")

    # Then the rest was dialled after the resume, every contact once per attempt
    placed = calls(live_stack, campaign_id)
    assert all(at(c["placed_at"]) >= resumed_at for c in placed[before:])
    assert Counter((c["to"], c["attempt"]) for c in placed) == Counter(
        [(p, 1) for p in phones] + [(phones[-1], 2)]
    )
    assert peak_concurrency(placed) <= 1
    final = contacts(live_stack, campaign_id)
    assert {p: c["status"] for p, c in final.items()} == {
        p: "failed" if p == phones[-1] else "completed" for p in phones
    }


# ---------------------------------------------------------------------- 5. duplicates
def scheduled_event(stack) -> dict[str, Any]:
    return {
        "version": "0",
        "id": "duplicate-tick",
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": "123456789012",
        "time": iso(stack.now()),
        "region": "us-east-1",
        "resources": [],
        "detail": {},
    }


def test_a_repeated_tick_message_or_callback_places_one_call_per_attempt(
    live_stack, provider, monkeypatch
):
    # Given a campaign of four contacts (one never answers: two attempts, 30 s apart),
    # with every call message the caller receives recorded
    provider(call_seconds=20)
    tag = "duplicates"
    phones = ["+12025550154", "+12025550155", "+12025550156", "+12025550151"]
    caller = live_stack.functions["CallerFunction"]
    received: list[str] = []
    original = caller.invoke

    def recording(event: Any) -> Any:
        received.extend(r["body"] for r in event.get("Records", []))
        return original(event)

    monkeypatch.setattr(caller, "invoke", recording)
    start = minute_after_next(live_stack)
    campaign_id = create(
        live_stack,
        {
            "schedule_type": "scheduled",
            "scheduled_at": iso(start),
            "retry_strategy": {"max_attempts": 2, "no_answer_delay": 30_000, "busy_delay": 0},
            "webhooks": webhooks_to(live_stack, tag),
            "contacts": [{"phone_number": p} for p in phones],
        },
    )

    # When the dispatcher runs twice more in each of the minutes before and at the start
    for _ in range(3):
        for _ in range(2):
            live_stack.invoke("DispatcherFunction", scheduled_event(live_stack))
        live_stack.advance(60)
    live_stack.advance(5)
    ours = [b for b in received if json.loads(b)["campaign_id"] == campaign_id]
    assert ours, "the caller received no message of the campaign"

    # and every call message is delivered again while its call is live
    queue_url = live_stack.resource("CallQueue")
    sqs = live_stack.client("sqs")
    for body in ours:
        sqs.send_message(QueueUrl=queue_url, MessageBody=body)
    live_stack.run_due()

    # and every outcome callback is posted again, after its first delivery
    def repost_callbacks() -> int:
        posted = 0
        for call in calls(live_stack, campaign_id):
            if call["ended_at"] is None:
                continue
            body = json.dumps(
                {"call_id": call["call_id"], "status": call["status"], "duration_seconds": 0}
            ).encode()
            signature = sign(live_stack.provider_secret, int(live_stack.now().timestamp()), body)
            answer = live_stack.request(
                "POST",
                "/provider/events",
                body,
                headers={"X-Signature": signature, "Content-Type": "application/json"},
            )
            assert answer.status == 200, answer.json()
            posted += 1
        return posted

    live_stack.advance(30)
    assert repost_callbacks() >= len(phones)
    # and, once the retry has run too, every message and every callback come once more
    advance_until(live_stack, lambda: campaign(live_stack, campaign_id)["status"] == "completed")
    for body in [b for b in received if json.loads(b)["campaign_id"] == campaign_id]:
        sqs.send_message(QueueUrl=queue_url, MessageBody=body)
    live_stack.run_due()
    assert repost_callbacks() == len(phones) + 1
    live_stack.advance(120)

    # Then the provider received exactly one call per attempt
    placed = calls(live_stack, campaign_id)
    assert Counter((c["to"], c["attempt"]) for c in placed) == Counter(
        [(p, 1) for p in phones] + [(phones[-1], 2)]
    )
    assert len({c["call_id"] for c in placed}) == len(placed)
    # and the webhook told each attempt's end once (no deduplication by eventId needed)
    hooks = call_webhooks(live_stack, tag)
    assert Counter((h["phoneNumber"], h["attempt"]) for h in hooks) == Counter(
        [(p, 1) for p in phones] + [(phones[-1], 2)]
    )
    assert len({h["eventId"] for h in hooks}) == len(hooks)
    assert len([h for h in live_stack.webhooks if h["url"].endswith(f"/{tag}/done")]) == 1
    final = contacts(live_stack, campaign_id)
    assert final[phones[-1]]["attempts"] == 2
    assert campaign(live_stack, campaign_id)["status"] == "completed"


# ---------------------------------------------------------------------- 7. cancel
def test_cancel_stops_every_call_not_yet_dialled(live_stack, provider):
    # Given a running campaign dialling one call at a time (30 s each), six contacts
    provider(call_seconds=30)
    phones = [f"+1202555016{d}" for d in (4, 5, 6, 7, 8, 9)]
    start = minute_after_next(live_stack)
    campaign_id = create(
        live_stack,
        {
            "schedule_type": "scheduled",
            "scheduled_at": iso(start),
            "max_concurrent_calls": 1,
            "contacts": [{"phone_number": p} for p in phones],
        },
    )
    live_stack.advance((start - live_stack.now()).total_seconds() + 45)
    dialled = len(calls(live_stack, campaign_id))
    assert 1 <= dialled < len(phones)

    # When it is cancelled mid-way and the clock runs on
    answer = live_stack.request("POST", f"/batch-calls/{campaign_id}/cancel", api_key=KEY)
    assert answer.status == 200, answer.json()
    cancelled_at = live_stack.now()
    live_stack.advance(600)

    # Then nothing was dialled after the cancel
    placed = calls(live_stack, campaign_id)
    assert len(placed) == dialled
    assert all(at(c["placed_at"]) <= cancelled_at for c in placed)
    # and the contacts not dialled are cancelled, the campaign too
    final = contacts(live_stack, campaign_id)
    called = {c["to"] for c in placed}
    assert {p: c["status"] for p, c in final.items() if p not in called} == {
        p: "cancelled" for p in phones if p not in called
    }
    assert all(final[p]["status"] in ("completed", "cancelled") for p in called)
    body = campaign(live_stack, campaign_id)
    assert body["status"] == "cancelled"
    assert body["stats"].get("queued", 0) == body["stats"].get("scheduled", 0) == 0


# ---------------------------------------------------------------------- 8. window close
def test_every_call_is_placed_inside_its_window_when_the_window_closes(live_stack, provider):
    # Given a campaign in New York whose daily window closes in a few minutes and opens
    # again five minutes later (a window running past midnight: open 23 h 55 min a day),
    # one call per second, two at a time (20 s each), its first calls planned just
    # before the close so that most of them still wait for a place when it closes
    provider(call_seconds=20)
    zone = ZoneInfo("America/New_York")
    now_local = live_stack.now().astimezone(zone)
    close = now_local.replace(second=0, microsecond=0) + timedelta(minutes=3)
    reopen = close + timedelta(minutes=5)
    phones = [f"+120255501{n}" for n in range(70, 100) if n % 10 not in (1, 2, 3)][:12]
    campaign_id = create(
        live_stack,
        {
            "schedule_type": "scheduled",
            "scheduled_at": iso(close - timedelta(seconds=6)),
            "timezone": "America/New_York",
            "start_time": reopen.strftime("%H:%M"),
            "end_time": close.strftime("%H:%M"),
            "legal_hours_guard": False,
            "max_calls_per_second": 1,
            "max_concurrent_calls": 2,
            "contacts": [{"phone_number": p} for p in phones],
        },
    )
    planned = {p: ms(c["scheduled_at"]) for p, c in contacts(live_stack, campaign_id).items()}
    assert sum(v < close.timestamp() * 1000 for v in planned.values()) == 6

    # When the clock runs past the close and the next opening until the campaign is done
    live_stack.advance((reopen - live_stack.now()).total_seconds())
    advance_until(live_stack, lambda: campaign(live_stack, campaign_id)["status"] == "completed")

    # Then every contact was called once, none outside the window, none before its time
    # (the first planned one, nor the one it was re-planned to)
    placed = calls(live_stack, campaign_id)
    final = contacts(live_stack, campaign_id)
    assert sorted(c["to"] for c in placed) == sorted(phones)
    closed_from, closed_until = close.timestamp() * 1000, reopen.timestamp() * 1000
    for call in placed:
        placed_ms = ms(call["placed_at"])
        assert not closed_from <= placed_ms < closed_until, call
        assert placed_ms >= max(planned[call["to"]], ms(final[call["to"]]["scheduled_at"])), call
    # and the calls that missed the close were called after the reopening
    before_close = [c for c in placed if ms(c["placed_at"]) < closed_from]
    assert 2 <= len(before_close) < 6
    assert peak_concurrency(placed) <= 2
