"""Each function's role allows the AWS requests its code makes, and nothing more.

One representative run on the local stack (simulated clock) goes through what the
system does: create (with an Idempotency-Key, repeated, and one that fails inside),
contacts (add, list, filter, read, cancel), PATCH, schedule, planning in several chunks,
dispatcher ticks, dials (one caller ID refused), outcomes, retries, a call whose outcome
never comes (timed out), pause, resume, cancel, delete, provider callbacks (signed,
repeated, unknown, badly signed). The runtime shows every AWS request each function
makes (`local_stack.aws_requests`); `tests/infra/iam.py` says which IAM action(s) on
which ARN(s) AWS checks for each. The deployed (translated) template's roles are
resolved as CloudFormation would (`tests/infra/cloudformation.py`), and then:
- every request of a function is allowed by its role (else: which grant is missing);
- every action its role grants on a resource was used at least once in the run (else:
  remove it, or cover it in the scenario, or add it to JUSTIFIED with the reason).
moto enforces no IAM: without this test a missing grant shows only on AWS.
"""

from __future__ import annotations

import json
import threading
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest

from local_stack import LocalStack, aws_requests
from local_stack.aws_requests import AwsRequest
from local_stack.provider import sign
from tests.infra.cloudformation import Account, Resolver
from tests.infra.facts import function_property, functions
from tests.infra.iam import Grant, Need, grants, managed_policies, needs
from tests.local.conftest import LOCAL_START

pytestmark = pytest.mark.slow

FUNCTIONS = sorted(functions())
KEY, TENANT = "key-least-privilege", "tenant_lp"
CHUNK_SIZE = 100  # the planner's smallest chunk: the held campaign needs two
CALL_TIMEOUT_SECONDS = 120  # the smallest: a call whose outcome never comes times out
REJECTED_CALLER_ID = "+12025550177"

# (function, action, logical id of the resource) granted though the run does not use it:
# repairs and races, which only a crash or bad timing calls for. A run of the whole suite
# with this test's recorder (tests/local, tests/integration, tests/faults) asked for
# nothing beyond these grants.
_RECHECK = (
    "re-checks slot partitions a planner was still writing when their minute was "
    "dispatched (a race): the sweeper dispatches them as a tick would (read, claim, drop)"
)
_REPUBLISH = (
    "publishes what the publisher could not (a stream batch that kept failing): only "
    "then does the sweeper put events on the bus and delete them from the outbox"
)
_RECHECK_LATER = (
    "records slot partitions it read while a planner was still writing them (a race), "
    "for the sweeper to read again (batch write of recheck items)"
)
_IN_THE_SUITE = (
    "made in fault and race scenarios of tests/local and tests/faults (recorded over "
    "the whole suite), not reached by this run"
)
_PRESIGNED = (
    "signs the contact file's upload URL and the report's download URL: signing makes no "
    "request, S3 checks the grant when the URL is used (the run uses both)"
)
SERVICE_LINKED_ROLE = (
    "arn:aws:iam::123456789012:role/aws-service-role/apidestinations.events.amazonaws.com/"
    "AWSServiceRoleForAmazonEventBridgeApiDestinations"
)
JUSTIFIED: dict[tuple[str, str, str], str] = {
    ("SweeperFunction", "dynamodb:ConditionCheckItem", "CampaignsTable"): (
        "completes a campaign two simultaneous last outcomes both missed (the safety net): "
        "its transaction checks the campaign"
    ),
    ("SweeperFunction", "dynamodb:BatchGetItem", "ContactsTable"): _RECHECK,
    ("SweeperFunction", "dynamodb:Query", "SlotsTable"): _RECHECK,
    ("SweeperFunction", "dynamodb:BatchGetItem", "SlotsTable"): _RECHECK,
    ("SweeperFunction", "dynamodb:UpdateItem", "SlotsTable"): _RECHECK,
    ("SweeperFunction", "dynamodb:DeleteItem", "SlotsTable"): _RECHECK,
    ("SweeperFunction", "dynamodb:PutItem", "CoordinationTable"): _RECHECK,
    ("SweeperFunction", "dynamodb:DeleteItem", "OutboxTable"): _REPUBLISH,
    ("SweeperFunction", "events:PutEvents", "EventBus"): _REPUBLISH,
    ("SweeperFunction", "sqs:SendMessage", "PlanningQueue"): _REPUBLISH,
    ("SweeperFunction", "dynamodb:BatchWriteItem", "CoordinationTable"): _RECHECK_LATER,
    ("DispatcherFunction", "dynamodb:BatchWriteItem", "CoordinationTable"): _RECHECK_LATER,
    ("CallerFunction", "dynamodb:Query", "SlotsTable"): _IN_THE_SUITE,
    ("CallerFunction", "dynamodb:BatchGetItem", "SlotsTable"): _IN_THE_SUITE,
    ("PlannerFunction", "dynamodb:GetItem", "ContactsTable"): _IN_THE_SUITE,
    ("PlannerFunction", "dynamodb:DeleteItem", "SlotsTable"): _IN_THE_SUITE,
    ("PlannerFunction", "dynamodb:DeleteItem", "CoordinationTable"): _IN_THE_SUITE,
    ("ImporterFunction", "s3:GetObjectVersion", "ContactsBucket"): (
        "reads the object version S3's notification names; moto's notifications name none "
        "(the version's ETag is read instead), AWS's versioned bucket always does"
    ),
    ("ImporterFunction", "s3:AbortMultipartUpload", "ContactsBucket"): (
        "abandons an error report's multipart upload that failed midway"
    ),
    ("ImporterFunction", "s3:DeleteObject", "ContactsBucket"): _IN_THE_SUITE,
    ("ImporterFunction", "sqs:SendMessage", "ImportQueue"): (
        "hands a file of more than one chunk on to the next invocation (tests/local)"
    ),
    # (Event destinations' resources are named after the bus: `logical_id` says EventBus.)
    ("ApiFunction", "events:DescribeConnection", "EventBus"): (
        "reads the ARN of a connection a create already made (botocore retried a create "
        "whose answer was lost: ResourceAlreadyExists); moto never answers that"
    ),
    ("ApiFunction", "events:DescribeApiDestination", "EventBus"): (
        "reads the ARN of an API destination a create already made (a retried create)"
    ),
    ("ApiFunction", "iam:CreateServiceLinkedRole", SERVICE_LINKED_ROLE): (
        "EventBridge makes its API-destinations service-linked role with the caller's "
        "permission when the account's first connection is created; moto makes none"
    ),
    ("ApiFunction", "s3:PutObject", "ContactsBucket"): _PRESIGNED,
    ("ApiFunction", "s3:GetObject", "ContactsBucket"): _PRESIGNED,
}

