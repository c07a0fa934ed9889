"""The few places where the in-process moto server hands work to the local runtime.

moto runs in this process (see `moto_server`), so the runtime can listen where moto
itself cannot act, instead of guessing from the outside:

- SQS `send_message` (every sender: boto3 on any session, S3 notifications, rule
  targets): for a queue the runtime polls, the message goes in with no delay and the
  runtime learns its intended delay, so delays follow the injected clock.
- EventBridge `Rule.send_to_targets`: moto matches the pattern and builds the event,
  but sends API destinations no body and cannot run a Lambda target (it raises); those
  targets go to the runtime, the others stay with moto.
- S3 notifications to a Lambda function (moto would try Docker) go to the runtime.
- DynamoDB `transact_write_items`: moto backs up every table a transaction touches,
  whole (a deep copy per transaction: with a few thousand contacts a call's three
  transactions cost seconds). Here only the items it touches are backed up and put back
  if it is cancelled: the same all-or-nothing outcome.
- DynamoDB `TransactWriteItems` with a `ClientRequestToken`: moto ignores the token;
  DynamoDB answers a repeated token (within ten minutes, after a commit) with success and
  changes nothing, which is what makes retrying a transaction whose answer was lost safe.
  The hook does the same.
- DynamoDB `Query`: moto sorts every item of the table on every query; a query of the
  table or of a local secondary index (same partition key) only looks at its partition,
  sorted by plain values. The same items in the same order, so this one is on whether or
  not a runtime listens (the in-process benchmarks use it).
- DynamoDB streams: moto appends a stream record for each write and invokes every event
  source mapping of the table at once (through Docker). Here the record is appended and
  the runtime told (`streams.py` delivers it on the injected clock); a cancelled
  transaction leaves no record, and an UpdateItem that creates an item leaves one INSERT
  (moto would add a second one, with the key alone).
- Stale reads (a fault, `faults.py`): while one is on, each write notes the item's image
  before it (`write_log`), and a read the fault chose sees those older images.

And CloudFormation gaps, so `template.yaml` deploys as written:
- `AWS::Events::Connection` and `AWS::Events::ApiDestination` (moto's API has them,
  its CloudFormation does not); `Ref` of an `AWS::Events::EventBus` gives its name;
  an `AWS::S3::Bucket`'s `NotificationConfiguration` is applied.
- `AWS::ApiGatewayV2::*` and `AWS::CloudWatch::Alarm` become inert placeholders: the
  runtime serves the HTTP API itself (from the SAM events) and alarms mean nothing here.

Every behavioural hook is inert while no listener is set, so other tests in the same
process that use moto (`mock_aws`) see moto unchanged. The hooks are written against
moto 5.2 (pinned); `tests/local` fails loudly if an upgrade moves them.
"""

from __future__ import annotations

import copy
import string
import threading
import time
from decimal import Decimal
from typing import Any, Protocol

from moto.cloudformation import parsing
from moto.core.common_models import CloudFormationModel
from moto.dynamodb import models as dynamodb_models
from moto.dynamodb import responses as dynamodb_responses
from moto.dynamodb.models.dynamo_type import DynamoType, Item
from moto.dynamodb.models.table import StreamRecord, StreamShard, Table
from moto.events import models as events_models
from moto.moto_api._internal import mock_random as random
from moto.s3 import models as s3_models
from moto.s3 import notifications as s3_notifications
from moto.sqs import models as sqs_models

from local_stack.write_log import Image, canonical_key


class Listener(Protocol):
    """What the local runtime offers moto (called on moto's request threads)."""

    send_lock: threading.Lock

    def owns_queue(self, queue_name: str) -> bool: ...

    def message_sent(self, queue_name: str, message_id: str, delay_seconds: int) -> None: ...

    def rule_matched(
        self, rule: Any, targets: list[dict[str, Any]], event: dict[str, Any]
    ) -> None: ...

    def lambda_notified(self, function_arn: str, event: dict[str, Any]) -> None: ...

    def stream_record_added(self, table_name: str, record: Any) -> None: ...

    def recording_writes(self) -> bool: ...

    def item_written(
        self, table_name: str, key: dict[str, Any], before: dict[str, Any] | None
    ) -> None: ...

    def stale_images(self, table_name: str) -> dict[str, Image] | None: ...


_listener: Listener | None = None
_models: list[type[CloudFormationModel]] = []
_installed = False
_install_lock = threading.Lock()


def set_listener(listener: Listener | None) -> None:
    global _listener
    _listener = listener


