"""The CLI as a user types it: --json documents on stdout, one-line errors, masked secrets."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tftrade.cli import app
from tftrade.store.migrate import head_revision

runner = CliRunner()


def _json(args: list[str]) -> dict:  # type: ignore[type-arg]
    result = runner.invoke(app, [*args, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)  # type: ignore[no-any-return]


def test_db_init_creates_then_reports_current(_isolated_home: Path) -> None:
    first = _json(["db", "init"])
    assert first["changed"] and first["revision"] == head_revision() and (_isolated_home / "tftrade.db").exists()
    assert not _json(["db", "init"])["changed"]


@pytest.mark.usefixtures("initialized_home")
def test_ingest_csv_summary_and_data_commands(tmp_path: Path) -> None:
    p = tmp_path / "x.csv"
    p.write_text("date,open,high,low,close,volume\n2024-01-02,1,2,0.5,1.5,10\n2024-01-03,1,2,0.5,3,10\n")
    s = _json(["ingest", "csv", str(p), "--ticker", "xyz"])
    assert (s["inserted"], s["quarantined"], s["timeframe"]) == (1, 1, "1day")
    summary = _json(["data", "summary"])["tickers"]
    assert summary == [{"ticker": "XYZ", "timeframe": "1day", "rows": 1, "first": "2024-01-02T05:00:00+00:00",
                        "last": "2024-01-02T05:00:00+00:00", "price_only": False}]
    q = _json(["data", "quarantine"])
    assert q["total"] == 1 and "high 2.0 below max(open, close) 3.0" in q["rows"][0]["reason"]
    assert _json(["data", "runs"])["runs"][0]["inserted"] == 1


@pytest.mark.usefixtures("initialized_home")
def test_ingest_synthetic_reports_planted_parameters() -> None:
    s = _json(["ingest", "synthetic", "--tickers", "3", "--days", "1", "--seed", "4"])
    assert s["inserted"] == 3 * 390 + 2 * 390  # three tickers plus ^VIX and ^MKT
    assert s["tickers"] == ["AAPL", "MSFT", "NVDA"] and s["planted"]["sentiment_lead_bars"] == 5


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["ingest", "csv", "/no/such.csv"], "no such file"),
        (["ingest", "csv", "/etc/hostname", "--timeframe", "5min"], "timeframe '5min' is not one of"),
        (["ingest", "csv", "/etc/hostname", "--map", "oops"], "is not FIELD=COLUMN"),
    ],
)
@pytest.mark.usefixtures("initialized_home")
def test_errors_are_one_line_and_exit_nonzero(args: list[str], message: str) -> None:
    result = runner.invoke(app, args)
    assert result.exit_code == 1
    assert message in result.stderr and "Traceback" not in result.output
    assert len(result.stderr.strip().splitlines()) == 1


def test_config_show_masks_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TFTRADE_VENDORS__ALPACA_SECRET_KEY", "s3cret-value")
    monkeypatch.setenv("TFTRADE_DATABASE_URL", "postgresql://u:pw-value@127.0.0.1:1/x")
    result = runner.invoke(app, ["config", "show", "--json"])
    assert result.exit_code == 0
    assert "s3cret-value" not in result.stdout and "pw-value" not in result.stdout
    cfg = json.loads(result.stdout)
    assert cfg["vendors"]["alpaca_secret_key"] == "***" and cfg["database_url"] == "postgresql://u:***@127.0.0.1:1/x"


def test_unknown_config_key_is_rejected(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text("home: /tmp/x\nrisk_limt: 3\n")
    monkeypatch.setenv("TFTRADE_CONFIG", str(cfg))
    result = runner.invoke(app, ["config", "show"])
    assert result.exit_code == 1 and "risk_limt" in result.stderr


def test_unreachable_database_is_one_clear_line_without_password(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TFTRADE_DATABASE_URL", "postgresql://u:hunter2@127.0.0.1:9/x")
    result = runner.invoke(app, ["data", "summary"])
    assert result.exit_code == 1 and "cannot connect to database" in result.stderr
    assert "hunter2" not in result.output
