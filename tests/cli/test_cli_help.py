"""Every command's ``--help`` reads well: its description as flowing paragraphs, and ``--json`` offered."""

from __future__ import annotations

import inspect
from collections.abc import Iterator

import pytest
import typer
from typer.testing import CliRunner

from tftrade.cli import app

runner = CliRunner()


def _commands(typer_app: typer.Typer, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], str]]:
    for info in typer_app.registered_commands:
        assert info.callback is not None
        name = info.name or info.callback.__name__.replace("_", "-")
        yield (*path, name), info.help or inspect.getdoc(info.callback) or ""
    for group in typer_app.registered_groups:
        assert group.typer_instance is not None and group.name is not None
        yield from _commands(group.typer_instance, (*path, group.name))


COMMANDS = list(_commands(app))


def test_the_walk_found_the_commands() -> None:
    names = {" ".join(p) for p, _ in COMMANDS}
    assert {"ingest csv", "stream massive", "orders", "serve", "apikey create", "tax 8949",
            "compliance report"} <= names


@pytest.mark.parametrize(("path", "doc"), COMMANDS, ids=[" ".join(p) for p, _ in COMMANDS])
def test_help_flows_its_paragraphs_and_offers_json(path: tuple[str, ...], doc: str) -> None:
    result = runner.invoke(app, [*path, "--help"], env={"COLUMNS": "1000", "TERMINAL_WIDTH": "1000"})
    assert result.exit_code == 0, result.output
    assert "--json" in result.output
    shown = [" ".join(line.split()) for line in result.output.splitlines()]
    for paragraph in doc.split("\n\n"):
        words = " ".join(paragraph.split()).replace("``", "`")
        assert any(words in line for line in shown), (words, result.output)  # one paragraph, one line
    assert "``" not in result.output


def test_python_dash_m_tftrade_runs_the_cli() -> None:
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-m", "tftrade", "--help"], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and "Temporal Fusion Transformer" in out.stdout
