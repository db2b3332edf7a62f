"""Ingest runs on both backends: suspect runs, conflicts and --update, failed and aborted runs, exact values."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
import textwrap
from decimal import Decimal
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import Engine, func, select

from tftrade.core.errors import DataError
from tftrade.data.ingest import IngestOptions, ingest_file
from tftrade.data.tabular import ReadOptions
from tftrade.store.runs import process_owner, start_run
from tftrade.store.schema import bar_corrections, bars, ingest_runs, quarantine

HEADER = "timestamp,ticker,open,high,low,close,volume\n"


def _count(engine: Engine, table: object) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())  # type: ignore[arg-type]


def _runs(engine: Engine) -> list[dict[str, object]]:
    with engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(select(ingest_runs).order_by(ingest_runs.c.id))]


def _minute_file(path: Path, *, zone: str = "America/New_York", naive: bool = True, days: int = 2,
                 close: float = 10.5) -> Path:
    """A regular-session minute file written as wall times in ``zone`` (naive) or with offsets."""
    lines = []
    for day in pd.bdate_range("2024-03-05", periods=days):
        for t in pd.date_range(day + pd.Timedelta(hours=9, minutes=30), periods=390, freq="min",
                               tz="America/New_York"):
            local = t.tz_convert(zone)
            stamp = local.strftime("%Y-%m-%d %H:%M:%S") if naive else local.isoformat()
            lines.append(f"{stamp},AAPL,10,11,9,{close},100\n")
    path.write_text(HEADER + "".join(lines))
    return path


def test_naive_utc_file_is_suspect_names_the_cause_and_stores_nothing(any_engine: Engine, tmp_path: Path) -> None:
    p = _minute_file(tmp_path / "utc.csv", zone="UTC")
    s = ingest_file(any_engine, p)
    assert s.status == "suspect" and s.inserted == 0 and s.held_back == s.rows_read == 780
    assert "times look like UTC time, not America/New_York: try --tz UTC" in str(s.cause)
    assert s.top_reason is not None and s.top_reason["kind"] == "outside trading hours"
    assert _count(any_engine, bars) == 0 and _count(any_engine, quarantine) == 0
    assert _runs(any_engine)[-1]["status"] == "suspect" and "try --tz UTC" in str(_runs(any_engine)[-1]["error"])
    right = ingest_file(any_engine, p, read=ReadOptions(tz="UTC"))
    assert (right.status, right.inserted, right.quarantined) == ("ok", 780, 0)


def test_forced_suspect_run_stores_and_stays_suspect(any_engine: Engine, tmp_path: Path) -> None:
    p = _minute_file(tmp_path / "utc.csv", zone="UTC", days=1)
    s = ingest_file(any_engine, p, options=IngestOptions(force=True))
    assert s.status == "suspect" and s.inserted + s.quarantined == 390 and s.quarantined > 0.5 * 390


def test_offsets_that_are_really_local_times_are_named(sqlite_engine: Engine, tmp_path: Path) -> None:
    p = _minute_file(tmp_path / "labelled.csv", days=1)
    p.write_text(p.read_text().replace(",AAPL", "+00:00,AAPL"))  # New York wall times marked as UTC
    s = ingest_file(sqlite_engine, p)
    assert s.status == "suspect" and "may be wrong (local times written as UTC?)" in str(s.cause)


@pytest.mark.parametrize(("bad", "status"), [(0, "ok"), (1, "ok"), (3, "suspect"), (60, "suspect")])
def test_more_than_a_few_percent_quarantined_is_never_ok(sqlite_engine: Engine, tmp_path: Path, bad: int,
                                                         status: str) -> None:
    p = _minute_file(tmp_path / "x.csv", days=1)
    lines = p.read_text().splitlines(keepends=True)
    for i in range(1, 1 + bad):
        lines[i] = lines[i].replace(",9,", ",-9,")  # low below zero: quarantined
    p.write_text("".join(lines[:101]))
    s = ingest_file(sqlite_engine, p)
    assert s.quarantined == bad and s.status == status
    if bad > 2:
        assert "non-positive price" in str(s.cause)


def test_dst_switch_file_with_offsets_is_stored_whole(any_engine: Engine, tmp_path: Path) -> None:
    lines = []
    for day in pd.bdate_range("2024-03-07", periods=4):  # spans 2024-03-10, -05:00 then -04:00
        for t in pd.date_range(day + pd.Timedelta(hours=9, minutes=30), periods=78, freq="5min", tz="America/New_York"):
            lines.append(f"{t.isoformat()},SPY,10,11,9,10.5,100\n")
    p = tmp_path / "dst.csv"
    p.write_text(HEADER + "".join(lines))
    s = ingest_file(any_engine, p)
    assert (s.timeframe, s.status, s.inserted, s.quarantined, s.quality.total_missing) == ("5min", "ok", 312, 0, 0)
    with any_engine.connect() as conn:
        first = conn.execute(select(func.min(bars.c.window_start)).where(bars.c.timeframe == "5min")).scalar_one()
    assert pd.Timestamp(first) == pd.Timestamp("2024-03-07 14:30", tz="UTC")


def test_conflicts_are_reported_quarantined_and_applied_only_with_update(any_engine: Engine, tmp_path: Path) -> None:
    base = tmp_path / "a.csv"
    base.write_text(HEADER + "2024-01-03 10:00,AAPL,10,11,9,10.5,100\n2024-01-03 10:01,AAPL,10,11,9,10.5,100\n")
    assert ingest_file(any_engine, base).inserted == 2
    fixed = tmp_path / "b.csv"
    fixed.write_text(HEADER + "2024-01-03 10:00,AAPL,10,11,9,10.5,100\n2024-01-03 10:01,AAPL,10,11,9,10.75,120\n"
                     "2024-01-03 10:02,AAPL,10,11,9,10.5,100\n")
    s = ingest_file(any_engine, fixed)
    assert (s.inserted, s.duplicates, s.conflicts, s.quarantined, s.updated) == (1, 1, 1, 1, 0)
    with any_engine.connect() as conn:
        reason = conn.execute(select(quarantine.c.reason)).scalar_one()
        close = conn.execute(select(bars.c.close).where(bars.c.window_start == pd.Timestamp(
            "2024-01-03 15:01", tz="UTC").to_pydatetime())).scalar_one()
    assert "conflicts with the stored bar: close stored 10.5000, file 10.7500; volume stored 100, file 120" in reason
    assert close == Decimal("10.5000"), "a conflict never changes the stored bar without --update"
    u = ingest_file(any_engine, fixed, options=IngestOptions(update=True))
    assert (u.inserted, u.duplicates, u.conflicts, u.updated, u.quarantined, u.status) == (0, 2, 1, 1, 0, "ok")
    with any_engine.connect() as conn:
        row = conn.execute(select(bars.c.close, bars.c.volume).where(bars.c.window_start == pd.Timestamp(
            "2024-01-03 15:01", tz="UTC").to_pydatetime())).one()
        correction = conn.execute(select(bar_corrections)).one()
    assert (row.close, row.volume) == (Decimal("10.7500"), 120)
    assert json.loads(correction.old) == {"open": "10.0000", "high": "11.0000", "low": "9.0000", "close": "10.5000",
                                          "volume": 100, "price_only": False}
    assert json.loads(correction.new)["close"] == "10.7500" and correction.run_id == u.run_id
    assert _runs(any_engine)[-1]["updated"] == 1
    again = ingest_file(any_engine, fixed)
    assert (again.conflicts, again.duplicates) == (0, 3)


def test_unreadable_files_are_logged_as_failed_runs(any_engine: Engine, tmp_path: Path) -> None:
    trunc = tmp_path / "t.csv.gz"
    whole = gzip.compress((HEADER + "2024-01-03 10:00,AAPL,10,11,9,10.5,100\n" * 2000).encode())
    trunc.write_bytes(whole[: len(whole) // 3])
    with pytest.raises(DataError, match="truncated"):
        ingest_file(any_engine, trunc)
    amb = tmp_path / "amb.csv"
    amb.write_text("date,open,high,low,close,volume\n03/04/2024,1,2,0.5,1.5,10\n")
    with pytest.raises(DataError, match="day/month order"):
        ingest_file(any_engine, amb, ticker="X")
    runs = _runs(any_engine)
    assert [r["status"] for r in runs] == ["failed", "failed"]
    assert "truncated" in str(runs[0]["error"]) and "day/month" in str(runs[1]["error"])


def test_hostile_tickers_are_quarantined_on_every_backend(any_engine: Engine, tmp_path: Path) -> None:
    p = tmp_path / "t.csv"
    rows = ["2024-01-03 10:00,AAPL,10,11,9,10.5,100", "2024-01-03 10:00,AA\x00PL,10,11,9,10.5,100",
            "2024-01-03 10:00,AA\u200bPL,10,11,9,10.5,100", "2024-01-03 10:00,\u202eLPAA,10,11,9,10.5,100",
            "2024-01-03 10:01,AAPL,10,11,9\x00,10.5,100"]
    p.write_bytes((HEADER + "\n".join(rows) + "\n").encode())
    s = ingest_file(any_engine, p)
    assert (s.inserted, s.quarantined) == (1, 4)
    with any_engine.connect() as conn:
        reasons = conn.execute(select(quarantine.c.reason)).scalars().all()
        tickers = conn.execute(select(bars.c.ticker)).scalars().all()
    assert tickers == ["AAPL"] and sum("is not a ticker" in r for r in reasons) == 3
    assert all("\x00" not in r for r in reasons)


def test_a_ragged_line_quarantines_that_row_only(any_engine: Engine, tmp_path: Path) -> None:
    p = tmp_path / "r.csv"
    p.write_text(HEADER + "2024-01-03 10:00,AAPL,10,11,9,10.5,100\n2024-01-03 10:01,AAPL,10,11\n"
                 "2024-01-03 10:02,AAPL,10,11,9,10.5,100\n")
    s = ingest_file(any_engine, p)
    assert (s.rows_read, s.inserted, s.quarantined) == (3, 2, 1)
    with any_engine.connect() as conn:
        q = conn.execute(select(quarantine.c.row_number, quarantine.c.reason, quarantine.c.raw)).one()
    assert q.row_number == 3 and q.reason == "row has 4 fields, the header has 7" and "10:01" in q.raw


def test_big_volumes_are_exact_or_quarantined(any_engine: Engine, tmp_path: Path) -> None:
    p = tmp_path / "v.csv"
    p.write_text(HEADER + "2024-01-03 10:00,AAPL,10,11,9,10.5,9007199254740993\n"
                 "2024-01-03 10:01,AAPL,10,11,9,10.5,9223372036854775807\n"
                 "2024-01-03 10:02,AAPL,10,11,9,10.5,9223372036854775808\n")
    s = ingest_file(any_engine, p)
    assert (s.inserted, s.quarantined) == (2, 1)
    with any_engine.connect() as conn:
        volumes = conn.execute(select(bars.c.volume).order_by(bars.c.window_start)).scalars().all()
    assert volumes == [9007199254740993, 2**63 - 1]


def test_a_run_killed_mid_way_is_marked_aborted_on_the_next_start(any_engine: Engine, tmp_path: Path) -> None:
    p = _minute_file(tmp_path / "k.csv", days=1)
    url = any_engine.url.render_as_string(hide_password=False)
    script = textwrap.dedent(f"""
        import os, signal
        from tftrade.store.engine import make_engine
        from tftrade.data.ingest import ingest_file
        def die(_n):
            os.kill(os.getpid(), signal.SIGKILL)
        ingest_file(make_engine({url!r}), {str(p)!r}, batch_rows=100, on_rows=die)
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert done.returncode == -9, done.stderr
    assert [r["status"] for r in _runs(any_engine)] == ["running"]
    live = start_run(any_engine, "csv", "other")  # the next start looks at the log first
    runs = _runs(any_engine)
    assert [r["status"] for r in runs] == ["aborted", "running"] and runs[1]["id"] == live
    assert "ended before it finished" in str(runs[0]["error"])
    assert _count(any_engine, bars) == 0, "nothing of the killed run is stored"
    start_run(any_engine, "csv", "third")
    assert [r["status"] for r in _runs(any_engine)][:2] == ["aborted", "running"], "a live run is left alone"
    assert runs[1]["owner"] == process_owner()


