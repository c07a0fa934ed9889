"""Rules a reviewer checks in template.yaml: code exists, queues are safe, names are wired."""

from __future__ import annotations

import ast
import re

import pytest

from tests.infra.facts import (
    all_environments,
    code_dir,
    function_environment,
    function_property,
    function_timeout,
    functions,
    getatt_target,
    handler_file_and_name,
    ref_target,
    resource_fields,
    resource_kind,
    resource_type,
    settings_models,
    settings_used_by,
    sqs_event_sources,
)
from tests.support.template import ROOT, resources_of_type

FUNCTIONS = sorted(functions())
SQS_SOURCES = sqs_event_sources()
SQS_SOURCE_IDS = [f"{function}<-{queue}" for function, queue, _ in SQS_SOURCES]
SQS_DEFAULT_RETENTION = 345_600  # four days
# pip's --platform for the wheels of each Lambda architecture (a makefile-built layer's)
PIP_PLATFORM = {"arm64": "manylinux2014_aarch64", "x86_64": "manylinux2014_x86_64"}


# ---------------------------------------------------------------------- code
@pytest.mark.parametrize("function", FUNCTIONS)
def test_every_function_handler_is_defined_in_its_code_folder(function: str) -> None:
    # Given the function's CodeUri and Handler (module.function)
    path, name = handler_file_and_name(function)

    # Then the folder and module exist and the module defines the handler at top level
    assert code_dir(function).is_dir(), f"{function}: no folder {code_dir(function)}"
    assert path.is_file(), f"{function}: no handler module {path.relative_to(ROOT)}"
    tree = ast.parse(path.read_text())
    defined = {
        node.name for node in tree.body if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
    } | {
        target.id
        for node in tree.body
        if isinstance(node, ast.Assign)
        for target in node.targets
        if isinstance(target, ast.Name)
    }
    assert name in defined, f"{function}: {path.relative_to(ROOT)} defines no {name}"


@pytest.mark.parametrize("layer", sorted(resources_of_type("AWS::Serverless::LayerVersion")))
def test_every_layer_builds_from_an_existing_folder_for_the_functions_runtime(layer: str) -> None:
    properties = resources_of_type("AWS::Serverless::LayerVersion")[layer]["Properties"]
    metadata = resources_of_type("AWS::Serverless::LayerVersion")[layer].get("Metadata", {})
    folder = ROOT / str(properties["ContentUri"])

    assert (folder / "requirements.txt").is_file()
    assert any(child.is_dir() and (child / "__init__.py").is_file() for child in folder.iterdir())
    for function in FUNCTIONS:
        assert function_property(function, "Runtime") in properties["CompatibleRuntimes"]
        for architecture in function_property(function, "Architectures", ["x86_64"]):
            assert architecture in properties["CompatibleArchitectures"]
    assert metadata.get("BuildArchitecture") in properties["CompatibleArchitectures"]
    if metadata.get("BuildMethod") == "makefile":
        # Its recipe installs for the runtime and architecture the functions run on
        recipe = (folder / "Makefile").read_text()
        assert f"build-{layer}:" in recipe
        runtime = re.search(r"^RUNTIME := (\S+)$", recipe, re.MULTILINE)
        platform = re.search(r"^PLATFORM := (\S+)$", recipe, re.MULTILINE)
        assert runtime and f"python{runtime.group(1)}" in properties["CompatibleRuntimes"]
        assert platform and platform.group(1) == PIP_PLATFORM[metadata["BuildArchitecture"]]
    else:
        assert metadata.get("BuildMethod") in properties["CompatibleRuntimes"]


# ---------------------------------------------------------------------- queues
def test_some_function_reads_a_queue() -> None:
    # A guard: the queue rules below would pass vacuously with no SQS event source.
    assert SQS_SOURCES


@pytest.mark.parametrize(("function", "queue", "event"), SQS_SOURCES, ids=SQS_SOURCE_IDS)
def test_every_consumed_queue_has_a_dead_letter_queue(
    function: str, queue: str, event: dict
) -> None:
    redrive = resources_of_type("AWS::SQS::Queue")[queue]["Properties"].get("RedrivePolicy")

    assert redrive, f"{queue} (read by {function}) has no RedrivePolicy"
    dead_letter = getatt_target(redrive["deadLetterTargetArn"], "Arn")
    assert dead_letter and resource_type(dead_letter) == "AWS::SQS::Queue"
    assert dead_letter != queue
    assert int(redrive["maxReceiveCount"]) >= 1


@pytest.mark.parametrize(("function", "queue", "event"), SQS_SOURCES, ids=SQS_SOURCE_IDS)
def test_every_consumed_queue_hides_a_message_for_six_times_the_function_timeout(
    function: str, queue: str, event: dict
) -> None:
    # AWS's rule: at least six times the timeout, plus the batching window.
    properties = resources_of_type("AWS::SQS::Queue")[queue]["Properties"]
    needed = 6 * function_timeout(function) + int(event.get("MaximumBatchingWindowInSeconds", 0))

    assert int(properties.get("VisibilityTimeout", 30)) >= needed


@pytest.mark.parametrize(("function", "queue", "event"), SQS_SOURCES, ids=SQS_SOURCE_IDS)
def test_every_sqs_event_source_reports_batch_item_failures(
    function: str, queue: str, event: dict
) -> None:
    assert "ReportBatchItemFailures" in event.get("FunctionResponseTypes", [])


def dead_letter_queues() -> list[str]:
    queues = resources_of_type("AWS::SQS::Queue")
    return sorted(
        {
            str(getatt_target(q["Properties"]["RedrivePolicy"]["deadLetterTargetArn"], "Arn"))
            for q in queues.values()
            if "RedrivePolicy" in q.get("Properties", {})
        }
    )


