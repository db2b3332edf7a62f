"""Under ``--json`` even a usage error (bad value, unknown option, missing option) is one ``{"error", "kind"}`` line."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from tftrade.cli import app

runner = CliRunner()


@pytest.mark.parametrize(("args", "words"), [
    (["tax", "8949", "--year", "abc"], "--year"),
    (["orders", "--bogus"], "--bogus"),
    (["tax", "8949"], "--year"),
    (["no-such-command"], "no-such-command"),
    (["data", "quarantine", "--limit", "0"], "--limit"),
])
def test_usage_errors_are_one_json_document(args: list[str], words: str) -> None:
    result = runner.invoke(app, [*args, "--json"])
    assert result.exit_code == 2
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 1, result.output
    error = json.loads(lines[0])
    assert error["kind"] == "usage" and words in error["error"]


def test_without_json_usage_errors_keep_the_usual_help() -> None:
    result = runner.invoke(app, ["tax", "8949", "--year", "abc"])
    assert result.exit_code == 2 and "Usage: " in result.output and not result.stdout.lstrip().startswith("{")


def test_a_command_failing_under_json_keeps_exit_1() -> None:
    result = runner.invoke(app, ["data", "summary", "--json"])  # no database yet
    assert result.exit_code == 1 and json.loads(result.stdout)["kind"] == "store"
