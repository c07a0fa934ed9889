"""`/_local/faults` over HTTP (API.md "Local stack"): inject, list with firings, clear."""

import pytest

from tests.local.helpers import item

pytestmark = pytest.mark.slow


def test_a_fault_posted_is_listed_with_its_firings_and_deleted(mini_stack):
    # Given
    created = mini_stack.request(
        "POST",
        "/_local/faults",
        {"kind": "aws_error", "service": "dynamodb", "operation": "PutItem", "error": "throttle"},
    )
    assert created.status == 201
    fault = created.json()
    assert (fault["kind"], fault["count"], fault["fired"], fault["active"]) == (
        "aws_error",
        1,
        0,
        True,
    )
    # When the actor writes twice over HTTP
    first = mini_stack.request("POST", "/act", {"steps": [{"put": "a"}]})
    second = mini_stack.request("POST", "/act", {"steps": [{"put": "b"}]})
    # Then the first write was refused, the second made
    assert first.json() == {"results": [{"error": "ProvisionedThroughputExceededException"}]}
    assert second.json() == {"results": ["ok"]}
    assert item(mini_stack, "b") is not None
    [listed] = mini_stack.request("GET", "/_local/faults").json()["items"]
    assert (listed["id"], listed["fired"], listed["active"]) == (fault["id"], 1, False)
    [firing] = listed["firings"]
    assert (firing["function"], firing["request"], firing["index"], firing["at"]) == (
        "ActorFunction",
        "dynamodb.PutItem",
        0,
        "2026-11-30T14:00:00.000Z",
    )
    # And DELETE clears them
    assert mini_stack.request("DELETE", "/_local/faults").status == 204
    assert mini_stack.request("GET", "/_local/faults").json() == {"items": []}


def test_the_requests_of_each_invocation_are_listed(mini_stack):
    mini_stack.request("POST", "/act", {"steps": [{"put": "a"}, {"get": "a"}]})
    listed = mini_stack.request("GET", "/_local/faults/requests?function=ActorFunction").json()
    assert [(i["trigger"], i["requests"], i["outcome"]) for i in listed["items"]] == [
        ("http POST /act", ["dynamodb.PutItem", "dynamodb.GetItem"], "ok")
    ]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (b"{not json", None),
        ([1, 2], "(body)"),
        ({"kind": "meteor"}, "kind"),
        ({"kind": "crash", "function": "ActorFunction", "after": "nothing"}, "after"),
        ({"kind": "crash", "function": "Nobody", "after": "dynamodb.PutItem"}, "function"),
        ({"kind": "skip_ticks", "minutes": "five"}, "minutes"),
        ({"kind": "provider_timeout", "seconds": 10, "count": -2}, "count"),
    ],
)
def test_a_bad_fault_is_a_400_in_the_error_shape_and_injects_nothing(mini_stack, body, field):
    answer = mini_stack.request("POST", "/_local/faults", body)
    assert answer.status == 400
    error = answer.json()["error"]
    assert error["code"] in ("validation_error", "invalid_json") and error["message"]
    if field is not None:
        assert field in [d["field"] for d in error["details"]]
    assert mini_stack.request("GET", "/_local/faults").json() == {"items": []}
