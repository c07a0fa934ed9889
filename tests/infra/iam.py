"""IAM as the least-privilege tests read it: what a function's role grants, and what an
AWS request needs.

`grants(...)` reads a function's role from a translated template, resolved (see
`cloudformation.Resolver`): one `Grant` per (statement, action, resource). `needs(...)`
turns one request a function made (botocore's service, operation and parameters) into
the IAM action(s) and resource ARN(s) AWS authorises it against. A request with no rule
in REQUEST_RULES fails loudly: whoever adds a new kind of request adds its rule here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Any

from tests.infra.cloudformation import Account, Resolver


@dataclass(frozen=True)
class Grant:
    """One action on one resource (pattern) that a statement of a role allows."""

    policy: str
    sid: str | None
    action: str
    resource: str

    def allows(self, need: Need) -> bool:
        return fnmatchcase(need.action.lower(), self.action.lower()) and fnmatchcase(
            need.resource, self.resource
        )

    def __str__(self) -> str:
        where = f"{self.policy}/{self.sid}" if self.sid else self.policy
        return f"{self.action} on {self.resource} ({where})"


@dataclass(frozen=True)
class Need:
    """One action on one resource that AWS checks for a request."""

    action: str
    resource: str

    def __str__(self) -> str:
        return f"{self.action} on {self.resource}"


class UnsupportedPolicy(ValueError):
    """A policy this reader cannot judge (Deny, NotAction, NotResource, Condition)."""


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def role_of(template: dict[str, Any], function: str) -> str:
    """The logical id of the role a function runs with (SAM makes `<Function>Role`)."""
    role = template["Resources"][function]["Properties"]["Role"]
    target = role.get("Fn::GetAtt") if isinstance(role, dict) else None
    if isinstance(target, str):
        target = target.split(".", 1)
    if not target or target[1] != "Arn":
        raise UnsupportedPolicy(f"{function}'s Role is not !GetAtt <Role>.Arn: {role!r}")
    return str(target[0])


def is_destination_policy(function: str, policy_name: str) -> bool:
    """SAM's policy for an event source's OnFailure destination (`<Function><Event>SQSPolicy`
    or `...SNSPolicy`): the Lambda service sends there, not the function's code."""
    return (
        policy_name.startswith(function)
        and policy_name.endswith(("SQSPolicy", "SNSPolicy"))
        and not policy_name.startswith(f"{function}RolePolicy")
    )


def grants(resolver: Resolver, function: str, service: bool = False) -> list[Grant]:
    """Every (action, resource) the function's role allows through its inline policies:
    those the code uses, or (`service=True`) those SAM adds for the Lambda service to
    send a failed batch to an event source's OnFailure destination."""
    role = resolver.template["Resources"][role_of(resolver.template, function)]
    found = []
    for policy in resolver.resolve(role["Properties"].get("Policies", [])):
        if is_destination_policy(function, policy["PolicyName"]) != service:
            continue
        document = policy["PolicyDocument"]
        for statement in _as_list(document["Statement"]):
            unsupported = {"NotAction", "NotResource", "Condition", "NotPrincipal"} & set(statement)
            if statement.get("Effect") != "Allow" or unsupported:
                raise UnsupportedPolicy(
                    f"{function}: {policy['PolicyName']} has a statement this test cannot "
                    f"judge (only Allow with Action and Resource): {statement}"
                )
            for action in _as_list(statement["Action"]):
                for resource in _as_list(statement["Resource"]):
                    found.append(
                        Grant(policy["PolicyName"], statement.get("Sid"), action, resource)
                    )
    return found


def failure_destinations(resolver: Resolver, function: str) -> set[str]:
    """ARNs of the OnFailure destinations of the function's event source mappings."""
    found = set()
    for resource in resolver.resources().values():
        properties = resource["Properties"]
        if resource["Type"] != "AWS::Lambda::EventSourceMapping":
            continue
        if properties.get("FunctionName") != resolver.ref(function):
            continue
        destination = properties.get("DestinationConfig", {}).get("OnFailure", {})
        if destination.get("Destination"):
            found.add(str(destination["Destination"]))
    return found


def managed_policies(resolver: Resolver, function: str) -> list[str]:
    role = resolver.template["Resources"][role_of(resolver.template, function)]
    return list(resolver.resolve(role["Properties"].get("ManagedPolicyArns", [])))


# ---------------------------------------------------------------------- requests
Rule = Callable[[dict[str, Any], Account], list[Need]]


