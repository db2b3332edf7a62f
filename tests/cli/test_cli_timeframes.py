"""5min..1h bars end to end through the CLI: ingest, train, predict, backtest; the run log; ``ingest.sources``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from tftrade.cli import app
from tftrade.core.timeframes import periods_per_year

pytestmark = pytest.mark.usefixtures("initialized_home")

runner = CliRunner()
NY = "America/New_York"


def _json(args: list[str], code: int = 0) -> Any:
    result = runner.invoke(app, [*args, "--json"])
    assert result.exit_code == code, result.output
    return json.loads(result.stdout)


def test_fifteen_minute_market_trains_and_predicts_on_its_grid(monkeypatch: pytest.MonkeyPatch) -> None:
    import tftrade.forecast.prediction as prediction

    ingested = _json(["ingest", "synthetic", "--timeframe", "15min", "--tickers", "3", "--days", "22"])
    assert (ingested["timeframe"], ingested["status"], ingested["inserted"]) == ("15min", "ok", 5 * 22 * 26)
    trained = _json(["train", "--timeframe", "15min", "--epochs", "1", "--max-samples", "64"])
    assert trained["timeframe"] == "15min" and trained["tickers"] == 3

    seen: list[np.ndarray] = []
    real = prediction.future_timestamps

    def spy(last_ns: int, timeframe: Any, horizon: int) -> np.ndarray:
        out = real(last_ns, timeframe, horizon)
        seen.append(out)
        return out

    monkeypatch.setattr(prediction, "future_timestamps", spy)
    preds = _json(["predict"])["predictions"]
    assert len(preds) == 3 * 5 and {p["timeframe"] for p in preds} == {"15min"}
    assert seen, "predict did not build the future calendar inputs"
    last = pd.Timestamp(preds[0]["as_of"]).tz_convert(NY)
    assert last.strftime("%H:%M") == "15:45"  # the last 15-minute bar of the session
    future = pd.to_datetime(seen[0], unit="ns", utc=True).tz_convert(NY)
    assert [t.strftime("%H:%M") for t in future] == ["09:30", "09:45", "10:00", "10:15", "10:30"]
    assert future[0].date() > last.date()


def test_hourly_backtest_annualises_with_seven_bars_a_session() -> None:
    _json(["ingest", "synthetic", "--timeframe", "1h", "--tickers", "4", "--days", "40"])
    run = _json(["backtest", "--strategy", "sma", "--timeframe", "1h"])
    assert run["settings"]["timeframe"] == "1h" and run["settings"]["stops"]["mode"] == "atr"
    assert run["bars"] == 40 * 7 and run["sessions"] == pytest.approx(40.0)
    assert run["metrics"]["annual_volatility"] == pytest.approx(run["per_bar_volatility"] * np.sqrt(1764), rel=1e-6)
    assert periods_per_year("1h") == 1764.0


def _five_minute_csv(path: Path) -> Path:
    from tftrade.data.synthetic import SyntheticConfig, generate_market

    frame = generate_market(SyntheticConfig(n_tickers=2, days=12, seed=8, timeframe="5min")).bars_frame()
    local = frame["window_start"].dt.tz_convert(NY).dt.strftime("%Y-%m-%d %H:%M:%S")
    frame.assign(timestamp=local).drop(columns="window_start").to_csv(path, index=False)
    return path


def test_a_csv_of_five_minute_bars_is_detected_stored_and_trained_on(tmp_path: Path) -> None:
    s = _json(["ingest", "csv", str(_five_minute_csv(tmp_path / "bars_5m.csv"))])
    assert (s["timeframe"], s["status"], s["inserted"], s["quality"]["missing_bars"]) == ("5min", "ok", 2 * 12 * 78, 0)
    trained = _json(["train", "--timeframe", "5min", "--epochs", "1", "--max-samples", "64"])
    assert trained["timeframe"] == "5min" and trained["tickers"] == 2
    preds = _json(["predict"])["predictions"]
    assert len(preds) == 2 * 5 and {p["timeframe"] for p in preds} == {"5min"}
    assert _json(["train", "--timeframe", "1h"], code=1)["error"].startswith("no 1h")


def test_data_runs_shows_status_conflicts_updated_and_cause(tmp_path: Path) -> None:
    header = "timestamp,ticker,open,high,low,close,volume\n"
    good = tmp_path / "a.csv"
    good.write_text(header + "2024-03-05,AAPL,10,11,9,10.5,100\n2024-03-06,AAPL,10,11,9,10.5,100\n")
    fixed = tmp_path / "b.csv"
    fixed.write_text(header + "2024-03-05,AAPL,10,11,9,10.75,100\n")
    times = pd.date_range("2024-03-05 09:30", periods=390, freq="min", tz=NY).tz_convert("UTC")
    shifted = tmp_path / "vendor.csv"
    shifted.write_text(header + "".join(f"{t:%Y-%m-%d %H:%M:%S},MSFT,10,11,9,10.5,100\n" for t in times))
    _json(["ingest", "csv", str(good)])
    _json(["ingest", "csv", str(fixed)])
    _json(["ingest", "csv", str(fixed), "--update"])
    _json(["ingest", "csv", str(shifted)], code=1)
    runs = _json(["data", "runs"])["runs"]
    newest = runs[0]
    assert newest["status"] == "suspect" and "try --tz UTC" in newest["cause"]
    assert (runs[1]["updated"], runs[1]["conflicts"]) == (1, 1)
    assert (runs[2]["conflicts"], runs[2]["quarantined"], runs[2]["updated"]) == (1, 1, 0)
    assert runs[3]["status"] == "ok" and runs[3]["cause"] is None
    text = runner.invoke(app, ["data", "runs"], env={"COLUMNS": "250"})
    assert text.exit_code == 0
    for column in ("status", "conflicts", "updated", "cause", "suspect"):
        assert column in text.stdout


def _config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sources: dict[str, Any]) -> None:
    import yaml

    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump({"ingest": {"sources": sources}}))
    monkeypatch.setenv("TFTRADE_CONFIG", str(path))


def test_ingest_sources_set_zone_delimiter_and_date_order_per_file(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    _config(tmp_path, monkeypatch, {"vendor_*.csv": {"tz": "UTC"},
                                    "eu_*.txt": {"delimiter": "semicolon", "date_order": "dmy"}})
    times = pd.date_range("2024-03-05 09:30", periods=390, freq="min", tz=NY).tz_convert("UTC")
    utc = tmp_path / "vendor_1.csv"
    utc.write_text("timestamp,ticker,open,high,low,close,volume\n"
                   + "".join(f"{t:%Y-%m-%d %H:%M:%S},AAPL,10,11,9,10.5,100\n" for t in times))
    s = _json(["ingest", "csv", str(utc)])
    assert (s["status"], s["inserted"]) == ("ok", 390)
    # a flag beats the setting: read as New York time, the UTC file looks shifted and is held back
    other = tmp_path / "vendor_2.csv"
    other.write_text(utc.read_text().replace("AAPL", "MSFT"))
    assert _json(["ingest", "csv", str(other), "--tz", NY], code=1)["status"] == "suspect"

    eu = tmp_path / "eu_1.txt"
    eu.write_text("date;ticker;open;high;low;close;volume\n03/04/2024;SAP;10;11;9;10,5;100\n"
                  "04/04/2024;SAP;10;11;9;10,5;100\n")
    s = _json(["ingest", "csv", str(eu)])
    assert (s["status"], s["inserted"], s["timeframe"]) == ("ok", 2, "1day")
    first = _json(["data", "summary"])["tickers"]
    assert [r["first"][:10] for r in first if r["ticker"] == "SAP"] == ["2024-04-03"]  # 3 April, not 4 March
    mdy = _json(["ingest", "csv", str(eu), "--date-order", "mdy"])  # the flag wins: 03/04 is 4 March
    assert (mdy["inserted"], mdy["duplicates"]) == (1, 1)  # 04/04 reads the same either way


def test_a_bad_zone_in_ingest_sources_is_one_clear_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _config(tmp_path, monkeypatch, {"vendor_*.csv": {"tz": "Mars/Olympus"}})
    result = runner.invoke(app, ["ingest", "csv", str(tmp_path / "vendor_1.csv")])
    assert result.exit_code == 1
    assert "Mars/Olympus" in result.output and "Traceback" not in result.output