# What the Lambda service itself does with the role (not the code): write logs, send
# X-Ray segments, and poll the function's SQS event sources.
BASIC_EXECUTION = "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"
XRAY = "arn:aws:iam::aws:policy/AWSXrayWriteOnlyAccess"
# The policy SAM attaches for each kind of polled event source (the service reads it).
POLLER_POLICIES = {
    "SQS": "arn:aws:iam::aws:policy/service-role/AWSLambdaSQSQueueExecutionRole",
    "DynamoDB": "arn:aws:iam::aws:policy/service-role/AWSLambdaDynamoDBExecutionRole",
    "Kinesis": "arn:aws:iam::aws:policy/service-role/AWSLambdaKinesisExecutionRole",
}


@dataclass(frozen=True)
class Made:
    function: str
    service: str
    operation: str
    params: dict[str, Any]

    def __str__(self) -> str:
        return f"{self.service}.{self.operation}"


@dataclass
class Recorder:
    """An aws_requests listener that keeps every request a function makes."""

    made: list[Made] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def before(self, request: AwsRequest) -> None:
        with self.lock:
            self.made.append(
                Made(request.function, request.service, request.operation, request.params)
            )

    def after(self, request: AwsRequest, response: dict[str, Any]) -> None:
        return None


@dataclass
class Run:
    made: list[Made]
    invocations: dict[str, int]
    resolver: Resolver
    account: Account
    names: dict[str, str]  # logical id -> physical name

    def describe(self, arn: str) -> str:
        """An ARN with the logical id of the resource it names, for messages."""
        for logical_id, name in sorted(self.names.items(), key=lambda kv: -len(kv[1])):
            if name and name in arn:
                return f"{arn} ({logical_id})"
        return arn

    def logical_id(self, pattern: str) -> str:
        for logical_id, name in sorted(self.names.items(), key=lambda kv: -len(kv[1])):
            if name and name in pattern:
                return logical_id
        return pattern


def iso(instant: Any) -> str:
    return instant.isoformat().replace("+00:00", "Z")


