"""Event destinations in storage and in EventBridge.

`DestinationStore`: the tenant's destinations in the Coordination table
(`destinations#<tenant>` / `<id>`), a per-tenant count (`destinations#<tenant>` /
`count`, so two creates at once cannot pass the limit together) and, while one is being
created or deleted, an `destinations#unsettled` item the sweeper reads.

`EventBridgeDestinations`: the connection, API destination, rule and target of one
destination, each created or removed so that doing it again is harmless
(already there: fine; already gone: fine).
"""

from __future__ import annotations

import json
import socket
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import boto3
from botocore.exceptions import ClientError
from pynamodb.exceptions import DoesNotExist

from batchcalls.adapters.tables import (
    CampaignRecord,
    CountItem,
    EventDestinationItem,
    UnsettledDestinationItem,
)
from batchcalls.adapters.transactions import ConditionFailed, transaction
from batchcalls.domain.event_destinations import RETRY_POLICY, TARGET_ID
from batchcalls.errors import Conflict, ErrorDetail, ValidationFailed

UNSETTLED_PK = "destinations#unsettled"
COUNT_SK = "count"


def destinations_pk(tenant_id: str) -> str:
    return f"destinations#{tenant_id}"


@dataclass(frozen=True)
class Destination:
    tenant_id: str
    destination_id: str
    url: str
    auth_header_name: str
    events: list[str] | None
    batch_ids: list[str] | None
    status: str
    created_at: str

    def view(self) -> dict[str, Any]:
        """What the API shows: never the auth value."""
        return {
            "id": self.destination_id,
            "url": self.url,
            "auth_header_name": self.auth_header_name,
            "events": self.events,
            "batch_ids": self.batch_ids,
            "status": self.status,
            "created_at": self.created_at,
        }


@dataclass(frozen=True)
class Unsettled:
    tenant_id: str
    destination_id: str
    since_ms: int


def _destination(tenant_id: str, item: EventDestinationItem) -> Destination:
    return Destination(
        tenant_id=tenant_id,
        destination_id=item.sk,
        url=item.url,
        auth_header_name=item.auth_header_name,
        events=[str(name) for name in item.events] if item.events else None,
        batch_ids=[str(batch) for batch in item.batch_ids] if item.batch_ids else None,
        status=item.status,
        created_at=item.created_at,
    )


class TooManyDestinations(Conflict):
    pass


