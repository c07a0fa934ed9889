"""EventBridge targets that moto does not deliver: API destinations and Lambda functions.

moto matches each rule's pattern and builds the event (see `moto_hooks`); here the event
gets the injected clock's time and goes, as a task of the event loop, to its target:
an API destination gets an HTTP request with the target's input as body (the whole
event, `Input`, `InputPath` or `InputTransformer`) and the connection's auth, retried
on 401/407/409/429/5xx and network errors within the target's `RetryPolicy`, then, if
still undelivered, put in the target's `DeadLetterConfig` queue (the event, with
EventBridge's RULE_ARN, TARGET_ARN, ERROR_CODE and ERROR_MESSAGE attributes); a Lambda
function gets an asynchronous invocation.
"""

from __future__ import annotations

import base64
import json
import logging
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from jsonpath_ng.ext import parse as jsonpath

from local_stack.lambdas import Functions
from local_stack.loop import EventLoop

log = logging.getLogger("local_stack")

RETRIED_STATUSES = {401, 407, 409, 429}
TIMEOUT_SECONDS = 5


def iso_seconds(instant: datetime) -> str:
    return instant.strftime("%Y-%m-%dT%H:%M:%SZ")


def _path_value(path: str, event: dict[str, Any]) -> Any:
    matches = jsonpath(path).find(event)
    return matches[0].value if matches else None


def target_input(target: dict[str, Any], event: dict[str, Any]) -> str:
    """The body a target receives, as EventBridge shapes it."""
    if "Input" in target:
        return str(target["Input"])
    if "InputPath" in target:
        return json.dumps(_path_value(target["InputPath"], event))
    transformer = target.get("InputTransformer")
    if transformer:
        text = transformer.get("InputTemplate", "")
        for name, path in transformer.get("InputPathsMap", {}).items():
            value = _path_value(path, event)
            text = text.replace(f"<{name}>", value if isinstance(value, str) else json.dumps(value))
        return text.replace("<aws.events.event.json>", json.dumps(event))
    return json.dumps(event)


@dataclass(frozen=True)
class Undelivered:
    """What a dead-letter queue gets when the retries give up: the whole event."""

    rule_arn: str
    event_json: str


@dataclass
class Delivery:
    rule: str
    target: str
    url: str
    attempt: int
    at: str
    status: int | None
    error: str | None = None