def runtime_target(arn: str) -> bool:
    """Targets moto cannot deliver, which the runtime takes over."""
    return arn.startswith("arn:aws:lambda:") or ":api-destination/" in arn


# ----------------------------------------------------------------------- CloudFormation
class _Placeholder(CloudFormationModel):
    """A resource created by a shim below: a physical id and its attributes."""

    def __init__(self, physical_resource_id: str, attributes: dict[str, Any]) -> None:
        self.physical_resource_id = physical_resource_id
        self._attributes = attributes

    @staticmethod
    def cloudformation_name_type() -> str:
        return ""

    @staticmethod
    def cloudformation_type() -> str:
        return "Local::Stack::Placeholder"

    @classmethod
    def has_cfn_attr(cls, attr: str) -> bool:
        return True

    def get_cfn_attribute(self, attribute_name: str) -> Any:
        return self._attributes.get(attribute_name, self.physical_resource_id)

    def is_created(self) -> bool:
        return True

    @classmethod
    def create_from_cloudformation_json(cls, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        raise NotImplementedError("made by the shims below")

    @classmethod
    def update_from_cloudformation_json(cls, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        raise NotImplementedError("local resources are not updated")

    @classmethod
    def delete_from_cloudformation_json(cls, *args: Any, **kwargs: Any) -> None:  # type: ignore[override]
        return None


class _EventsConnection(CloudFormationModel):
    @staticmethod
    def cloudformation_name_type() -> str:
        return "Name"

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::Events::Connection"

    @classmethod
    def has_cfn_attr(cls, attr: str) -> bool:
        return attr in ("Arn", "SecretArn")

    @classmethod
    def create_from_cloudformation_json(  # type: ignore[misc]
        cls,
        resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
        **kwargs: Any,
    ) -> _Placeholder:
        properties = cloudformation_json["Properties"]
        backend = events_models.events_backends[account_id][region_name]
        connection = backend.create_connection(
            resource_name,
            properties.get("Description", ""),
            properties["AuthorizationType"],
            properties.get("AuthParameters", {}),
        )
        return _Placeholder(
            connection.name, {"Arn": connection.arn, "SecretArn": connection.secret_arn}
        )


class _EventsApiDestination(CloudFormationModel):
    @staticmethod
    def cloudformation_name_type() -> str:
        return "Name"

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::Events::ApiDestination"

    @classmethod
    def has_cfn_attr(cls, attr: str) -> bool:
        return attr == "Arn"

    @classmethod
    def create_from_cloudformation_json(  # type: ignore[misc]
        cls,
        resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
        **kwargs: Any,
    ) -> _Placeholder:
        properties = cloudformation_json["Properties"]
        backend = events_models.events_backends[account_id][region_name]
        described = backend.create_api_destination(
            resource_name,
            properties.get("Description", ""),
            properties["ConnectionArn"],
            properties["InvocationEndpoint"],
            properties.get("InvocationRateLimitPerSecond"),
            properties["HttpMethod"],
        )
        return _Placeholder(resource_name, {"Arn": described["ApiDestinationArn"]})


def _api_id() -> str:
    return "".join(random.choice(string.ascii_lowercase + string.digits) for _ in range(10))


def _placeholder_model(resource_type: str) -> type[CloudFormationModel]:
    """An inert model for a type that has no meaning in moto (see the module doc)."""

    def create(
        cls: type,
        resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
        **kwargs: Any,
    ) -> _Placeholder:
        properties = cloudformation_json.get("Properties", {})
        if resource_type == "AWS::ApiGatewayV2::Api":
            api_id = _api_id()
            endpoint = f"https://{api_id}.execute-api.{region_name}.amazonaws.com"
            return _Placeholder(api_id, {"ApiId": api_id, "ApiEndpoint": endpoint})
        if resource_type == "AWS::ApiGatewayV2::Stage":
            return _Placeholder(str(properties.get("StageName", "$default")), {})
        return _Placeholder(f"{resource_name}-{_api_id()}", {})

    return type(
        "_Inert" + resource_type.replace("::", ""),
        (CloudFormationModel,),
        {
            "__module__": __name__,
            "cloudformation_name_type": staticmethod(lambda: ""),
            "cloudformation_type": staticmethod(lambda: resource_type),
            "has_cfn_attr": classmethod(lambda cls, attr: True),
            "create_from_cloudformation_json": classmethod(create),
        },
    )


INERT_TYPES = (
    "AWS::ApiGatewayV2::Api",
    "AWS::ApiGatewayV2::Stage",
    "AWS::ApiGatewayV2::Route",
    "AWS::ApiGatewayV2::Integration",
    "AWS::ApiGatewayV2::Deployment",
    "AWS::ApiGatewayV2::Authorizer",
    "AWS::ApiGatewayV2::ApiMapping",
    "AWS::ApiGatewayV2::DomainName",
    "AWS::CloudWatch::Alarm",
)


def _bucket_notifications(properties: dict[str, Any]) -> dict[str, Any]:
    """CloudFormation's NotificationConfiguration in the shape moto's bucket keeps."""

    def entries(kind: str, arn_key: str, moto_key: str) -> list[dict[str, Any]]:
        result = []
        for item in properties.get(kind, []):
            entry: dict[str, Any] = {moto_key: item[arn_key], "Event": [item["Event"]]}
            rules = item.get("Filter", {}).get("S3Key", {}).get("Rules", [])
            if rules:
                entry["Filter"] = {
                    "S3Key": {
                        "FilterRule": [{"Name": r["Name"], "Value": r["Value"]} for r in rules]
                    }
                }
            result.append(entry)
        return result

    config: dict[str, Any] = {
        "QueueConfiguration": entries("QueueConfigurations", "Queue", "Queue"),
        "CloudFunctionConfiguration": entries("LambdaConfigurations", "Function", "CloudFunction"),
        "TopicConfiguration": entries("TopicConfigurations", "Topic", "Topic"),
    }
    if properties.get("EventBridgeConfiguration", {}).get("EventBridgeEnabled"):
        config["EventBridgeConfiguration"] = {}
    return {k: v for k, v in config.items() if v or k == "EventBridgeConfiguration"}


# ----------------------------------------------------------------------- behaviour
def _install_sqs_hook() -> None:
    original = sqs_models.SQSBackend.send_message

    def send_message(
        self: Any,
        queue_name: str,
        message_body: str,
        message_attributes: dict[str, Any] | None = None,
        delay_seconds: int | None = None,
        *args: Any,
        **kwargs: Any,
    ) -> Any:
        listener = _listener
        if listener is None or not listener.owns_queue(queue_name):
            return original(
                self, queue_name, message_body, message_attributes, delay_seconds, *args, **kwargs
            )
        queue = self.get_queue(queue_name)
        default = int(getattr(queue, "delay_seconds", 0) or 0)
        intended = int(delay_seconds) if delay_seconds is not None else default
        if queue.fifo_queue or not 0 <= intended <= 900:
            # FIFO queues refuse per-message delays; out-of-range delays fail in moto.
            return original(
                self, queue_name, message_body, message_attributes, delay_seconds, *args, **kwargs
            )
        with listener.send_lock:
            message = original(
                self, queue_name, message_body, message_attributes, 0, *args, **kwargs
            )
            listener.message_sent(queue_name, message.id, intended)
        return message

    sqs_models.SQSBackend.send_message = send_message  # type: ignore[method-assign]


def _install_events_hook() -> None:
    original = events_models.Rule.send_to_targets

    def send_to_targets(self: Any, original_event: Any, transform_input: bool = True) -> None:
        listener = _listener
        if listener is None:
            return original(self, original_event, transform_input)
        if self.state != "ENABLED" or not self.event_pattern.matches_event(original_event):
            return None
        ours = [dict(t) for t in self.targets if runtime_target(t["Arn"])]
        theirs = [t for t in self.targets if not runtime_target(t["Arn"])]
        if ours:
            listener.rule_matched(self, ours, copy.deepcopy(dict(original_event)))
        if theirs:
            rest = copy.copy(self)
            rest.targets = theirs
            original(rest, original_event, transform_input)
        return None

    events_models.Rule.send_to_targets = send_to_targets  # type: ignore[method-assign]


def _install_s3_hooks() -> None:
    original_invoke = s3_notifications._invoke_awslambda

    def invoke_awslambda(account_id: str, event_body: Any, fn_arn: str, region_name: str) -> None:
        listener = _listener
        if listener is None:
            return original_invoke(account_id, event_body, fn_arn, region_name)
        listener.lambda_notified(fn_arn, copy.deepcopy(event_body))
        return None

    s3_notifications._invoke_awslambda = invoke_awslambda

    bucket_class: Any = s3_models.FakeBucket
    original_create = bucket_class.create_from_cloudformation_json.__func__

    def create_bucket(
        cls: Any, resource_name: str, cloudformation_json: Any, *args: Any, **kw: Any
    ):
        bucket = original_create(cls, resource_name, cloudformation_json, *args, **kw)
        notifications = cloudformation_json.get("Properties", {}).get("NotificationConfiguration")
        if _listener is not None and notifications:
            bucket.set_notification_configuration(_bucket_notifications(notifications))
        return bucket

    bucket_class.create_from_cloudformation_json = classmethod(create_bucket)


class _TablesNotCopied:
    """Stands for `copy` in moto's DynamoDB backend: inside the transaction hook below
    (which backs up the items a transaction names), its whole-table backup is the table
    itself."""

    @staticmethod
    def deepcopy(value: Any, memo: dict[int, Any] | None = None) -> Any:
        if getattr(_state, "in_transaction", False) and isinstance(value, Table):
            return value
        return copy.deepcopy(value, memo)


def _typed_key(table: Any, key: dict[str, Any]) -> tuple[Any, Any]:
    """A DynamoDB JSON key as moto's (hash, range) values (range None without a sort key)."""
    hash_value = DynamoType(key[table.hash_key_attr])
    range_value = DynamoType(key[table.range_key_attr]) if table.range_key_attr else None
    return hash_value, range_value


def _transaction_keys(backend: Any, transact_items: list[dict[str, Any]]) -> list[tuple[Any, Any]]:
    """(table, key) of every item a transaction names, key as DynamoDB JSON."""
    found = []
    for entry in transact_items:
        for op_type, op in entry.items():
            table = backend.tables.get(op.get("TableName"))
            if table is None:
                continue
            source = op.get("Item", {}) if op_type == "Put" else op.get("Key", {})
            names = [n for n in (table.hash_key_attr, table.range_key_attr) if n is not None]
            if all(name in source for name in names):
                found.append((table, {name: source[name] for name in names}))
    return found


def _put_back(table: Any, key: dict[str, Any], item: Any) -> None:
    hash_value, range_value = _typed_key(table, key)
    if range_value is None:
        if item is None:
            table.items.pop(hash_value, None)
        else:
            table.items[hash_value] = item
    elif item is None:
        table.items.get(hash_value, {}).pop(range_value, None)
    else:
        table.items[hash_value][range_value] = item


_query_partition = threading.local()


def _range_order(value: Any) -> Any:
    """A sort key giving a partition's items in DynamoDB's range-key order: numbers by
    value, strings by their code points (as moto's own comparison, without casting a
    `DynamoType` per comparison); binary values keep moto's comparison."""
    if value.type == "N":
        return Decimal(value.value)
    if value.type == "S":
        return value.value
    return value


def _install_dynamodb_query_hook() -> None:
    table_class: Any = Table
    original_query = table_class.query
    original_all_items = table_class.all_items

    def all_items(self: Any) -> list[Any]:
        only = getattr(_query_partition, "only", None)
        if only is None or only[0] is not self:
            return original_all_items(self)
        found = self.items.get(only[1])
        if found is None:
            return []
        if not self.range_key_attr:
            return [found]
        return sorted(found.values(), key=lambda x: _range_order(x.range_key))

    def query(self: Any, hash_key: Any, *args: Any, **kwargs: Any) -> Any:
        # Not behavioural (the same items in the same order, found faster), so it is on
        # whether or not a runtime listens: the in-process benchmarks use it too.
        index_name = kwargs.get("index_name", args[6] if len(args) > 6 else None)
        local_indexes = {index.name for index in self.indexes or []}
        if hash_key is None or (index_name and index_name not in local_indexes):
            return original_query(self, hash_key, *args, **kwargs)
        _query_partition.only = (self, hash_key)
        try:
            return original_query(self, hash_key, *args, **kwargs)
        finally:
            _query_partition.only = None

    table_class.all_items = all_items
    table_class.query = query


_transaction_lock = threading.RLock()


def _install_dynamodb_transaction_hook() -> None:
    backend_class: Any = dynamodb_models.DynamoDBBackend
    original = backend_class.transact_write_items

    def transact_write_items(self: Any, transact_items: list[dict[str, Any]]) -> None:
        # Always on, listener or not (the outcome is moto's own): moto's transactions are
        # not safe across threads (its whole-table backup iterates tables other threads
        # write), and the code under test runs transactions from worker threads.
        with _transaction_lock:
            backup = []
            for table, key in _transaction_keys(self, transact_items):
                current = _original_get_item(table, *_typed_key(table, key))
                backup.append((table, key, copy.deepcopy(current)))
            _state.stream_buffer = [] if _listener is not None else None
            _state.in_transaction = True
            try:
                result = original(self, transact_items)
            except Exception:
                for table, key, item in reversed(backup):
                    _put_back(table, key, item)
                raise
            else:
                for shard, record in _state.stream_buffer or []:
                    _append_stream_record(shard, record)
                return result
            finally:
                _state.stream_buffer = None
                _state.in_transaction = False

    dynamodb_models.copy = _TablesNotCopied  # type: ignore[assignment]
    backend_class.transact_write_items = transact_write_items


_TOKEN_SECONDS = 600  # DynamoDB keeps a client request token ten minutes
_committed_tokens: dict[str, tuple[float, Any]] = {}
_token_lock = threading.Lock()


def _install_client_request_token_hook() -> None:
    handler_class: Any = dynamodb_responses.DynamoHandler
    original = handler_class.transact_write_items

    def transact_write_items(self: Any) -> Any:
        token = self.body.get("ClientRequestToken")
        if token:
            with _token_lock:
                now = time.monotonic()
                for old in [
                    t for t, (at, _) in _committed_tokens.items() if now - at > _TOKEN_SECONDS
                ]:
                    del _committed_tokens[old]
                seen = _committed_tokens.get(token)
            if seen is not None:
                return seen[1]  # committed before: success, nothing changed
        result = original(self)
        if token:
            with _token_lock:
                _committed_tokens[token] = (time.monotonic(), result)
        return result

    handler_class.transact_write_items = transact_write_items


# ----------------------------------------------------------------------- streams, writes
_state = threading.local()  # stream_buffer (a transaction), updating, suppress_stream
_stream_lock = threading.Lock()
_original_get_item: Any = Table.get_item


def _key_json(table: Any, hash_value: Any, range_value: Any) -> dict[str, Any]:
    key = {table.hash_key_attr: hash_value.to_json()}
    if table.range_key_attr is not None and range_value is not None:
        key[table.range_key_attr] = range_value.to_json()
    return key


def _attributes(item: Any) -> dict[str, Any] | None:
    return copy.deepcopy(item.to_json()["Attributes"]) if item is not None else None


def _append_stream_record(shard: Any, record: Any) -> None:
    listener = _listener
    with _stream_lock:
        sequence = len(shard.items) + shard.starting_sequence_number
        record.record["dynamodb"]["SequenceNumber"] = str(sequence)
        shard.items.append(record)
    if listener is not None:
        listener.stream_record_added(shard.table.name, record)


def _install_stream_hook() -> None:
    shard_class: Any = StreamShard
    original_add = shard_class.add

    def add(self: Any, old: Any, new: Any) -> None:
        if _listener is None:
            return original_add(self, old, new)
        if getattr(_state, "suppress_stream", False):
            return None  # the key-only put inside an UpdateItem that creates the item
        event_name = "INSERT" if old is None else ("REMOVE" if new is None else "MODIFY")
        view = self.table.stream_specification["StreamViewType"]
        record = StreamRecord(self.table, view, event_name, old, new, 0)
        buffer = getattr(_state, "stream_buffer", None)
        if buffer is not None:
            buffer.append((self, record))  # appended if the transaction commits
        else:
            _append_stream_record(self, record)
        return None

    shard_class.add = add


def _install_write_hooks() -> None:
    """Note each item's image before a write, while the runtime asks for it (stale reads)."""
    table_class: Any = Table
    backend_class: Any = dynamodb_models.DynamoDBBackend
    original_put = table_class.put_item
    original_delete = table_class.delete_item
    original_update = backend_class.update_item

    def put_item(self: Any, item_attrs: dict[str, Any], *args: Any, **kwargs: Any) -> Any:
        listener = _listener
        if listener is None:
            return original_put(self, item_attrs, *args, **kwargs)
        if getattr(_state, "updating", False):
            _state.suppress_stream = True
            try:
                return original_put(self, item_attrs, *args, **kwargs)
            finally:
                _state.suppress_stream = False
        names = [n for n in (self.hash_key_attr, self.range_key_attr) if n is not None]
        if not listener.recording_writes() or not all(n in item_attrs for n in names):
            return original_put(self, item_attrs, *args, **kwargs)
        key = {name: item_attrs[name] for name in names}
        before = _attributes(_original_get_item(self, *_typed_key(self, key)))
        result = original_put(self, item_attrs, *args, **kwargs)
        listener.item_written(self.name, _key_json(self, *_typed_key(self, key)), before)
        return result

    def delete_item(self: Any, hash_key: Any, range_key: Any) -> Any:
        removed = original_delete(self, hash_key, range_key)
        listener = _listener
        if removed is not None and listener is not None and listener.recording_writes():
            listener.item_written(
                self.name, _key_json(self, hash_key, range_key), _attributes(removed)
            )
        return removed

    def update_item(self: Any, table_name: str, key: dict[str, Any], *args: Any, **kw: Any):
        listener = _listener
        if listener is None:
            return original_update(self, table_name, key, *args, **kw)
        recorded = None
        if listener.recording_writes():
            table = self.get_table(table_name)
            hash_value, range_value = self.get_keys_value(table, key)
            before = _attributes(_original_get_item(table, hash_value, range_value))
            recorded = (table, _key_json(table, hash_value, range_value), before)
        _state.updating = True
        try:
            result = original_update(self, table_name, key, *args, **kw)
        finally:
            _state.updating = False
        if recorded is not None:
            listener.item_written(recorded[0].name, recorded[1], recorded[2])
        return result

    table_class.put_item = put_item
    table_class.delete_item = delete_item
    backend_class.update_item = update_item


def _stale(table: Any, items: list[Any], images: dict[str, Image], partition: Any) -> list[Any]:
    """The items as a stale read sees them (within one partition if given)."""
    by_key = {canonical_key(_key_json(table, i.hash_key, i.range_key)): i for i in items}
    for text, image in images.items():
        hash_value, range_value = _typed_key(table, image.key)
        if partition is not None and hash_value != partition:
            continue
        if image.attributes is None:
            by_key.pop(text, None)
        else:
            by_key[text] = Item(hash_value, range_value, image.attributes)
    return sorted(
        by_key.values(), key=lambda x: (x.hash_key, x.range_key) if x.range_key else x.hash_key
    )


def _install_stale_read_hooks() -> None:
    table_class: Any = Table
    partition_items = table_class.all_items  # the query hook's, installed before
    original_index_items = table_class.has_idx_items

    def images_of(table: Any) -> dict[str, Image] | None:
        listener = _listener
        return listener.stale_images(table.name) if listener is not None else None

    def get_item(
        self: Any, hash_key: Any, range_key: Any = None, projection_expression: Any = None
    ) -> Any:
        images = images_of(self)
        if images and not (self.has_range_key and not range_key):
            image = images.get(canonical_key(_key_json(self, hash_key, range_key)))
            if image is not None:
                if image.attributes is None:
                    return None
                item = Item(hash_key, range_key, image.attributes)
                return item.project(projection_expression) if projection_expression else item
        return _original_get_item(self, hash_key, range_key, projection_expression)

    def all_items(self: Any) -> list[Any]:
        items = partition_items(self)
        images = images_of(self)
        if not images:
            return items  # type: ignore[no-any-return]
        only = getattr(_query_partition, "only", None)
        partition = only[1] if only is not None and only[0] is self else None
        return _stale(self, items, images, partition)

    def has_idx_items(self: Any, index_name: str) -> list[Any]:
        images = images_of(self)
        if not images:
            return original_index_items(self, index_name)  # type: ignore[no-any-return]
        columns = {i["AttributeName"] for i in self.get_index(index_name).schema}
        everything: list[Any] = []
        for hash_set in self.items.values():
            everything.extend(hash_set.values() if self.range_key_attr else [hash_set])
        return [i for i in _stale(self, everything, images, None) if columns <= set(i.attrs)]

    table_class.get_item = get_item
    table_class.all_items = all_items
    table_class.has_idx_items = has_idx_items


def _event_bus_physical_id(self: Any) -> str:
    if _listener is None:
        raise AttributeError("physical_resource_id")  # moto's own behaviour
    return self.name


def install() -> None:
    """Install every hook once per process (idempotent)."""
    global _installed
    with _install_lock:
        if _installed:
            return
        # moto finds models through __subclasses__ (weak references): keep them alive.
        _models.extend(_placeholder_model(t) for t in INERT_TYPES)
        _install_sqs_hook()
        _install_events_hook()
        _install_s3_hooks()
        _install_dynamodb_transaction_hook()
        _install_client_request_token_hook()
        _install_dynamodb_query_hook()
        _install_stream_hook()
        _install_write_hooks()
        _install_stale_read_hooks()
        events_models.EventBus.physical_resource_id = property(_event_bus_physical_id)  # type: ignore[attr-defined]
        for cached in (parsing.get_model_list, parsing.get_model_map, parsing.get_name_type_map):
            cached.cache_clear()
        _installed = True