class Api:
    def __init__(self, stack: LocalStack) -> None:
        self.stack = stack

    def __call__(
        self,
        method: str,
        path: str,
        body: Any = None,
        expect: int = 200,
        headers: dict[str, str] | None = None,
    ) -> Any:
        answer = self.stack.request(method, path, body, api_key=KEY, headers=headers)
        assert answer.status == expect, f"{method} {path}: {answer.status} {answer.body[:500]!r}"
        return answer.json()

    def provider_event(self, body: dict[str, Any], signature: str | None = None) -> int:
        raw = json.dumps(body).encode()
        at = int(self.stack.now().timestamp())
        header = signature or sign(self.stack.provider_secret, at, raw)
        answer = self.stack.request(
            "POST", "/provider/events", raw, headers={"X-Signature": header}
        )
        return answer.status


def put_file(url: str, body: bytes) -> None:
    """PUT a file's bytes to a presigned URL, as `curl --upload-file` does."""
    request = urllib.request.Request(
        url, data=body, method="PUT", headers={"Content-Type": "application/octet-stream"}
    )
    with urllib.request.urlopen(request, timeout=10) as answer:
        assert answer.status == 200


def contacts(*numbers: str) -> list[dict[str, str]]:
    return [{"phone_number": number} for number in numbers]


def campaign_status(api: Api, campaign_id: str) -> str:
    return str(api("GET", f"/batch-calls/{campaign_id}")["status"])


