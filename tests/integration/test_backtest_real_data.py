"""`tftrade backtest` / `report` on real data in PostgreSQL: sp500_daily with sectors, ^GSPC and VIX."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from tftrade.cli import app

runner = CliRunner()
TICKERS = ["AAPL", "MSFT", "JPM", "XOM", "JNJ", "PG", "WMT", "CVX", "BAC", "PFE", "KO", "INTC", "CSCO", "T", "MRK",
           "PEP", "HD", "DIS", "MCD", "BA", "IBM", "MMM", "NKE", "GS"]


def _json(args: list[str]) -> dict:  # type: ignore[type-arg]
    result = runner.invoke(app, [*args, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)  # type: ignore[no-any-return]


@pytest.fixture
def sp500_store(shared_data: Path, pg_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("TFTRADE_DATABASE_URL", pg_url)
    with gzip.open(shared_data / "sp500_daily" / "all_stocks_5yr.csv.gz", "rt") as f:
        frame = pd.read_csv(f)
    subset = tmp_path / "subset.csv"
    frame[frame["Name"].isin(TICKERS)].to_csv(subset, index=False)
    index = shared_data / "index"
    _json(["db", "init"])
    _json(["ingest", "csv", str(subset)])
    _json(["ingest", "securities", str(shared_data / "sp500_daily" / "constituents_2018-04-02.csv")])
    _json(["ingest", "csv", str(index / "arch_sp500_GSPC_daily.csv"), "--ticker", "^GSPC"])
    _json(["ingest", "csv", str(index / "arch_vix_daily.csv"), "--ticker", "^VIX", "--map", "price=vix"])
    return tmp_path


def test_tft_backtest_on_sp500_daily_with_sectors_benchmark_and_vix(sp500_store: Path) -> None:
    bt = _json(["backtest", "--timeframe", "1day", "--start", "2017-06-01", "--epochs", "1", "--max-samples",
                "2000", "--rebalance-every", "1"])
    assert bt["benchmark"] == "^GSPC" and bt["tickers"] == len(TICKERS)
    assert bt["start"].startswith("2017-06-01") and bt["end"].startswith("2018-02-07")
    assert bt["decisions"] > 150 and bt["trades"] > 0
    assert any("VIX 37.3 above 35" in n for n in bt["notes"]), bt["notes"]  # 2018-02-05 closed at 37.32
    summary = json.loads((Path(bt["path"]) / "summary.json").read_text())
    assert set(summary["importance"]) == {"static", "encoder", "decoder"}
    rep = _json(["report", bt["run_id"]])
    html = Path(rep["report"]).read_text()
    assert "Attribution" in html and "Information Technology" in html
