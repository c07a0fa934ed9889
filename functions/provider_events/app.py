"""provider_events function: placeholder until its issue lands (see README, "Status")."""

from typing import Any

from batchcalls.observability import logger


@logger.inject_lambda_context
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    logger.info("received", event_keys=sorted(event))
    return {"batchItemFailures": []} if "Records" in event else {}