def scenario(stack: LocalStack) -> None:
    api = Api(stack)
    sink = f"{stack.base_url}/_local/webhook-sink"
    stack.request("POST", "/_local/provider/settings", {"reject_from": [REJECTED_CALLER_ID]})

    # A campaign delivered to the end: outcomes by last digit (4 completed, 1 no answer,
    # 2 busy, 3 failed), one retry each, two calls at once, the first caller ID refused.
    delivered = {
        "name": "least privilege",
        "agent_id": "agent_1",
        "phone_numbers": [REJECTED_CALLER_ID, "+12025550100"],
        "phone_rotation": "sequential",
        "schedule_type": "scheduled",
        "scheduled_at": iso(stack.now() + timedelta(minutes=2)),
        "max_concurrent_calls": 2,
        "max_calls_per_second": 1,
        "retry_strategy": {"max_attempts": 2, "no_answer_delay": 120_000, "busy_delay": 60_000},
        "webhooks": {"on_call_complete": f"{sink}/call", "on_batch_complete": f"{sink}/done"},
        "tags": ["least-privilege"],
        "contacts": contacts("+12025550104", "+12025550111", "+12025550122", "+12025550133"),
    }
    once = {"Idempotency-Key": "create-delivered"}
    created = api("POST", "/batch-calls", delivered, 201, once)
    assert api("POST", "/batch-calls", delivered, 201, once)["id"] == created["id"]
    # A create that fails inside the idempotent part gives its key back.
    unschedulable = {k: v for k, v in delivered.items() if k != "agent_id"}
    api("POST", "/batch-calls", unschedulable, 422, {"Idempotency-Key": "create-failing"})

    campaign = f"/batch-calls/{created['id']}"
    api("GET", "/batch-calls")
    api("GET", "/batch-calls?status=scheduled&tag=least-privilege&limit=1")
    api("GET", campaign)
    added = api(
        "POST", f"{campaign}/contacts", {"contacts": contacts("+12025550144", "+12025550155")}
    )
    assert added["accepted"] == 2
    listed = api("GET", f"{campaign}/contacts?limit=3")["items"]
    api("GET", f"{campaign}/contacts?status=scheduled")
    api("GET", f"{campaign}/contacts/{listed[0]['id']}")
    cancelled = next(
        c
        for c in listed + api("GET", f"{campaign}/contacts")["items"]
        if c["phone_number"].endswith("55")
    )
    api("DELETE", f"{campaign}/contacts/{cancelled['id']}")
    api("PATCH", campaign, {"name": "renamed", "priority": 7})
    api("PATCH", campaign, {"end_time": "21:00"})  # a scheduling field: re-planned
    # Analytics while calls are planned (the finish estimate reads the last one's slots).
    assert api("GET", f"{campaign}/analytics")["finish_estimate"] is not None

    stack.advance(25 * 60)
    assert campaign_status(api, created["id"]) == "completed"

    # Provider callbacks: a repeated outcome, an unknown call, a bad signature.
    first_call = stack.provider.calls()[0]
    repeated = {"call_id": first_call["call_id"], "status": "completed", "duration_seconds": 3}
    assert api.provider_event(repeated) == 200
    assert api.provider_event({"call_id": "call_unknown", "status": "busy"}) == 200
    assert api.provider_event(repeated, signature="t=1,v1=00") == 401

    # Contact files: one through the API's upload URL into a calling campaign (rows
    # refused and a duplicate: a report; the re-plan), its import and report read back;
    # one dropped for a campaign its tenant does not have (refused, reported).
    importing = api(
        "POST",
        "/batch-calls",
        {
            "agent_id": "agent_1",
            "phone_numbers": ["+12025550100"],
            "contacts": contacts("+12025550294"),
        },
        201,
    )
    upload = api(
        "POST", f"/batch-calls/{importing['id']}/contact-files", {"filename": "list.csv"}, 201
    )
    put_file(upload["upload_url"], b"phone\n+12025550304\nnope\n+12025550304\n+12025550294\n")
    stack.run_due()
    imported = api("GET", f"/batch-calls/{importing['id']}/imports/{upload['import_id']}")
    assert (imported["status"], imported["accepted"]) == ("completed", 1)
    with urllib.request.urlopen(imported["report_url"], timeout=10) as report:
        assert b"nope" in report.read()
    stack.client("s3").put_object(
        Bucket=stack.resource("ContactsBucket"),
        Key=f"imports/{TENANT}/batch_00000000000000000000/list.csv",
        Body=b"phone\n+12025550314\n",
    )
    stack.advance(3 * 60)

    # The do-not-call list: numbers added, listed, one taken off; one suppressed number
    # skipped at planning, and a callee who opts out (a number ending in 99).
    api("POST", "/suppressions", {"phone_numbers": ["+12025550404", "+12025550414"]})
    api("GET", "/suppressions?limit=1")
    api("POST", f"/batch-calls/{created['id']}/preview", {"max_calls_per_day": 2})
    api("DELETE", "/suppressions/+12025550414", expect=204)
    opting = api(
        "POST",
        "/batch-calls",
        {
            "agent_id": "agent_1",
            "phone_numbers": ["+12025550100"],
            "contacts": contacts("+12025550404", "+12025550499"),
        },
        201,
    )
    stack.advance(3 * 60)
    assert campaign_status(api, opting["id"]) == "completed"

    # A call whose outcome never arrives: recorded as unknown after the call timeout.
    stack.request("POST", "/_local/provider/settings", {"drop_callbacks": True})
    silent = api(
        "POST",
        "/batch-calls",
        {
            "agent_id": "agent_1",
            "phone_numbers": ["+12025550100"],
            "contacts": contacts("+12025550166"),
        },
        201,
    )
    stack.advance(60)
    stack.request("POST", "/_local/provider/settings", {"drop_callbacks": False})
    stack.advance(CALL_TIMEOUT_SECONDS + 3 * 60)
    assert campaign_status(api, silent["id"]) == "completed"

    # Every caller ID refused: the campaign fails (batch.failed), its contacts cancelled.
    refused = api(
        "POST",
        "/batch-calls",
        {
            "agent_id": "agent_1",
            "phone_numbers": [REJECTED_CALLER_ID],
            "contacts": contacts("+12025550188"),
        },
        201,
    )
    stack.advance(60)
    assert campaign_status(api, refused["id"]) == "failed"

    # A window that closes while calls wait for a place: the caller re-plans them into
    # the next day's window.
    closing = api(
        "POST",
        "/batch-calls",
        {
            "agent_id": "agent_1",
            "phone_numbers": ["+12025550100"],
            "start_time": iso(stack.now())[11:16],
            "end_time": iso(stack.now() + timedelta(minutes=2))[11:16],
            "max_concurrent_calls": 1,
            "contacts": contacts("+12025550204", "+12025550214", "+12025550224"),
        },
        201,
    )
    stack.advance(5 * 60)
    later = api("GET", f"/batch-calls/{closing['id']}/contacts?status=scheduled")["items"]
    assert later, "no call was re-planned into the next window"

    # Calls queued when their campaign is paused, or cancelled, are held and not dialled.
    for action in ("pause", "cancel"):
        stopped = api(
            "POST",
            "/batch-calls",
            {
                "agent_id": "agent_1",
                "phone_numbers": ["+12025550100"],
                "max_calls_per_second": 1,
                "contacts": contacts(*(f"+1202555{n:04d}" for n in range(3004, 3054, 10))),
            },
            201,
        )
        api("POST", f"/batch-calls/{stopped['id']}/{action}")
        stack.advance(60)

    # A call message that arrives before its time goes back to the queue to wait.
    early = {
        "tenant_id": TENANT,
        "campaign_id": closing["id"],
        "contact_id": later[0]["id"],
        "attempt": 1,
        "plan_version": 1,
        "due_ms": int((stack.now() + timedelta(hours=1)).timestamp() * 1000),
    }
    stack.client("sqs").send_message(
        QueueUrl=stack.resource("CallQueue"), MessageBody=json.dumps(early)
    )
    stack.run_due()

    # A call message in the call DLQ: the sweeper sends it back to the call queue once.
    stack.client("sqs").send_message(
        QueueUrl=stack.resource("CallDeadLetterQueue"), MessageBody=json.dumps(early)
    )
    stack.advance(5 * 60)

    # A campaign none of whose contacts may ever be called (its window lies outside the
    # legal hours): every contact is skipped when planned, and the campaign completes.
    never = api(
        "POST",
        "/batch-calls",
        {
            "agent_id": "agent_1",
            "phone_numbers": ["+12025550100"],
            "timezone": "America/New_York",
            "start_time": "21:30",
            "end_time": "23:00",
            "contacts": contacts("+12025550234"),
        },
        201,
    )
    stack.advance(60)
    assert campaign_status(api, never["id"]) == "completed"

    # A campaign held for tomorrow: planned in two chunks, paused, resumed, cancelled.
    held = api(
        "POST",
        "/batch-calls",
        {
            "status": "draft",
            "agent_id": "agent_1",
            "phone_numbers": ["+12025550100"],
            "schedule_type": "scheduled",
            "scheduled_at": iso(stack.now() + timedelta(days=1)),
            "contacts": contacts(
                *(f"+1202555{n:04d}" for n in range(2000, 2000 + CHUNK_SIZE + 20))
            ),
        },
        201,
    )
    held_path = f"/batch-calls/{held['id']}"
    api("POST", f"{held_path}/schedule", expect=202)
    stack.advance(60)
    assert api("GET", held_path)["planning"]["planned"] == CHUNK_SIZE + 20
    api("POST", f"{held_path}/pause")
    api("POST", f"{held_path}/resume", expect=202)
    stack.advance(60)
    api("POST", f"{held_path}/cancel")
    stack.advance(60)

    draft = api("POST", "/batch-calls", {"status": "draft", "name": "to delete"}, 201)
    api("DELETE", f"/batch-calls/{draft['id']}", expect=204)

    # Event destinations: one made (for a campaign, one event type), listed and deleted;
    # one whose create dies midway, which the sweeper removes five minutes later.
    destination = api(
        "POST",
        "/event-destinations",
        {
            "url": f"{sink}/destination",
            "auth_header_name": "x-receiver-key",
            "auth_header_value": "receiver-secret",
            "events": ["call.completed"],
            "batch_ids": [created["id"]],
        },
        201,
    )
    api("GET", "/event-destinations")
    api("DELETE", f"/event-destinations/{destination['id']}", expect=204)
    stack.faults.add(kind="crash", function="ApiFunction", after="events.CreateApiDestination")
    dying = stack.request("POST", "/event-destinations", {"url": f"{sink}/dying"}, api_key=KEY)
    assert dying.status >= 500
    stack.advance(11 * 60)
    assert api("GET", "/event-destinations")["items"] == []
    # Webhooks: the secret (made, rotated), a receiver failing once (the retry goes
    # through the queue), the delivery log and a replay.
    api("GET", "/webhook-secret")
    api("POST", "/webhook-secret/rotate")
    hooked = api(
        "POST",
        "/batch-calls",
        {
            **delivered,
            "scheduled_at": iso(stack.now() + timedelta(minutes=2)),
            "webhooks": {"on_call_complete": f"{sink}/fail-1/call"},
            "contacts": contacts("+12025550164"),
        },
        201,
    )
    stack.advance(10 * 60)
    deliveries = api("GET", f"/batch-calls/{hooked['id']}/webhook-deliveries?status=succeeded")
    [delivery] = deliveries["items"]
    assert delivery["attempts"] == 2
    api(
        "POST",
        f"/batch-calls/{hooked['id']}/webhook-deliveries/{delivery['id']}/replay",
        expect=202,
    )
    stack.advance(60)


