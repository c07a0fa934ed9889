"""template.yaml passes cfn-lint (errors and warnings), exactly as `cfn-lint template.yaml`."""

from __future__ import annotations

from cfnlint.api import lint_file

from tests.support.template import TEMPLATE


def test_the_template_passes_cfn_lint() -> None:
    matches = lint_file(TEMPLATE)

    assert not matches, "cfn-lint:\n" + "\n".join(
        f"  {m.rule.id} line {m.linenumber}: {m.message}" for m in matches
    )