class DestinationStore:
    def begin(self, destination: Destination, limit: int, now_ms: int) -> None:
        """The destination written as `creating`, counted against the tenant's limit, and
        marked unsettled, in one transaction. Raises TooManyDestinations at the limit."""
        pk = destinations_pk(destination.tenant_id)
        tx = transaction("begin event destination")
        tx.update(
            CountItem(pk=pk, sk=COUNT_SK),
            [CountItem.value.add(1)],
            CountItem.value.does_not_exist() | (CountItem.value < limit),
            label="count",
        )
        tx.put(
            EventDestinationItem(
                pk=pk,
                sk=destination.destination_id,
                status="creating",
                url=destination.url,
                auth_header_name=destination.auth_header_name,
                events=destination.events,
                batch_ids=destination.batch_ids,
                created_at=destination.created_at,
                updated_at=destination.created_at,
            ),
            EventDestinationItem.sk.does_not_exist(),
            label="destination",
        )
        tx.put(self._unsettled(destination.tenant_id, destination.destination_id, now_ms))
        try:
            tx.commit()
        except ConditionFailed as refused:
            if refused.failed("count"):
                raise TooManyDestinations(
                    f"a tenant has at most {limit} event destinations; delete one first"
                ) from None
            raise

    def settle_active(self, tenant_id: str, destination_id: str, now_iso: str) -> bool:
        """`creating` -> `active`, no longer unsettled. False when it was not `creating`
        (the sweeper took it away meanwhile)."""
        tx = transaction("event destination active")
        tx.update(
            EventDestinationItem(pk=destinations_pk(tenant_id), sk=destination_id),
            [
                EventDestinationItem.status.set("active"),
                EventDestinationItem.updated_at.set(now_iso),
            ],
            EventDestinationItem.status == "creating",
            label="destination",
        )
        tx.delete(UnsettledDestinationItem(pk=UNSETTLED_PK, sk=f"{tenant_id}#{destination_id}"))
        try:
            tx.commit()
        except ConditionFailed:
            return False
        return True

    def begin_delete(self, tenant_id: str, destination_id: str, now_iso: str, now_ms: int) -> bool:
        """Any status -> `deleting`, marked unsettled. False when it does not exist."""
        tx = transaction("delete event destination")
        tx.update(
            EventDestinationItem(pk=destinations_pk(tenant_id), sk=destination_id),
            [
                EventDestinationItem.status.set("deleting"),
                EventDestinationItem.updated_at.set(now_iso),
            ],
            EventDestinationItem.sk.exists(),
            label="destination",
        )
        tx.put(self._unsettled(tenant_id, destination_id, now_ms))
        try:
            tx.commit()
        except ConditionFailed:
            return False
        return True

    def forget(self, tenant_id: str, destination_id: str) -> None:
        """The record, its unsettled mark and its place in the count go, together; again:
        nothing happens."""
        pk = destinations_pk(tenant_id)
        tx = transaction("forget event destination")
        tx.delete(
            EventDestinationItem(pk=pk, sk=destination_id),
            EventDestinationItem.sk.exists(),
            label="destination",
        )
        tx.delete(UnsettledDestinationItem(pk=UNSETTLED_PK, sk=f"{tenant_id}#{destination_id}"))
        tx.update(
            CountItem(pk=pk, sk=COUNT_SK),
            [CountItem.value.add(-1)],
            CountItem.value > 0,
            label="count",
        )
        try:
            tx.commit()
        except ConditionFailed:
            # Gone already (a second sweeper, a repeated DELETE): its mark may remain.
            UnsettledDestinationItem(pk=UNSETTLED_PK, sk=f"{tenant_id}#{destination_id}").delete()

    def get(self, tenant_id: str, destination_id: str) -> Destination | None:
        try:
            item = EventDestinationItem.get(
                destinations_pk(tenant_id), destination_id, consistent_read=True
            )
        except DoesNotExist:
            return None
        return _destination(tenant_id, item)

    def of_tenant(self, tenant_id: str) -> list[Destination]:
        """Every destination of the tenant (at most the limit), oldest first."""
        items = EventDestinationItem.query(
            destinations_pk(tenant_id),
            EventDestinationItem.sk.startswith("dest_"),
            consistent_read=True,
        )
        found = [_destination(tenant_id, item) for item in items]
        return sorted(found, key=lambda d: (d.created_at, d.destination_id))

    def unsettled(self, since_before_ms: int) -> list[Unsettled]:
        """Destinations being created or deleted since before the instant."""
        found = []
        for item in UnsettledDestinationItem.query(UNSETTLED_PK, consistent_read=True):
            if int(item.since_ms) < since_before_ms:
                tenant_id, _, destination_id = item.sk.rpartition("#")
                found.append(Unsettled(tenant_id, destination_id, int(item.since_ms)))
        return found

    @staticmethod
    def _unsettled(tenant_id: str, destination_id: str, now_ms: int) -> UnsettledDestinationItem:
        return UnsettledDestinationItem(
            pk=UNSETTLED_PK, sk=f"{tenant_id}#{destination_id}", since_ms=now_ms
        )


class TenantCampaigns:
    """Whether a campaign of the tenant exists (a destination's `batch_ids`)."""

    def exists(self, tenant_id: str, campaign_id: str) -> bool:
        try:
            CampaignRecord.get(tenant_id, campaign_id, attributes_to_get=["campaign_id"])
        except DoesNotExist:
            return False
        return True


def resolve_host(host: str) -> list[str]:
    """The addresses a name resolves to now; none when it does not resolve (yet)."""
    try:
        found = socket.getaddrinfo(host, 443, proto=socket.IPPROTO_TCP)
    except (OSError, UnicodeError):
        return []
    return sorted({str(info[4][0]) for info in found})


# ---------------------------------------------------------------------- EventBridge
class QuotaReached(Conflict):
    """The account's EventBridge quota (rules per bus, connections, API destinations)."""


def _code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


def _gone(error: ClientError) -> bool:
    return _code(error) == "ResourceNotFoundException"


