"""The docs in the repository: the API reference follows the OpenAPI document, and every
link of the README and docs/ leads somewhere a clone has."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from tests.support.template import ROOT, load_template, resources_of_type
from tools.api_docs import API_DOC, MARKER, anchor, openapi_document, reference, render

DOCS = sorted((ROOT / "docs").glob("*.md"))
PAGES = [ROOT / "README.md", *DOCS]
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
HEADING = re.compile(r"^#{1,6} +(.+?) *$", re.MULTILINE)
FENCE = re.compile(r"^```.*?^```", re.MULTILINE | re.DOTALL)


def test_the_committed_api_reference_is_what_the_openapi_document_gives() -> None:
    # Given the API reference as committed
    committed = API_DOC.read_text()

    # When it is generated again from the document GET /openapi.json serves
    fresh = render(committed, openapi_document())

    # Then nothing changes (else: run `make docs` and commit docs/api.md)
    assert fresh == committed, "docs/api.md is stale: run `make docs`"


def test_every_operation_of_the_openapi_document_has_a_section_in_the_reference() -> None:
    document = openapi_document()
    generated = API_DOC.read_text().split(MARKER, 1)[1]

    for path, operations in document["paths"].items():
        for method in operations:
            assert f"### `{method.upper()} {path}`" in generated


SMALL_DOCUMENT: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {"title": "Demo API", "version": "2.0.0"},
    "security": [{"bearer": []}],
    "paths": {
        "/things/{thing_id}": {
            "delete": {"summary": "DELETE /things/{thing_id}", "responses": {"204": {}}},
            "get": {
                "summary": "One thing",
                "parameters": [
                    {
                        "name": "thing_id",
                        "in": "path",
                        "required": True,
                        "schema": {"type": "string", "maxLength": 40},
                    }
                ],
                "responses": {
                    "404": {
                        "description": "Unknown thing",
                        "content": {
                            "application/json": {"schema": {"$ref": "#/components/schemas/Error"}}
                        },
                    },
                    "200": {
                        "description": "The thing",
                        "content": {
                            "application/json": {
                                "schema": {"$ref": "#/components/schemas/Thing"},
                                "examples": {"one": {"summary": "A red one", "value": {"c": 1}}},
                            }
                        },
                    },
                },
            },
        },
        "/openapi.json": {"get": {"security": [], "responses": {"200": {}}}},
    },
    "components": {
        "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        "schemas": {
            "Thing": {
                "description": "A thing.",
                "properties": {
                    "colour": {"anyOf": [{"enum": ["red", "blue"]}, {"type": "null"}]},
                    "sizes": {
                        "type": "array",
                        "items": {"type": "integer", "minimum": 1.0},
                        "maxItems": 3,
                    },
                    "count": {"type": "integer", "default": 2, "description": "How many."},
                },
                "required": ["sizes"],
                "additionalProperties": False,
                "examples": [{"sizes": [2]}, {"colour": "red", "sizes": []}],
            },
            "Error": {"type": "object"},
        },
    },
}


def test_the_reference_lists_operations_in_path_order_with_their_auth_and_parameters() -> None:
    text = reference(SMALL_DOCUMENT)

    # Operations by path, GET before DELETE; a summary that only repeats the route is left out
    assert text.index("### `GET /openapi.json`") < text.index("### `GET /things/{thing_id}`")
    assert text.index("### `GET /things/{thing_id}`") < text.index("### `DELETE /things/")
    assert "- `GET /things/{thing_id}`: One thing" in text
    assert "- `DELETE /things/{thing_id}`\n" in text
    # The document-wide security applies unless an operation says none
    assert "Authentication: bearer (bearer)." in text
    openapi_section = text.split("### `GET /openapi.json`")[1].split("###")[0]
    assert "Authentication: none." in openapi_section
    assert "| `thing_id` | path | string | yes | length ≤ 40 |" in text


def test_the_reference_shows_responses_examples_and_schemas_as_tables() -> None:
    text = reference(SMALL_DOCUMENT)

    assert "| `200` | The thing | [Thing](#thing) |" in text
    assert "| `404` | Unknown thing | [Error](#error) |" in text
    assert '`200` A red one:\n\n```json\n{\n  "c": 1\n}\n```' in text
    assert "### Thing\n\nA thing.\n" in text
    assert '| `colour` | `"red"` \\| `"blue"` \\| null | no |  |' in text
    assert "| `sizes` | array of integer | yes | ≤ 3 items, each ≥ 1 |" in text
    assert "| `count` | integer | no | How many; default `2` |" in text
    assert "Other fields are refused." in text
    assert 'Example 1:\n\n```json\n{\n  "sizes": [\n    2\n  ]\n}\n```' in text
    assert 'Example 2:\n\n```json\n{\n  "colour": "red",' in text


def test_regenerating_keeps_the_prose_and_replaces_only_the_reference() -> None:
    current = f"# Title\n\nProse.\n\n{MARKER}\n\nan old reference\n"

    fresh = render(current, SMALL_DOCUMENT)

    assert fresh.startswith(f"# Title\n\nProse.\n\n{MARKER}\n\n## Reference\n")
    assert "an old reference" not in fresh


def test_a_file_without_the_marker_is_refused_rather_than_overwritten() -> None:
    with pytest.raises(ValueError, match="no marker line"):
        render("# Title\n\nProse only.\n", SMALL_DOCUMENT)


# ---------------------------------------------------------------------- links
def _links(page: Path) -> list[str]:
    return LINK.findall(FENCE.sub("", page.read_text()))


def _anchors(page: Path) -> set[str]:
    return {anchor(h.replace("`", "")) for h in HEADING.findall(FENCE.sub("", page.read_text()))}


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_page_links_outside_the_repository(page: Path) -> None:
    text = page.read_text()
    assert "../shared" not in text
    for target in _links(page):
        if target.startswith(("http://", "https://", "#", "mailto:")):
            continue
        resolved = (page.parent / target.split("#")[0]).resolve()
        assert resolved.is_relative_to(ROOT), target


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_and_anchor_exists(page: Path) -> None:
    for target in _links(page):
        if target.startswith(("http://", "https://", "mailto:")):
            continue
        file_part, _, fragment = target.partition("#")
        destination = (page.parent / file_part).resolve() if file_part else page
        assert destination.exists(), f"{page.name}: {target} leads nowhere"
        if fragment and destination.suffix == ".md":
            assert fragment in _anchors(destination), f"{page.name}: no heading for {target}"


def test_docs_holds_the_reference_the_rules_the_deploy_guide_and_the_runbook() -> None:
    names = {page.name for page in DOCS}
    assert {
        "api.md",
        "planning.md",
        "delivery.md",
        "compliance.md",
        "events.md",
        "deploy.md",
        "runbook.md",
    } <= names


# ---------------------------------------------------------------------- the deploy guide
DEPLOY = ROOT / "docs" / "deploy.md"


def test_the_deploy_guide_names_every_parameter_and_output_of_the_template() -> None:
    guide = DEPLOY.read_text()
    template = load_template()

    for name in [*template["Parameters"], *template["Outputs"]]:
        assert f"`{name}`" in guide, f"docs/deploy.md does not name {name}"


def test_the_deploy_guide_covers_every_alarm_of_the_template() -> None:
    # Given the alarm names of the guide, where <Function> and <Table> stand for each one
    functions = [n.removesuffix("Function") for n in resources_of_type("AWS::Serverless::Function")]
    tables = list(resources_of_type("AWS::DynamoDB::Table"))
    alarms_section = DEPLOY.read_text().split("## Alarms", 1)[1].split("\n## ", 1)[0]
    patterns = [
        re.escape(name)
        .replace(re.escape("<Function>"), "(" + "|".join(functions) + ")")
        .replace(re.escape("<Table>"), "(" + "|".join(tables) + ")")
        for name in re.findall(r"`([<>A-Za-z0-9]+Alarm)`", alarms_section)
    ]

    # Then each alarm of the template is one of them
    for alarm in resources_of_type("AWS::CloudWatch::Alarm"):
        assert any(re.fullmatch(p, alarm) for p in patterns), f"{alarm} is not in deploy.md"