def test_a_file_name_that_is_not_utf8_is_ingested_under_an_escaped_name(any_engine: Engine, tmp_path: Path) -> None:
    # a Latin-1 file name (surrogate-escaped by Python) failed the run insert: "surrogates not allowed"
    import os

    p = _minute_file(Path(os.fsdecode(bytes(tmp_path) + b"/caf\xe9.csv")), days=1)
    s = ingest_file(any_engine, p)
    assert (s.status, s.inserted) == ("ok", 390)
    assert str(_runs(any_engine)[-1]["source"]).endswith("caf\\xe9.csv")


def test_two_rows_of_one_bar_that_disagree_are_both_quarantined_naming_each_other(any_engine: Engine,
                                                                                   tmp_path: Path) -> None:
    p = tmp_path / "d.csv"
    p.write_text(HEADER + "2024-01-03 10:00,AAPL,10,11,9,10.5,100\n2024-01-03 10:01,AAPL,10,11,9,10.5,100\n"
                 "2024-01-03 10:01,AAPL,10,11,9,10.75,120\n2024-01-03 10:02,AAPL,10,11,9,10.5,100\n"
                 "2024-01-03 10:02,AAPL,10,11,9,10.5,100\n")
    s = ingest_file(any_engine, p)
    assert (s.rows_read, s.inserted, s.duplicates, s.quarantined) == (5, 2, 1, 2), "identical repeats keep the first"
    with any_engine.connect() as conn:
        q = conn.execute(select(quarantine.c.row_number, quarantine.c.reason).order_by(quarantine.c.row_number)).all()
        times = conn.execute(select(bars.c.window_start).order_by(bars.c.window_start)).scalars().all()
    assert [r.row_number for r in q] == [3, 4], "neither of two contradicting rows is stored"
    assert q[0].reason.startswith("disagrees with row 4 (close 10.5 vs 10.75, volume 100 vs 120)")
    assert q[1].reason.startswith("disagrees with row 3 (close 10.75 vs 10.5, volume 120 vs 100)")
    assert [pd.Timestamp(t).strftime("%H:%M") for t in times] == ["15:00", "15:02"]


