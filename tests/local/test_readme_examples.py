"""The README's examples work as a reader runs them, on any day.

The `sh` blocks under "Try it" (and the local block of "API keys and tenants") go
through bash with the real curl against a local stack on free ports, exactly as written
but for the API's address (and the moto port the banner prints). A wrapper around curl
records each request's status and answer: every request must answer 2xx, or the status
the README announces ("answers 202"). Ids are taken the way the README tells the reader
to (`get_id`, a `python3` one-liner). The clock of the stack is simulated and starts at
the moment the shell's `date` says it is: today, and a Friday night before a DST change.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from local_stack import LocalStack
from tests.support.template import ROOT

README = ROOT / "README.md"
BASH = shutil.which("bash") or "/bin/bash"
REAL_DATE = shutil.which("date") or "/usr/bin/date"
README_API = "API=http://127.0.0.1:3000"
ANSWERS = re.compile(r"answers (\d{3})")
CURL = re.compile(r"(^|\$\(|\|)\s*curl\s")
MAKE_LOCAL = re.compile(r"^((?:[A-Z_]+=\S+\s+)*)make local\b")

# Every curl of the script goes through this: status and body of request n land in
# $README_LOG/n.status and n.body (a file counter, since $(...) runs in a subshell).
CURL_WRAPPER = """\
set -euo pipefail
curl() {
  local n
  n=$(( $(cat "$README_LOG/count") + 1 ))
  echo "$n" > "$README_LOG/count"
  command curl -w '%{stderr}%{http_code}' "$@" 2>"$README_LOG/$n.status" | tee "$README_LOG/$n.body"
}
"""


@dataclass(frozen=True)
class Command:
    text: str
    expected: int | None  # the status the README announces, else any 2xx


@dataclass(frozen=True)
class Answer:
    status: int
    body: str

    def json(self) -> Any:
        return json.loads(self.body)


def iso_z(instant: datetime) -> str:
    return instant.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


# ---------------------------------------------------------------------- reading the README
def section(title: str) -> str:
    text = README.read_text()
    start = text.index(f"\n## {title}\n")
    end = text.find("\n## ", start + 1)
    return text[start : end if end >= 0 else None]


def sh_blocks(text: str) -> list[str]:
    return re.findall(r"^```sh\n(.*?)^```", text, re.MULTILINE | re.DOTALL)


def _code_and_comment(line: str) -> tuple[str, str]:
    """A line split at its comment: a `#` outside quotes, at the start or after a space."""
    quote = None
    for index, char in enumerate(line):
        if quote:
            quote = None if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char == "#" and (index == 0 or line[index - 1].isspace()):
            return line[:index], line[index + 1 :]
    return line, ""


def _open_quote(text: str) -> bool:
    """Whether a single-quoted string is still open at the end of the text (comments,
    from an unquoted `#` to the end of its line, do not count)."""
    quote = None
    comment = False
    for index, char in enumerate(text):
        if comment:
            comment = char != "\n"
        elif quote:
            quote = None if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char == "#" and (index == 0 or text[index - 1].isspace()):
            comment = True
    return quote == "'"


def commands(block: str) -> list[Command]:
    """The block's commands that call curl, each with the status its comments announce
    (in the comment lines right above it, or on its own line)."""
    found: list[Command] = []
    comments: list[str] = []
    lines = block.splitlines()
    index = 0
    while index < len(lines):
        code, comment = _code_and_comment(lines[index])
        if not code.strip():
            # Consecutive comment lines describe the next command; a blank line ends them.
            comments = [*comments, comment] if comment else []
            index += 1
            continue
        text = lines[index]
        while _open_quote(text) and index + 1 < len(lines):
            index += 1
            text += "\n" + lines[index]
        trailing = _code_and_comment(text.splitlines()[-1])[1] if "\n" in text else comment
        if CURL.search(text.split("\n", 1)[0]):
            announced = ANSWERS.findall(" ".join([*comments, trailing]))
            found.append(Command(text, int(announced[-1]) if announced else None))
        comments = []
        index += 1
    return found


# ---------------------------------------------------------------------- running it
def date_shim(directory: Path, now: datetime) -> None:
    """`date` as if it were `now`: what a reader's shell says on that day (GNU date)."""
    shim = directory / "date"
    shim.write_text(
        f"#!{sys.executable}\n"
        "import subprocess, sys\n"
        f"now = {now.strftime('%Y-%m-%d %H:%M:%S UTC')!r}\n"
        "args, out, given = sys.argv[1:], [], False\n"
        "while args:\n"
        "    arg = args.pop(0)\n"
        "    if arg == '-d':\n"
        "        out += ['-d', now + ' ' + args.pop(0)]\n"
        "        given = True\n"
        "    else:\n"
        "        out.append(arg)\n"
        f"sys.exit(subprocess.call([{REAL_DATE!r}, *([] if given else ['-d', now]), *out]))\n"
    )
    shim.chmod(0o755)