@dataclass(frozen=True)
class TargetSetting:
    """What every destination's target shares (template.yaml)."""

    bus_name: str
    role_arn: str  # the role EventBridge assumes to invoke API destinations
    dead_letter_arn: str
    rate_per_second: int


class EventBridgeDestinations:
    """The EventBridge resources of a destination, all named `name`."""

    def __init__(self, setting: TargetSetting, client: Any | None = None) -> None:
        self.setting = setting
        self._client = client

    @cached_property
    def client(self) -> Any:
        return self._client or boto3.client("events")

    def _refused(self, error: ClientError, what: str) -> Exception:
        code = _code(error)
        if code == "LimitExceededException":
            return QuotaReached(
                f"the deployment's EventBridge quota of {what} is reached; "
                "ask the operator (docs/events.md, Quotas)"
            )
        if code in ("ValidationException", "InvalidEventPatternException"):
            message = str(error.response.get("Error", {}).get("Message", "refused"))
            return ValidationFailed(
                "EventBridge refused the destination", [ErrorDetail("url", message)]
            )
        return error

    def ensure_connection(self, name: str, header: str, value: str) -> str:
        try:
            answer = self.client.create_connection(
                Name=name,
                AuthorizationType="API_KEY",
                AuthParameters={
                    "ApiKeyAuthParameters": {"ApiKeyName": header, "ApiKeyValue": value}
                },
            )
        except ClientError as error:
            if _code(error) != "ResourceAlreadyExistsException":
                raise self._refused(error, "connections") from error
            return str(self.client.describe_connection(Name=name)["ConnectionArn"])
        return str(answer["ConnectionArn"])

    def ensure_api_destination(self, name: str, connection_arn: str, url: str) -> str:
        try:
            answer = self.client.create_api_destination(
                Name=name,
                ConnectionArn=connection_arn,
                InvocationEndpoint=url,
                HttpMethod="POST",
                InvocationRateLimitPerSecond=self.setting.rate_per_second,
            )
        except ClientError as error:
            if _code(error) != "ResourceAlreadyExistsException":
                raise self._refused(error, "API destinations") from error
            return str(self.client.describe_api_destination(Name=name)["ApiDestinationArn"])
        return str(answer["ApiDestinationArn"])

    def ensure_rule(self, name: str, pattern: dict[str, Any], description: str) -> None:
        """PutRule creates or overwrites: repeating it is harmless."""
        try:
            self.client.put_rule(
                Name=name,
                EventBusName=self.setting.bus_name,
                EventPattern=json.dumps(pattern),
                State="ENABLED",
                Description=description[:512],
            )
        except ClientError as error:
            raise self._refused(error, "rules on the bus") from error

    def ensure_target(self, name: str, api_destination_arn: str) -> None:
        """PutTargets of the same target id overwrites it: repeating it is harmless."""
        answer = self.client.put_targets(
            Rule=name,
            EventBusName=self.setting.bus_name,
            Targets=[
                {
                    "Id": TARGET_ID,
                    "Arn": api_destination_arn,
                    "RoleArn": self.setting.role_arn,
                    "InputPath": "$.detail",
                    "RetryPolicy": dict(RETRY_POLICY),
                    "DeadLetterConfig": {"Arn": self.setting.dead_letter_arn},
                }
            ],
        )
        if answer.get("FailedEntryCount"):
            entry = answer["FailedEntries"][0]
            raise RuntimeError(f"PutTargets refused: {entry.get('ErrorCode')}")

    def remove(self, name: str) -> None:
        """Target, rule, API destination, connection, in that order; each already gone is
        skipped, so a removal cut short is finished by doing it again."""
        bus = self.setting.bus_name
        try:
            self.client.remove_targets(Rule=name, EventBusName=bus, Ids=[TARGET_ID])
        except ClientError as error:
            if not _gone(error):
                raise
        try:
            self.client.delete_rule(Name=name, EventBusName=bus)
        except ClientError as error:
            if not _gone(error):
                raise
        try:
            self.client.delete_api_destination(Name=name)
        except ClientError as error:
            if not _gone(error):
                raise
        try:
            self.client.delete_connection(Name=name)
        except ClientError as error:
            if not _gone(error):
                raise
