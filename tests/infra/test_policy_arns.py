"""The translated template, resolved as CloudFormation would resolve it, grants each
function the ARNs its code names, and no other resource.

template.yaml is translated with aws-sam-translator (as `sam deploy` and the local stack
do) and its intrinsics resolved by `tests/infra/cloudformation.py`, which refuses what
CloudFormation refuses (e.g. Fn::Split with three arguments) where moto would accept it.
What a function's code names comes from its resolved environment (CAMPAIGNS_TABLE,
CALL_QUEUE_URL, EVENT_BUS_NAME, PROVIDER_SECRET_NAME...), and each ARN is built from that
value as IAM spells it; the index names come from the pynamodb models.
"""

from __future__ import annotations

from typing import Any

import pytest
from batchcalls.adapters.tables import ContactRecord

from local_stack.template import SamTemplate
from tests.infra.cloudformation import Account, IntrinsicError, Resolver
from tests.infra.facts import functions, resource_fields, settings_models, settings_used_by
from tests.infra.iam import Need, failure_destinations, grants
from tests.support.template import TEMPLATE

FUNCTIONS = sorted(functions())
BY_SEQ = ContactRecord.by_seq.Meta.index_name
BY_STATUS = ContactRecord.by_status.Meta.index_name

# What each function's code reads or writes, by the environment variable naming it
# (`<VARIABLE>/<index>` for an index of that table). The least-privilege run
# (test_least_privilege.py) checks the actions; this checks the resources, fast.
SERVICE_LINKED_ROLE = (
    "IAM_ROLE:aws-service-role/apidestinations.events.amazonaws.com/"
    "AWSServiceRoleForAmazonEventBridgeApiDestinations"
)
NEEDS: dict[str, set[str]] = {
    "ApiFunction": {
        "API_KEYS_TABLE",
        "CAMPAIGNS_TABLE",
        "CONTACTS_TABLE",
        f"CONTACTS_TABLE/{BY_SEQ}",
        f"CONTACTS_TABLE/{BY_STATUS}",
        "COORDINATION_TABLE",
        "IDEMPOTENCY_TABLE",
        "OUTBOX_TABLE",
        "CONTACTS_BUCKET_NAME",
        # Event destinations: the resources it names `<prefix>dest_<id>`, the role their
        # targets invoke with, and the service-linked role EventBridge makes for them.
        "EVENT_DESTINATIONS_PREFIX/connection",
        "EVENT_DESTINATIONS_PREFIX/api-destination",
        "EVENT_DESTINATIONS_PREFIX/rule",
        "EVENT_DESTINATIONS_ROLE_ARN",
        SERVICE_LINKED_ROLE,
        "WEBHOOK_QUEUE_URL",
        "SLOTS_TABLE",  # analytics: the finish estimate reads the last booked minute's slots
    },
    "WebhookSenderFunction": {"COORDINATION_TABLE", "WEBHOOK_QUEUE_URL"},
    "ImporterFunction": {
        "CAMPAIGNS_TABLE",
        "CONTACTS_TABLE",
        "COORDINATION_TABLE",
        "OUTBOX_TABLE",
        "CONTACTS_BUCKET_NAME",
        "IMPORT_QUEUE_URL",
    },
    "PlannerFunction": {
        "CAMPAIGNS_TABLE",
        "CONTACTS_TABLE",
        f"CONTACTS_TABLE/{BY_STATUS}",
        "SLOTS_TABLE",
        "COORDINATION_TABLE",
        "OUTBOX_TABLE",
        "PLANNING_QUEUE_URL",
        "CALL_QUEUE_URL",
    },
    "DispatcherFunction": {
        "CAMPAIGNS_TABLE",
        "CONTACTS_TABLE",
        "SLOTS_TABLE",
        "COORDINATION_TABLE",
        "CALL_QUEUE_URL",
    },
    "CallerFunction": {
        "CAMPAIGNS_TABLE",
        "CONTACTS_TABLE",
        "SLOTS_TABLE",
        "COORDINATION_TABLE",
        "OUTBOX_TABLE",
        "CALL_QUEUE_URL",
    },
    "ProviderEventsFunction": {
        "CAMPAIGNS_TABLE",
        "CONTACTS_TABLE",
        "SLOTS_TABLE",
        "COORDINATION_TABLE",
        "OUTBOX_TABLE",
        "CALL_QUEUE_URL",
        "PROVIDER_SECRET_NAME",
    },
    # Events (and the planner's requests) leave only through the outbox: the publisher
    # (and the sweeper, for what the publisher could not send) put them on the bus (and
    # the planning queue).
    "PublisherFunction": {"OUTBOX_TABLE", "EVENT_BUS_NAME", "PLANNING_QUEUE_URL"},
    "SweeperFunction": {
        "CAMPAIGNS_TABLE",
        "CONTACTS_TABLE",
        "SLOTS_TABLE",
        "COORDINATION_TABLE",
        "OUTBOX_TABLE",
        "CALL_QUEUE_URL",
        "CALL_DEAD_LETTER_QUEUE_URL",
        "EVENT_BUS_NAME",
        "PLANNING_QUEUE_URL",
        # removes event destinations a crash left half-made
        "EVENT_DESTINATIONS_PREFIX/connection",
        "EVENT_DESTINATIONS_PREFIX/api-destination",
        "EVENT_DESTINATIONS_PREFIX/rule",
    },
}