def run_script(script: str, work: Path, env: dict[str, str] | None = None) -> list[Answer]:
    """Run the script with bash; the answers of its curl requests, in order."""
    log = work / "log"
    log.mkdir()
    (log / "count").write_text("0\n")
    environment = {
        "PATH": f"{work / 'bin'}:{Path(sys.executable).parent}:{os.environ.get('PATH', '')}",
        "HOME": str(work),
        "README_LOG": str(log),
        # The admin command of the README finds the layer package as Lambda does.
        "PYTHONPATH": str(ROOT / "layers/common"),
        **(env or {}),
    }
    result = subprocess.run(
        [BASH, "-c", CURL_WRAPPER + script],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, f"the README's commands failed:\n{result.stderr[-3000:]}"
    count = int((log / "count").read_text())
    return [
        Answer(int((log / f"{n}.status").read_text() or 0), (log / f"{n}.body").read_text())
        for n in range(1, count + 1)
    ]


def check_answers(block: str, answers: list[Answer]) -> None:
    expected = commands(block)
    assert len(answers) == len(expected), "every curl of the README ran once"
    for command, answer in zip(expected, answers, strict=True):
        first_line = command.text.splitlines()[0]
        if command.expected is not None:
            assert answer.status == command.expected, f"{first_line}\n{answer.body}"
        else:
            assert 200 <= answer.status < 300, f"{first_line}\n{answer.status} {answer.body}"


def setup_lines(block: str) -> str:
    """The lines before the first step: the keys, the address, the date, get_id."""
    return block.split("\n\n", 1)[0] + "\n"


def for_stack(block: str, stack: LocalStack) -> str:
    assert README_API in block.splitlines(), "the README sets API=http://127.0.0.1:3000"
    return block.replace(README_API, f"API={stack.base_url}")


def make_local_settings(block: str) -> tuple[str, dict[str, str]]:
    """The block without its `make local` line (run in another terminal), and the
    environment that line gives the stack."""
    kept, settings = [], {}
    for line in block.splitlines():
        match = MAKE_LOCAL.match(line)
        if match:
            settings = dict(item.split("=", 1) for item in match.group(1).split())
        else:
            kept.append(line)
    return "\n".join(kept) + "\n", settings


# ---------------------------------------------------------------------- the tests
def test_the_readme_examples_are_found_and_use_no_placeholder() -> None:
    first, simulated = sh_blocks(section("Try it"))

    assert len(commands(first)) >= 10
    assert next(c.expected for c in commands(first)) == 201
    assert any(c.expected == 202 for c in commands(first))
    assert len(commands(make_local_settings(simulated)[0])) >= 4
    for block in (first, simulated):
        assert not re.search(r"<[a-z_ ]+>", block), "a placeholder the reader cannot fill"


@pytest.mark.parametrize(
    "today",
    [None, datetime(2027, 3, 12, 23, 30, tzinfo=UTC)],
    ids=["today", "friday-night-before-dst"],
)
def test_the_first_examples_answer_as_the_readme_says_on_any_day(
    start_local_stack: Callable[..., LocalStack], tmp_path: Path, today: datetime | None
) -> None:
    # Given a local stack whose clock is where the reader's shell says it is
    (tmp_path / "bin").mkdir()
    if today is not None:
        date_shim(tmp_path / "bin", today)
    now = today or datetime.now(UTC)
    stack = start_local_stack(clock="simulated", clock_start=now)
    block = sh_blocks(section("Try it"))[0]

    # When the reader pastes the README's first block
    answers = run_script(for_stack(block, stack), tmp_path)

    # Then every request answers as announced
    check_answers(block, answers)
    # And the campaign was planned: both contacts scheduled, on a working day in New York
    created, planned = answers[0].json(), answers[1].json()
    assert created["status"] == "scheduled"
    assert [c["status"] for c in planned["items"]] == ["scheduled", "scheduled"]
    first_call = datetime.fromisoformat(planned["items"][0]["scheduled_at"])
    assert first_call > now
    if today is not None:
        # Saturday 2027-03-13 09:00 is not a working day: Monday 09:00 EDT, after the change
        assert planned["items"][0]["scheduled_at"] == "2027-03-15T13:00:00.000Z"
    # And the draft of option B was scheduled, the first campaign ended cancelled
    assert answers[-2].json()["status"] == "cancelled"
    assert "/batch-calls" in answers[-1].json()["paths"]


def test_the_simulated_clock_example_places_the_calls_and_reports_them(
    start_local_stack: Callable[..., LocalStack], tmp_path: Path
) -> None:
    # Given the stack started as the README's `make local` line says
    first, simulated = sh_blocks(section("Try it"))
    script, settings = make_local_settings(simulated)
    assert settings["CLOCK"] == "simulated"
    options = LocalStack.options_from_env(settings)
    options.update(port=0, provider_port=None)
    stack = start_local_stack(**options)
    (tmp_path / "bin").mkdir()

    # When the reader runs it with the settings of the first block
    answers = run_script(for_stack(setup_lines(first) + script, stack), tmp_path)

    # Then every request answers as announced
    check_answers(script, answers)
    # And both numbers were dialled, their outcomes reached the sink, as the README says
    calls = answers[2].json()["items"]
    assert sorted(call["to"] for call in calls) == ["+12125550101", "+12125550104"]
    hooks = answers[3].json()["items"]
    received = [json.loads(h["raw_body"]) for h in hooks if "/webhook-sink/calls" in h["url"]]
    assert sorted(body["status"] for body in received) == ["COMPLETED", "NO_ANSWER"]
    # And one contact completed; the other, no_answer, has its retry an hour later
    contacts = {c["phone_number"]: c for c in answers[4].json()["items"]}
    assert contacts["+12125550104"]["status"] == "completed"
    retried = contacts["+12125550101"]
    assert (retried["attempts"], retried["last_outcome"]) == (1, "no_answer")
    assert retried["status"] in ("scheduled", "queued")
    ended = next(c["ended_at"] for c in calls if c["to"] == "+12125550101")
    assert retried["scheduled_at"] == iso_z(datetime.fromisoformat(ended) + timedelta(hours=1))


def test_the_api_key_examples_create_list_and_revoke_a_key_on_the_local_stack(
    start_local_stack: Callable[..., LocalStack], tmp_path: Path
) -> None:
    # Given a local stack and the README's local block of "API keys and tenants"
    stack = start_local_stack(clock="simulated", clock_start=datetime.now(UTC))
    first = sh_blocks(section("Try it"))[0]
    local = next(b for b in sh_blocks(section("API keys and tenants")) if "<moto port>" in b)
    moto_port = stack.moto_url.rsplit(":", 1)[1]
    (tmp_path / "bin").mkdir()

    # When the reader runs it, with the moto port the banner prints
    script = for_stack(setup_lines(first), stack) + local.replace("<moto port>", moto_port)
    answers = run_script(script, tmp_path)

    # Then the new key worked until it was revoked, as announced
    check_answers(local, answers)
    assert [a.status for a in answers] == [200, 401]
