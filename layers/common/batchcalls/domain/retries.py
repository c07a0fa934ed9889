"""What follows an attempt's outcome: a retry after its delay, or the contact's final status.

Pure: API.md "Delivery rules". `no_answer` and `busy` are retried after their delays until
`max_attempts` (which counts every attempt); `failed` is never retried; `unknown` (no
outcome arrived in time) is not retried either, since a second call might reach someone
already called.
"""

from __future__ import annotations

from dataclasses import dataclass

from batchcalls.models.campaign import RetryStrategy

# Contact status after each final outcome. `unknown` ends `failed`: the attempt did not
# demonstrably succeed, and `last_outcome: unknown` says why.
FINAL_STATUS = {
    "completed": "completed",
    "failed": "failed",
    "no_answer": "failed",
    "busy": "failed",
    "unknown": "failed",
}


@dataclass(frozen=True)
class NextStep:
    retry: bool
    delay_ms: int = 0
    final_status: str | None = None


def next_step(outcome: str, attempts_made: int, strategy: RetryStrategy) -> NextStep:
    """`attempts_made` counts the attempt that just ended."""
    if outcome in ("no_answer", "busy") and attempts_made < strategy.max_attempts:
        delay = strategy.no_answer_delay if outcome == "no_answer" else strategy.busy_delay
        return NextStep(retry=True, delay_ms=int(delay))
    return NextStep(retry=False, final_status=FINAL_STATUS.get(outcome, "failed"))
