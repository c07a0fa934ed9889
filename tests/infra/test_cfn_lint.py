"""template.yaml passes cfn-lint (errors and warnings) with the serverless rules
(cfn-lint-serverless), exactly as `cfn-lint template.yaml -a cfn_lint_serverless.rules`
in `make test`: each finding is fixed, or ignored in the resource's Metadata with why."""

from __future__ import annotations

from pathlib import Path

from cfnlint.api import ManualArgs, lint_file

from tests.support.template import TEMPLATE

SERVERLESS_RULES = "cfn_lint_serverless.rules"


def test_the_template_passes_cfn_lint_with_the_serverless_rules() -> None:
    matches = lint_file(TEMPLATE, ManualArgs(append_rules=[SERVERLESS_RULES]))

    assert not matches, "cfn-lint:\n" + "\n".join(
        f"  {m.rule.id} line {m.linenumber}: {m.message}" for m in matches
    )


def test_the_serverless_rules_are_applied(tmp_path: Path) -> None:
    # A guard: without its ignore, a serverless rule (WS1004, log retention) reports the
    # functions, so the rules are loaded (else the test above would pass vacuously).
    bare = tmp_path / "template.yaml"
    bare.write_text(TEMPLATE.read_text().replace("ignore_checks: [WS1004]", "ignore_checks: []"))

    matches = lint_file(bare, ManualArgs(append_rules=[SERVERLESS_RULES]))

    assert "WS1004" in {m.rule.id for m in matches}
