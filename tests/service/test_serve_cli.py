"""``tftrade serve`` says "serving" only once it listens; a port in use is one clear error."""

from __future__ import annotations

import json
import socket

from typer.testing import CliRunner

from tftrade.cli import app

runner = CliRunner()


def test_a_port_in_use_is_one_json_error_and_no_serving_event() -> None:
    assert runner.invoke(app, ["db", "init"]).exit_code == 0
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        result = runner.invoke(app, ["serve", "--port", str(port), "--no-model", "--json"])
    assert result.exit_code == 1
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 1, result.stdout  # no "serving" document before the failure
    error = json.loads(lines[0])
    assert error["kind"] == "io" and f"cannot listen on 127.0.0.1:{port}" in error["error"]
    assert "Traceback" not in result.output
