"""``tftrade serve`` says "serving" only once it listens; a port in use is one clear error; stored forecasts
and ``--no-model`` start a service that is ready."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
from typer.testing import CliRunner

from tftrade.cli import app

runner = CliRunner()
if TYPE_CHECKING:
    from tests.conftest import CliWorkspace



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


def test_serve_no_model_starts_with_stored_forecasts_and_is_ready(tmp_path: Path,
                                                                  cli_workspace: CliWorkspace) -> None:
    """Audit G1 (start-up failed on the stored forecasts' ``Decimal``) and G3 (``/ready`` 503 "model" for ever)."""
    from datetime import UTC, datetime

    from tftrade.forecast.prediction import Forecast, write_predictions
    from tftrade.store.engine import make_engine

    env, cli, key = cli_workspace.env, cli_workspace.cli, cli_workspace.key
    store = make_engine(f"sqlite:///{tmp_path / 'tftrade.db'}")
    write_predictions(store, [Forecast(ticker="AAPL", horizon=1, as_of=datetime(2024, 3, 1, tzinfo=UTC),
                                       current_price=187.25, q10=-0.01, q50=0.001, q90=0.01, predicted_return=0.001,
                                       confidence_score=0.4, timeframe="1min", model_version="1", features_hash="h",
                                       stale=True, bar_age_seconds=90.5)])
    store.dispose()
    with subprocess.Popen([*cli, "serve", "--port", "0", "--no-model", "--json"], env=env, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True) as proc:
        try:
            assert proc.stdout is not None
            first = proc.stdout.readline()
            while first and not first.rstrip().endswith("}"):  # the serving document (indented JSON)
                first += proc.stdout.readline()
            assert '"serving"' in first, (first, proc.stderr.read() if proc.stderr else "")
            url = json.loads(first)["url"]
            with httpx.Client(base_url=url, headers={"X-API-Key": key}, timeout=30) as client:
                row, = client.get("/predictions").json()["predictions"]
                ready = client.get("/ready")
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.communicate(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.communicate()
    assert row["bar_age_seconds"] == 90.5 and row["stale"] is True and row["current_price"] == 187.25
    assert ready.status_code == 200, ready.text
    assert ready.json()["checks"]["model"] == {"ok": True, "required": False,
                                               "detail": "not required: this service serves no model"}