@pytest.fixture(scope="module")
def run() -> Iterator[Run]:
    with pytest.MonkeyPatch.context() as patch:
        # Settings the functions read from their environment (not set by the template).
        patch.setenv("CHUNK_SIZE", str(CHUNK_SIZE))
        patch.setenv("CALL_TIMEOUT_SECONDS", str(CALL_TIMEOUT_SECONDS))
        stack = LocalStack.start(clock="simulated", clock_start=LOCAL_START, api_keys={KEY: TENANT})
        try:
            recorder = Recorder()
            with aws_requests.listening(recorder):
                scenario(stack)
            cfn = stack.client("cloudformation")
            name = stack.deployment.stack_name
            template = cfn.get_template(StackName=name)["TemplateBody"]
            parameters = {
                p["ParameterKey"]: p["ParameterValue"]
                for p in cfn.describe_stacks(StackName=name)["Stacks"][0]["Parameters"]
            }
            names = {
                logical_id: physical.rstrip("/").rsplit("/", 1)[-1]
                for logical_id, (_, physical) in stack.deployment.resources.items()
                if physical
            }
            invocations = {f: stack.functions[f].invocations for f in stack.deployment.functions}
        finally:
            stack.stop()
    account = Account(stack_name=name)
    resolver = Resolver(json.loads(json.dumps(template)), parameters, account, names)
    yield Run(recorder.made, invocations, resolver, account, names)