# Deployments to resolve: the defaults, and one that sets every optional parameter.
PARAMETER_SETS: dict[str, dict[str, str]] = {
    "defaults": {},
    "everything-set": {
        "Stage": "staging",
        "ProviderSecretParameter": "/team/voice/provider-secret",
        "CallerReservedConcurrency": "5",
        "EventsWebhookUrl": "https://hooks.example.com/batch-calls",
        "EventsWebhookAuthValue": "a-long-random-token",
    },
}


def translate(parameters: dict[str, str]) -> dict[str, Any]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AWS_DEFAULT_REGION", Account().region)
        return SamTemplate(TEMPLATE).translate("s3://code-bucket/code.zip", parameters, None)


@pytest.fixture(scope="module", params=sorted(PARAMETER_SETS))
def resolver(request: pytest.FixtureRequest) -> Resolver:
    parameters = {
        name: value
        for name, value in PARAMETER_SETS[request.param].items()
        if name in SamTemplate(TEMPLATE).parameter_names()
    }
    resolver = Resolver(translate(parameters), parameters, Account(stack_name="batch-calls-test"))
    assert resolver.refusals() == []
    return resolver


def environment(resolver: Resolver, function: str) -> dict[str, str]:
    properties = resolver.resolve(resolver.template["Resources"][function]["Properties"])
    return dict(properties.get("Environment", {}).get("Variables", {}))


def arn_of(account: Account, variable: str, value: str) -> str:
    """The ARN of what an environment variable names, as IAM spells it."""
    if variable.endswith("_TABLE"):
        return account.table_arn(value)
    if variable.endswith("_QUEUE_URL"):
        return account.queue_arn(value.rsplit("/", 1)[-1])
    if variable.endswith("_BUS_NAME"):
        return account.bus_arn(value)
    if variable.endswith("_BUCKET_NAME"):
        # The code reads and writes only under imports/ (API.md "Contact files").
        return account.object_arn(value, "imports/*")
    if variable == "PROVIDER_SECRET_NAME":
        return account.parameter_arn(value)
    if variable.endswith("_ROLE_ARN"):
        return value
    raise AssertionError(f"no ARN rule for {variable}")


def needed_arns(resolver: Resolver, function: str) -> dict[str, str]:
    """need (as written in NEEDS) -> ARN, from the function's resolved environment."""
    assert function in NEEDS, f"add what {function}'s code reads and writes to NEEDS"
    variables = environment(resolver, function)
    arns = {}
    for need in NEEDS[function]:
        if need.startswith("IAM_ROLE:"):
            arns[need] = resolver.account.arn("iam", "role/" + need[9:], region=False)
            continue
        variable, _, index = need.partition("/")
        if variable == "EVENT_DESTINATIONS_PREFIX":
            # Named `<prefix>dest_<id>`; a rule is on the deployment's bus.
            name = variables[variable] + "dest_*"
            where = f"{variables['EVENT_BUS_NAME']}/{name}" if index == "rule" else name
            arns[need] = resolver.account.arn("events", f"{index}/{where}")
            continue
        assert variable in variables, f"{function} needs {variable} but its environment lacks it"
        arn = arn_of(resolver.account, variable, variables[variable])
        arns[need] = f"{arn}/index/{index}" if index else arn
    return arns