class EventTargets:
    def __init__(self, loop: EventLoop, functions: Functions, session: Any) -> None:
        self.loop = loop
        self.functions = functions
        self.events = session.client("events")
        self.secrets = session.client("secretsmanager")
        self.sqs = session.client("sqs")
        self.deliveries: list[Delivery] = []

    # Called on moto's request thread: only schedule.
    def rule_matched(self, rule: Any, targets: list[dict[str, Any]], event: dict[str, Any]) -> None:
        event["time"] = iso_seconds(self.loop.now())
        event.pop("ingestion-time", None)
        for target in targets:
            body = target_input(target, event)
            arn = target["Arn"]
            label = f"{rule.name} -> {target.get('Id', arn)}"
            if ":api-destination/" in arn:
                undelivered = Undelivered(rule.arn, json.dumps(event))
                self.loop.call_soon(
                    label, self._http_attempt(rule.name, target, body, undelivered, 1, None)
                )
            else:
                function = self.functions.by_arn(arn)
                if function is None:
                    log.warning("rule %s targets %s, which is not in the stack", rule.name, arn)
                    continue
                try:
                    payload: Any = json.loads(body)
                except ValueError:
                    payload = body
                self.functions.invoke_async(function, payload, f"rule {rule.name}")

    def _http_attempt(
        self,
        rule: str,
        target: dict[str, Any],
        body: str,
        undelivered: Undelivered,
        attempt: int,
        first_at: datetime | None,
    ) -> Callable[[datetime], None]:
        def run(now: datetime) -> None:
            started = first_at or now
            status, error, url = self._send(target, body)
            self.deliveries.append(
                Delivery(rule, target["Arn"], url, attempt, iso_seconds(now), status, error)
            )
            if status is not None and status < 500 and status not in RETRIED_STATUSES:
                if status >= 300:
                    log.warning("%s answered %s to an event of rule %s", url, status, rule)
                return
            policy = target.get("RetryPolicy", {})
            delay = min(2 ** (attempt - 1), 300)
            age = (now - started).total_seconds() + delay
            if attempt > int(policy.get("MaximumRetryAttempts", 185)) or age > int(
                policy.get("MaximumEventAgeInSeconds", 86400)
            ):
                log.warning("giving up an event of rule %s for %s (%s)", rule, url, error or status)
                reason = error or f"the endpoint answered {status}"
                self._dead_letter(target, undelivered, reason)
                return
            self.loop.call_later(
                delay,
                f"{rule} retry {attempt}",
                self._http_attempt(rule, target, body, undelivered, attempt + 1, started),
            )

        return run

    def _send(self, target: dict[str, Any], body: str) -> tuple[int | None, str | None, str]:
        arn = target["Arn"]
        name = arn.split(":api-destination/", 1)[1].split("/")[0]
        destination = self.events.describe_api_destination(Name=name)
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "User-Agent": "Amazon/EventBridge/ApiDestinations",
        }
        query: dict[str, str] = {}
        headers.update(self._connection_headers(destination["ConnectionArn"], query))
        parameters = target.get("HttpParameters", {})
        headers.update(parameters.get("HeaderParameters", {}))
        query.update(parameters.get("QueryStringParameters", {}))
        url = destination["InvocationEndpoint"]
        for value in parameters.get("PathParameterValues", []):
            url = url.replace("*", urllib.parse.quote(value), 1)
        if query:
            url += ("&" if "?" in url else "?") + urllib.parse.urlencode(query)
        request = urllib.request.Request(
            url, data=body.encode(), headers=headers, method=destination.get("HttpMethod", "POST")
        )
        try:
            with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as response:
                response.read()
                return response.status, None, url
        except urllib.error.HTTPError as failure:
            return failure.code, None, url
        except (urllib.error.URLError, OSError) as failure:
            return None, repr(failure), url

    def _connection_headers(self, connection_arn: str, query: dict[str, str]) -> dict[str, str]:
        name = connection_arn.split(":connection/", 1)[1].split("/")[0]
        connection = self.events.describe_connection(Name=name)
        # As EventBridge does, read the credentials from the connection's secret.
        secret = json.loads(
            self.secrets.get_secret_value(SecretId=connection["SecretArn"])["SecretString"]
        )
        headers = {}
        kind = connection.get("AuthorizationType")
        if kind == "API_KEY":
            headers[secret["api_key_name"]] = secret["api_key_value"]
        elif kind == "BASIC":
            token = f"{secret['username']}:{secret['password']}".encode()
            headers["Authorization"] = "Basic " + base64.b64encode(token).decode()
        else:
            log.warning("connection %s: %s auth is not simulated", name, kind)
        extra = connection.get("AuthParameters", {}).get("InvocationHttpParameters", {})
        for item in extra.get("HeaderParameters", []):
            headers[item["Key"]] = item.get("Value", "")
        for item in extra.get("QueryStringParameters", []):
            query[item["Key"]] = item.get("Value", "")
        return headers

    def _dead_letter(self, target: dict[str, Any], undelivered: Undelivered, reason: str) -> None:
        """As EventBridge does: the event itself, with attributes naming the rule, the
        target and the error."""
        arn = target.get("DeadLetterConfig", {}).get("Arn")
        if not arn:
            return
        url = self.sqs.get_queue_url(QueueName=arn.rsplit(":", 1)[-1])["QueueUrl"]
        attributes = {
            "RULE_ARN": undelivered.rule_arn,
            "TARGET_ARN": target["Arn"],
            "ERROR_CODE": "ERROR_FROM_TARGET" if "answered" in reason else "CONNECTION_FAILURE",
            "ERROR_MESSAGE": reason[:256],
        }
        self.sqs.send_message(
            QueueUrl=url,
            MessageBody=undelivered.event_json,
            MessageAttributes={
                name: {"DataType": "String", "StringValue": value}
                for name, value in attributes.items()
            },
        )