def made_by(run: Run, function: str) -> list[tuple[Made, list[Need]]]:
    return [
        (made, needs(made.service, made.operation, made.params, run.account))
        for made in run.made
        if made.function == function
    ]


@pytest.mark.parametrize("function", FUNCTIONS)
def test_every_request_a_function_makes_is_allowed_by_its_role(run: Run, function: str) -> None:
    # Given every request the function made in the run, and its role's grants
    assert run.invocations.get(function), f"the run never invoked {function}"
    granted = grants(run.resolver, function)

    # Then each action AWS checks for each request is allowed by some grant
    missing: dict[str, set[str]] = {}
    for made, needed in made_by(run, function):
        for need in needed:
            if not any(grant.allows(need) for grant in granted):
                missing.setdefault(
                    str(need.action) + " on " + run.describe(need.resource), set()
                ).add(str(made))
    assert not missing, f"{function}'s role (template.yaml Policies) lacks:\n" + "\n".join(
        f"  {need}  (for {', '.join(sorted(requests))})"
        for need, requests in sorted(missing.items())
    )


@pytest.mark.parametrize("function", FUNCTIONS)
def test_every_grant_of_a_function_was_used_by_it(run: Run, function: str) -> None:
    # Given what the function's requests needed
    used = [need for _, needed in made_by(run, function) for need in needed]
    granted = grants(run.resolver, function)
    assert granted, f"{function} has no inline policy at all"

    # Then every action on every resource its role grants was needed at least once
    unused: list[Grant] = [
        grant
        for grant in granted
        if not any(grant.allows(need) for need in used)
        and (function, grant.action, run.logical_id(grant.resource)) not in JUSTIFIED
    ]
    assert not unused, f"{function} was granted what it never used:\n" + "\n".join(
        f"  {grant.action} on {run.describe(grant.resource)} (statement {grant.sid})"
        for grant in unused
    )


def test_every_justified_exception_is_still_granted(run: Run) -> None:
    # An exception whose grant is gone must leave the list (it would hide a later one).
    stale = [
        key
        for key in JUSTIFIED
        if not any(
            (g.action, run.logical_id(g.resource)) == key[1:] for g in grants(run.resolver, key[0])
        )
    ]
    assert not stale


@pytest.mark.parametrize("function", FUNCTIONS)
def test_a_role_attaches_only_the_policies_the_lambda_service_uses(run: Run, function: str) -> None:
    # Logs and X-Ray for every function; polling only for one with a polled event source.
    expected = {BASIC_EXECUTION, XRAY}
    events = function_property(function, "Events", {}) or {}
    expected |= {
        POLLER_POLICIES[e["Type"]] for e in events.values() if e["Type"] in POLLER_POLICIES
    }

    assert set(managed_policies(run.resolver, function)) == expected