def _table(action: str) -> Rule:
    """An item or table request: the action on the table (a Query or Scan of an index: on
    the index)."""

    def rule(params: dict[str, Any], account: Account) -> list[Need]:
        table = params["TableName"]
        index = params.get("IndexName")
        arn = account.index_arn(table, index) if index else account.table_arn(table)
        return [Need(action, arn)]

    return rule


TRANSACT_WRITE_ACTIONS = {
    "Put": "dynamodb:PutItem",
    "Update": "dynamodb:UpdateItem",
    "Delete": "dynamodb:DeleteItem",
    "ConditionCheck": "dynamodb:ConditionCheckItem",
}


def _transact_write(params: dict[str, Any], account: Account) -> list[Need]:
    # No dynamodb:TransactWriteItems action exists: each item is authorised as its own
    # write on its own table.
    needs = []
    for item in params["TransactItems"]:
        ((kind, body),) = item.items()
        needs.append(Need(TRANSACT_WRITE_ACTIONS[kind], account.table_arn(body["TableName"])))
    return needs


def _transact_get(params: dict[str, Any], account: Account) -> list[Need]:
    return [
        Need("dynamodb:GetItem", account.table_arn(item["Get"]["TableName"]))
        for item in params["TransactItems"]
    ]


def _per_table(action: str) -> Rule:
    """BatchWriteItem / BatchGetItem: the batch action on each table named."""

    def rule(params: dict[str, Any], account: Account) -> list[Need]:
        return [Need(action, account.table_arn(table)) for table in params["RequestItems"]]

    return rule


def _queue_name(url_or_name: str) -> str:
    return url_or_name.rstrip("/").rsplit("/", 1)[-1]


def _queue(action: str) -> Rule:
    """SQS: batch requests are authorised by the single action (SendMessageBatch needs
    sqs:SendMessage), on the queue's ARN."""

    def rule(params: dict[str, Any], account: Account) -> list[Need]:
        return [Need(action, account.queue_arn(_queue_name(params["QueueUrl"])))]

    return rule


def _put_events(params: dict[str, Any], account: Account) -> list[Need]:
    needs = []
    for entry in params["Entries"]:
        bus = entry.get("EventBusName") or "default"
        arn = bus if bus.startswith("arn:") else account.bus_arn(bus)
        needs.append(Need("events:PutEvents", arn))
    return needs


def _named(action: str, kind: str, key: str = "Name") -> Rule:
    """An EventBridge connection or API destination, by name (IAM checks
    `<kind>/<name>`; a connection's real ARN adds `/<uuid>`, which grants ending in `*`
    cover)."""

    def rule(params: dict[str, Any], account: Account) -> list[Need]:
        return [Need(action, account.arn("events", f"{kind}/{params[key]}"))]

    return rule


def _rule_arn(params: dict[str, Any], account: Account, key: str) -> str:
    bus = params.get("EventBusName") or "default"
    bus = bus.rsplit("/", 1)[-1]
    where = params[key] if bus == "default" else f"{bus}/{params[key]}"
    return account.arn("events", f"rule/{where}")


def _event_rule(action: str, key: str = "Name") -> Rule:
    """A rule, on its bus (`rule/<bus>/<name>`; `rule/<name>` on the default bus)."""

    def rule(params: dict[str, Any], account: Account) -> list[Need]:
        return [Need(action, _rule_arn(params, account, key))]

    return rule


def _put_targets(params: dict[str, Any], account: Account) -> list[Need]:
    """PutTargets: on the rule, and iam:PassRole for each target's role."""
    needs = [Need("events:PutTargets", _rule_arn(params, account, "Rule"))]
    needs += [Need("iam:PassRole", t["RoleArn"]) for t in params["Targets"] if t.get("RoleArn")]
    return needs


def _parameter(action: str, key: str) -> Rule:
    def rule(params: dict[str, Any], account: Account) -> list[Need]:
        names = _as_list(params[key])
        # A SecureString with the default key (aws/ssm) needs no kms grant in the role;
        # the template's parameter description says a customer managed key is not used.
        return [Need(action, account.parameter_arn(name)) for name in names]

    return rule


def _object(action: str) -> Rule:
    """S3 object requests: the action on the object's ARN (multipart uploads are
    s3:PutObject; GetObject of a given version is s3:GetObjectVersion)."""

    def rule(params: dict[str, Any], account: Account) -> list[Need]:
        named = action
        if action == "s3:GetObject" and params.get("VersionId"):
            named = "s3:GetObjectVersion"
        return [Need(named, account.object_arn(params["Bucket"], params["Key"]))]

    return rule