# ---------------------------------------------------------------------- the resolver
def test_every_intrinsic_of_the_translated_template_resolves(resolver: Resolver) -> None:
    resources = resolver.resources()
    outputs = resolver.resolve(resolver.template.get("Outputs", {}))

    assert set(FUNCTIONS) <= set(resources)
    assert all(isinstance(o["Value"], str) for o in outputs.values())


def resolve_alone(node: Any, **parameters: str) -> Any:
    template = {
        "Parameters": {name: {"Type": "String"} for name in parameters},
        "Conditions": {"HasP": {"Fn::Not": [{"Fn::Equals": [{"Ref": "P"}, ""]}]}},
        "Resources": {"Queue": {"Type": "AWS::SQS::Queue", "Properties": {"QueueName": "q"}}},
    }
    return Resolver(template, parameters).resolve(node)


def test_fn_split_takes_two_arguments_as_in_cloudformation() -> None:
    # The grant this template once had: three arguments to Fn::Split
    old_grant = {"Fn::Select": [1, {"Fn::Split": ["/", {"Ref": "P"}, 2]}]}
    with pytest.raises(IntrinsicError, match="Fn::Split takes 2 arguments"):
        resolve_alone(old_grant, P="/batch-calls/provider-secret")
    # and read as meant it named the first level only, not the parameter
    as_meant = {"Fn::Select": [1, {"Fn::Split": ["/", {"Ref": "P"}]}]}
    assert resolve_alone(as_meant, P="/batch-calls/provider-secret") == "batch-calls"


def test_the_intrinsics_resolve_as_cloudformation_does() -> None:
    assert resolve_alone(
        {"Fn::Sub": "arn:${AWS::Partition}:ssm:${AWS::Region}:x:parameter${P}"}, P="/a/b"
    ) == ("arn:aws:ssm:us-east-1:x:parameter/a/b")
    assert (
        resolve_alone(
            {"Fn::Sub": ["${Q}-${!Literal}", {"Q": {"Fn::GetAtt": ["Queue", "QueueName"]}}]}
        )
        == "q-${Literal}"
    )
    assert resolve_alone({"Fn::Sub": "${Queue.Arn}"}) == "arn:aws:sqs:us-east-1:123456789012:q"
    assert resolve_alone({"Ref": "Queue"}) == "https://sqs.us-east-1.amazonaws.com/123456789012/q"
    assert resolve_alone({"Fn::Join": ["-", ["a", {"Ref": "P"}]]}, P="b") == "a-b"
    assert resolve_alone({"Fn::If": ["HasP", "yes", "no"]}, P="") == "no"
    assert resolve_alone([{"Fn::If": ["HasP", "yes", {"Ref": "AWS::NoValue"}]}], P="") == []
    with pytest.raises(IntrinsicError):
        resolve_alone({"Fn::Select": [2, ["a", "b"]]})
    with pytest.raises(IntrinsicError):
        resolve_alone({"Fn::GetAtt": ["Queue", "NoSuchAttribute"]})
    with pytest.raises(IntrinsicError):
        resolve_alone({"Ref": "NoSuchThing"})


# ---------------------------------------------------------------------- the grants
@pytest.mark.parametrize("function", FUNCTIONS)
def test_every_function_is_granted_each_arn_its_code_names(
    resolver: Resolver, function: str
) -> None:
    # Given what the function's code names, resolved to ARNs from its environment
    granted = grants(resolver, function)

    # Then its role allows something on each of them
    missing = [
        f"{need} ({arn})"
        for need, arn in sorted(needed_arns(resolver, function).items())
        if not any(g.allows(Need(g.action, arn)) for g in granted)
    ]
    assert not missing, f"{function}'s role names none of: {missing}"


