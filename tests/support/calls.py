"""The simulated provider's log read per campaign, each call with its attempt."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from batchcalls.ids import call_id_for


def campaign_calls(
    provider_calls: Iterable[dict[str, Any]], campaign_id: str
) -> list[dict[str, Any]]:
    """The calls dialled for the campaign, each with `attempt` (read off its call id:
    a fail-over to another caller ID keeps the attempt's prefix)."""
    found = []
    for call in provider_calls:
        if call["batch_id"] != campaign_id:
            continue
        attempt = next(
            n
            for n in range(1, 6)
            if call["call_id"].startswith(call_id_for(campaign_id, call["contact_id"], n))
        )
        found.append({**call, "attempt": attempt})
    return found