def _objects(action: str) -> Rule:
    """DeleteObjects: the single action on each object named."""

    def rule(params: dict[str, Any], account: Account) -> list[Need]:
        return [
            Need(action, account.object_arn(params["Bucket"], entry["Key"]))
            for entry in params["Delete"]["Objects"]
        ]

    return rule


REQUEST_RULES: dict[tuple[str, str], Rule] = {
    ("dynamodb", "GetItem"): _table("dynamodb:GetItem"),
    ("dynamodb", "PutItem"): _table("dynamodb:PutItem"),
    ("dynamodb", "UpdateItem"): _table("dynamodb:UpdateItem"),
    ("dynamodb", "DeleteItem"): _table("dynamodb:DeleteItem"),
    ("dynamodb", "Query"): _table("dynamodb:Query"),
    ("dynamodb", "Scan"): _table("dynamodb:Scan"),
    ("dynamodb", "DescribeTable"): _table("dynamodb:DescribeTable"),
    ("dynamodb", "BatchWriteItem"): _per_table("dynamodb:BatchWriteItem"),
    ("dynamodb", "BatchGetItem"): _per_table("dynamodb:BatchGetItem"),
    ("dynamodb", "TransactWriteItems"): _transact_write,
    ("dynamodb", "TransactGetItems"): _transact_get,
    ("sqs", "SendMessage"): _queue("sqs:SendMessage"),
    ("sqs", "SendMessageBatch"): _queue("sqs:SendMessage"),
    ("sqs", "ReceiveMessage"): _queue("sqs:ReceiveMessage"),
    ("sqs", "GetQueueAttributes"): _queue("sqs:GetQueueAttributes"),
    ("sqs", "DeleteMessage"): _queue("sqs:DeleteMessage"),
    ("sqs", "DeleteMessageBatch"): _queue("sqs:DeleteMessage"),
    ("sqs", "ChangeMessageVisibility"): _queue("sqs:ChangeMessageVisibility"),
    ("sqs", "ChangeMessageVisibilityBatch"): _queue("sqs:ChangeMessageVisibility"),
    ("events", "PutEvents"): _put_events,
    ("events", "CreateConnection"): _named("events:CreateConnection", "connection"),
    ("events", "DescribeConnection"): _named("events:DescribeConnection", "connection"),
    ("events", "DeleteConnection"): _named("events:DeleteConnection", "connection"),
    ("events", "CreateApiDestination"): _named("events:CreateApiDestination", "api-destination"),
    ("events", "DescribeApiDestination"): _named(
        "events:DescribeApiDestination", "api-destination"
    ),
    ("events", "DeleteApiDestination"): _named("events:DeleteApiDestination", "api-destination"),
    ("events", "PutRule"): _event_rule("events:PutRule"),
    ("events", "DeleteRule"): _event_rule("events:DeleteRule"),
    ("events", "RemoveTargets"): _event_rule("events:RemoveTargets", "Rule"),
    ("events", "PutTargets"): _put_targets,
    ("s3", "GetObject"): _object("s3:GetObject"),
    ("s3", "PutObject"): _object("s3:PutObject"),
    ("s3", "CreateMultipartUpload"): _object("s3:PutObject"),
    ("s3", "UploadPart"): _object("s3:PutObject"),
    ("s3", "CompleteMultipartUpload"): _object("s3:PutObject"),
    ("s3", "AbortMultipartUpload"): _object("s3:AbortMultipartUpload"),
    ("s3", "DeleteObjects"): _objects("s3:DeleteObject"),
    ("ssm", "GetParameter"): _parameter("ssm:GetParameter", "Name"),
    ("ssm", "GetParameters"): _parameter("ssm:GetParameters", "Names"),
}


class NoRule(KeyError):
    pass


def needs(service: str, operation: str, params: dict[str, Any], account: Account) -> list[Need]:
    rule = REQUEST_RULES.get((service, operation))
    if rule is None:
        raise NoRule(
            f"no IAM rule for {service}.{operation}: add to REQUEST_RULES in "
            "tests/infra/iam.py which action(s) on which resource(s) AWS checks for it"
        )
    return rule(params, account)


def first_grant(granted: Iterable[Grant], need: Need) -> Grant | None:
    return next((grant for grant in granted if grant.allows(need)), None)
