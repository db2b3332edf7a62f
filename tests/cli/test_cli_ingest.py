"""``tftrade ingest csv`` as a user types it on real-world files: one-line verdicts and errors (#13 §1)."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from tftrade.cli import app

pytestmark = pytest.mark.usefixtures("initialized_home")

runner = CliRunner()
HEADER = "timestamp,ticker,open,high,low,close,volume\n"


@pytest.fixture(autouse=True)
def _db() -> None:
    assert runner.invoke(app, ["db", "init"]).exit_code == 0


def _utc_minutes(path: Path) -> Path:
    times = pd.date_range("2024-03-05 09:30", periods=390, freq="min", tz="America/New_York").tz_convert("UTC")
    path.write_text(HEADER + "".join(f"{t:%Y-%m-%d %H:%M:%S},AAPL,10,11,9,10.5,100\n" for t in times))
    return path


def test_utc_file_gets_one_line_with_the_cause_and_exit_1(tmp_path: Path) -> None:
    p = _utc_minutes(tmp_path / "vendor_export.csv")
    result = runner.invoke(app, ["ingest", "csv", str(p), "--json"])
    assert result.exit_code == 1
    doc = json.loads(result.stdout)
    assert doc["status"] == "suspect" and doc["inserted"] == 0 and doc["held_back"] == 390
    lines = [ln for ln in result.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("suspect: vendor_export.csv:") and "try --tz UTC" in lines[0]
    assert "most common reason: outside trading hours" in lines[0]
    ok = runner.invoke(app, ["ingest", "csv", str(p), "--tz", "UTC", "--json"])
    assert ok.exit_code == 0 and json.loads(ok.stdout)["status"] == "ok"
    table = runner.invoke(app, ["ingest", "csv", str(_utc_minutes(tmp_path / "again.csv"))],
                          env={"COLUMNS": "200"})
    assert "held_back" in table.stdout  # the table shows where the rows went (inserted 0, quarantined 0)


def test_source_tz_sets_the_zone_per_file(tmp_path: Path) -> None:
    p = _utc_minutes(tmp_path / "vendor_export.csv")
    result = runner.invoke(app, ["ingest", "csv", str(p), "--source-tz", "vendor_*.csv=UTC", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["inserted"] == 390


def test_truncated_gzip_is_one_line_not_aborted(tmp_path: Path) -> None:
    p = tmp_path / "bars.csv.gz"
    whole = gzip.compress((HEADER + "2024-01-03 10:00,AAPL,10,11,9,10.5,100\n" * 3000).encode())
    p.write_bytes(whole[: len(whole) // 2])
    result = runner.invoke(app, ["ingest", "csv", str(p)])
    assert result.exit_code == 1 and "Aborted" not in result.output and "Traceback" not in result.output
    assert "compressed file is truncated" in result.stderr
    runs = json.loads(runner.invoke(app, ["data", "runs", "--json"]).stdout)["runs"]
    assert runs[0]["status"] == "failed" and "truncated" in runs[0]["error"]


def test_semicolon_file_without_header(tmp_path: Path) -> None:
    p = tmp_path / "bars.txt"
    p.write_text("03.01.2024 10:00;SAP;1.234,5;1.240;1.230,25;1.238,75;4.181\n"
                 "03.01.2024 10:01;SAP;1.238,75;1.241;1.235;1.240;900\n")
    args = ["ingest", "csv", str(p), "--delimiter", ";", "--no-header", "--columns",
            "timestamp,ticker,open,high,low,close,volume", "--date-order", "dmy", "--json"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert (doc["inserted"], doc["quarantined"], doc["status"]) == (2, 0, "ok")
    summary = json.loads(runner.invoke(app, ["data", "summary", "--json"]).stdout)["tickers"]
    assert summary[0]["first"] == "2024-01-03T15:00:00+00:00"


def test_timeframe_mismatch_is_one_line(tmp_path: Path) -> None:
    p = tmp_path / "m.csv"
    times = pd.date_range("2024-01-03 09:30", periods=30, freq="min")
    p.write_text(HEADER + "".join(f"{t},AAPL,10,11,9,10.5,100\n" for t in times))
    result = runner.invoke(app, ["ingest", "csv", str(p), "--timeframe", "1day"])
    assert result.exit_code == 1
    assert "the bars are 1min apart but --timeframe 1day was given" in result.stderr


def test_extended_session_and_update_options(tmp_path: Path) -> None:
    p = tmp_path / "e.csv"
    p.write_text(HEADER + "2024-01-03 07:00,AAPL,10,11,9,10.5,100\n2024-01-03 10:00,AAPL,10,11,9,10.5,100\n")
    regular = json.loads(runner.invoke(app, ["ingest", "csv", str(p), "--json"]).stdout)
    assert (regular["inserted"], regular["quarantined"]) == (1, 1)
    extended = json.loads(runner.invoke(app, ["ingest", "csv", str(p), "--session", "extended", "--json"]).stdout)
    assert (extended["inserted"], extended["duplicates"]) == (1, 1)
    p.write_text(HEADER + "2024-01-03 10:00,AAPL,10,11,9,10.25,100\n")
    conflict = runner.invoke(app, ["ingest", "csv", str(p)])
    assert conflict.exit_code == 0 and "conflicts with a stored bar" in conflict.stderr, conflict.output
    updated = json.loads(runner.invoke(app, ["ingest", "csv", str(p), "--update", "--json"]).stdout)
    assert (updated["conflicts"], updated["updated"], updated["status"]) == (1, 1, "ok")


@pytest.mark.parametrize(("args", "message"), [
    (["--tz", "Nowhere/Zone"], "time zone 'Nowhere/Zone' is unknown"),
    (["--session", "overnight"], "--session 'overnight' is not one of regular, extended"),
    (["--no-header"], "needs its column names"),
    (["--source-tz", "nozone"], "is not PATTERN=ZONE"),
])
def test_bad_options_are_one_line(tmp_path: Path, args: list[str], message: str) -> None:
    p = tmp_path / "x.csv"
    p.write_text(HEADER + "2024-01-03 10:00,AAPL,10,11,9,10.5,100\n")
    result = runner.invoke(app, ["ingest", "csv", str(p), *args])
    assert result.exit_code == 1 and message in result.stderr and "Traceback" not in result.output


def test_several_files_one_broken_the_others_are_stored_and_reported(tmp_path: Path) -> None:
    good = tmp_path / "good.csv"
    good.write_text(HEADER + "2024-03-05 09:30:00,AAPL,10,11,9,10.5,100\n2024-03-05 09:31:00,AAPL,10,11,9,10.5,100\n")
    broken = tmp_path / "broken.csv"
    broken.write_text(HEADER)
    later = tmp_path / "later.csv"
    later.write_text(HEADER + "2024-03-05 09:30:00,MSFT,10,11,9,10.5,100\n")
    result = runner.invoke(app, ["ingest", "csv", str(good), str(broken), str(later), "--json"])
    assert result.exit_code == 1
    report = json.loads(result.stdout)  # one document: what was stored, and what failed
    assert [(f["source"].rsplit("/", 1)[-1], f["inserted"]) for f in report["files"]] == [("good.csv", 2),
                                                                                         ("later.csv", 1)]
    assert report["failed"] == [{"source": str(broken), "status": "failed",
                                 "error": f"{broken}: no rows of data after the header"}]
    summary = json.loads(runner.invoke(app, ["data", "summary", "--json"]).stdout)
    assert sorted(t["ticker"] for t in summary["tickers"]) == ["AAPL", "MSFT"]