@pytest.mark.parametrize("function", FUNCTIONS)
def test_no_function_is_granted_a_resource_its_code_does_not_name(
    resolver: Resolver, function: str
) -> None:
    needed = set(needed_arns(resolver, function).values())

    extra = sorted({g.resource for g in grants(resolver, function)} - needed)
    # Objects are granted by key prefix (`imports/*`, what NEEDS names): no other wildcard.
    wildcards = sorted(
        {
            str(g)
            for g in grants(resolver, function)
            if "*" in g.action or ("*" in g.resource and g.resource not in needed)
        }
    )

    assert not extra, f"{function} is granted resources it does not use: {extra}"
    assert not wildcards, f"{function} has wildcard grants: {wildcards}"


@pytest.mark.parametrize("function", FUNCTIONS)
def test_only_the_provider_callbacks_read_the_provider_secret(
    resolver: Resolver, function: str
) -> None:
    secret = resolver.parameters["ProviderSecretParameter"]
    ssm = {
        (g.action, g.resource) for g in grants(resolver, function) if g.action.startswith("ssm:")
    }

    if function == "ProviderEventsFunction":
        assert environment(resolver, function)["PROVIDER_SECRET_NAME"] == secret
        assert ssm == {("ssm:GetParameter", resolver.account.parameter_arn(secret))}
        assert resolver.account.parameter_arn(secret).endswith(f":parameter{secret}")
    else:
        assert ssm == set()
        assert "PROVIDER_SECRET_NAME" not in environment(resolver, function)


FUNCTION_SETTINGS = [
    (function, model) for function in FUNCTIONS for model in sorted(settings_used_by(function))
]


@pytest.mark.parametrize(
    ("function", "model"), FUNCTION_SETTINGS, ids=[f"{f}-{m}" for f, m in FUNCTION_SETTINGS]
)
def test_every_table_a_functions_own_settings_add_is_granted(
    resolver: Resolver, function: str, model: str
) -> None:
    # The shared tables are named to every function and narrowed by policy; a table a
    # function's own settings add (e.g. idempotency) is one it surely uses.
    shared = set(settings_models()["StorageSettings"].model_fields)
    variables = environment(resolver, function)
    resources = {g.resource for g in grants(resolver, function)}
    for field in resource_fields(settings_models()[model]):
        if field in shared or not field.endswith("_table"):
            continue
        arn = resolver.account.table_arn(variables[field.upper()])
        assert arn in resources, f"{function} may not use its {field} ({arn})"


@pytest.mark.parametrize("function", FUNCTIONS)
def test_the_service_may_send_only_to_the_functions_failure_destinations(
    resolver: Resolver, function: str
) -> None:
    # SAM's own grant for an OnFailure destination: sending there, and nothing else.
    service = {(g.action, g.resource) for g in grants(resolver, function, service=True)}

    expected = {("sqs:SendMessage", arn) for arn in failure_destinations(resolver, function)}
    assert service == expected


# ---------------------------------------------------------------------- parameters
def template_alone(**parameters: str) -> Resolver:
    return Resolver(translate({}), parameters)


def test_no_secret_parameter_has_a_default_value() -> None:
    declared = translate({})["Parameters"]
    secrets = {name: p.get("Default", "") for name, p in declared.items() if p.get("NoEcho")}

    assert secrets
    assert set(secrets.values()) == {""}


def test_the_events_webhook_is_made_only_with_both_its_url_and_its_secret() -> None:
    url, secret = "https://hooks.example.com/batch-calls", "a-long-random-token"

    # With neither: no webhook, nothing refused
    neither = template_alone()
    assert not neither.condition("HasEventsWebhook") and neither.refusals() == []
    # With both: the webhook's connection sends the secret
    both = template_alone(EventsWebhookUrl=url, EventsWebhookAuthValue=secret)
    assert both.refusals() == []
    connection = both.resources()["EventsWebhookConnection"]["Properties"]
    assert connection["AuthParameters"]["ApiKeyAuthParameters"]["ApiKeyValue"] == secret
    # With the URL alone: CloudFormation refuses the deployment (Rules)
    assert template_alone(EventsWebhookUrl=url).refusals() != []
    # and a short secret is refused by its pattern
    with pytest.raises(IntrinsicError, match="EventsWebhookAuthValue"):
        template_alone(EventsWebhookUrl=url, EventsWebhookAuthValue="change-me")