def test_a_bar_given_in_many_versions_names_three_of_the_others_and_counts_the_rest(tmp_path: Path) -> None:
    from tftrade.store.engine import make_engine
    from tftrade.store.migrate import upgrade

    engine = make_engine(f"sqlite:///{tmp_path / 'v.db'}")
    upgrade(engine)
    p = tmp_path / "v.csv"  # 300 rows of one bar, 100 versions of it (an intraday file read as one time)
    p.write_text(HEADER + "".join(f"2024-01-03 10:00,AAPL,10,11,9,{10 + (i % 100) / 100:.2f},100\n"
                                  for i in range(300)))
    s = ingest_file(engine, p)
    assert (s.inserted, s.quarantined) == (0, 300)
    with engine.connect() as conn:
        reasons = conn.execute(select(quarantine.c.reason).order_by(quarantine.c.row_number)).scalars().all()
    assert reasons[0].startswith("disagrees with row 3 (close 10 vs 10.01); row 4 (close 10 vs 10.02); "
                                 "row 5 (close 10 vs 10.03) and 294 more rows for the same ticker and time")
    assert max(len(r) for r in reasons) < 250  # not every other row (quadratic in the rows of one bar)
    engine.dispose()


def test_a_ticker_option_the_files_column_overrides_is_said(initialized_home: Path, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from tftrade.cli import app

    p = tmp_path / "t.csv"
    p.write_text(HEADER + "2024-01-03 10:00,MSFT,10,11,9,10.5,100\n")
    same = tmp_path / "s.csv"
    same.write_text(HEADER + "2024-01-03 10:00,AAPL,10,11,9,10.5,100\n")
    runner = CliRunner()
    out = runner.invoke(app, ["ingest", "csv", str(p), "--ticker", "AAPL", "--json"])
    assert out.exit_code == 0, out.output
    result = json.loads(out.stdout)
    assert result["ticker_ignored"] == "--ticker AAPL ignored: the file has a ticker column (MSFT), which is used"
    assert result["inserted"] == 1
    assert "--ticker AAPL ignored" in out.stderr
    quiet = runner.invoke(app, ["ingest", "csv", str(same), "--ticker", "aapl", "--json"])
    assert json.loads(quiet.stdout)["ticker_ignored"] is None and "ignored" not in quiet.stderr