@pytest.mark.parametrize("dead_letter", dead_letter_queues())
def test_every_dead_letter_queue_keeps_messages_longer_than_its_sources(dead_letter: str) -> None:
    # A redriven message keeps its first enqueue time: a shorter retention drops it early.
    queues = resources_of_type("AWS::SQS::Queue")
    retention = int(
        queues[dead_letter]["Properties"].get("MessageRetentionPeriod", SQS_DEFAULT_RETENTION)
    )
    for name, queue in queues.items():
        redrive = queue.get("Properties", {}).get("RedrivePolicy")
        if redrive and getatt_target(redrive["deadLetterTargetArn"], "Arn") == dead_letter:
            source = int(queue["Properties"].get("MessageRetentionPeriod", SQS_DEFAULT_RETENTION))
            assert retention > source, f"{dead_letter} keeps messages no longer than {name}"


@pytest.mark.parametrize("dead_letter", dead_letter_queues())
def test_every_dead_letter_queue_has_an_alarm(dead_letter: str) -> None:
    watched = {
        str(getatt_target(dimension["Value"], "QueueName"))
        for alarm in resources_of_type("AWS::CloudWatch::Alarm").values()
        if alarm["Properties"].get("Namespace") == "AWS/SQS"
        for dimension in alarm["Properties"].get("Dimensions", [])
        if dimension.get("Name") == "QueueName"
    }

    assert dead_letter in watched


# ---------------------------------------------------------------------- tables
@pytest.mark.parametrize("table", sorted(resources_of_type("AWS::DynamoDB::Table")))
def test_every_table_is_encrypted(table: str) -> None:
    properties = resources_of_type("AWS::DynamoDB::Table")[table]["Properties"]

    assert properties.get("SSESpecification", {}).get("SSEEnabled") is True


# ---------------------------------------------------------------------- names
ENVIRONMENT_NAMES = [
    (block, variable, value)
    for block, variables in sorted(all_environments().items())
    for variable, value in sorted(variables.items())
]


NAMING_VARIABLES = [entry for entry in ENVIRONMENT_NAMES if resource_kind(entry[1])]
NAMED_RESOURCES = {
    "AWS::DynamoDB::Table",
    "AWS::SQS::Queue",
    "AWS::Events::EventBus",
    "AWS::S3::Bucket",
}
REF_VARIABLES = [
    entry
    for entry in ENVIRONMENT_NAMES
    if ref_target(entry[2]) and resource_type(str(ref_target(entry[2]))) in NAMED_RESOURCES
]


def _ids(entries: list[tuple[str, str, object]]) -> list[str]:
    return [f"{block}.{variable}" for block, variable, _ in entries]


@pytest.mark.parametrize(
    ("block", "variable", "value"), NAMING_VARIABLES, ids=_ids(NAMING_VARIABLES)
)
def test_every_variable_that_names_a_resource_refs_one_of_its_kind(
    block: str, variable: str, value: object
) -> None:
    # Given a variable such as CALL_QUEUE_URL (a queue) or CONTACTS_TABLE (a table)
    target = ref_target(value)

    # Then its value is `!Ref` to a resource of that kind (whose Ref is the name or URL)
    assert target, f"{block}: {variable} is not a !Ref: {value!r}"
    assert resource_type(target) == resource_kind(variable), (
        f"{block}: {variable} is !Ref {target}, a {resource_type(target)}"
    )


@pytest.mark.parametrize(("block", "variable", "value"), REF_VARIABLES, ids=_ids(REF_VARIABLES))
def test_every_variable_that_refs_a_table_queue_or_bus_says_so_in_its_name(
    block: str, variable: str, value: object
) -> None:
    kind = resource_type(str(ref_target(value)))

    assert resource_kind(variable) == kind, f"{block}: {variable} holds a {kind}'s name"


def test_every_variable_that_names_a_resource_is_read_by_some_settings_field() -> None:
    # A variable no settings model reads is a wiring mistake (a renamed field, a typo).
    fields = {field.upper() for model in settings_models().values() for field in model.model_fields}
    unread = sorted(
        f"{block}.{variable}"
        for block, variable, _ in ENVIRONMENT_NAMES
        if resource_kind(variable) and variable not in fields
    )

    assert not unread


FUNCTION_SETTINGS = [
    (function, model) for function in FUNCTIONS for model in sorted(settings_used_by(function))
]


@pytest.mark.parametrize(
    ("function", "model"), FUNCTION_SETTINGS, ids=[f"{f}-{m}" for f, m in FUNCTION_SETTINGS]
)
def test_every_resource_a_functions_settings_name_is_given_to_it(function: str, model: str) -> None:
    # Given a settings model the function's handler uses (e.g. ApiSettings in ApiFunction)
    environment = function_environment(function)

    # Then each table, queue or bus field of it comes from the function's environment as
    # a !Ref of the right kind; otherwise it would silently fall back to its default
    for field in resource_fields(settings_models()[model]):
        variable = field.upper()
        assert variable in environment, f"{function} uses {model}.{field} but gets no {variable}"
        target = ref_target(environment[variable])
        assert target and resource_type(target) == resource_kind(field), (
            f"{function}: {variable} should be !Ref to a {resource_kind(field)}"
        )


@pytest.mark.parametrize("function", FUNCTIONS)
def test_every_function_loads_a_settings_model(function: str) -> None:
    # A guard for the settings checks: they find the models a function loads by reading
    # its handler and the layer modules it imports (load_settings(...) or .from_env()).
    assert settings_used_by(function), f"{function} loads no settings model that is seen"


# Permissions: test_policy_arns.py (resources, resolved) and test_least_privilege.py
# (every request allowed, every grant used).
