"""The live pieces on their own: bar assembly, the rolling window, the session, brokers by name, the lease."""

from __future__ import annotations

import logging
import socket
import threading
import uuid

import numpy as np
import pandas as pd
import pytest

from tftrade.live.assembler import Assembler
from tftrade.live.brokers import BrokerKit, BrokerSettings, broker_names, make_broker, register_broker
from tftrade.live.errors import LiveError
from tftrade.live.lease import RedisLease
from tftrade.live.session import XnysSession
from tftrade.live.window import RollingMarket
from tftrade.strategy.view import MarketView
from tftrade.stream.messages import BarMessage
from tftrade.trading.fills import BarFills

from .conftest import redis_or_skip

MIN = 60_000_000_000


def _bar(t: str, ts: int, px: float = 10.0) -> BarMessage:
    return BarMessage(t, ts, px, px + 1, px - 1, px, 100.0, received_ns=ts + 1)


def test_a_cross_section_closes_when_every_ticker_reported() -> None:
    a = Assembler(("A", "B"))
    assert a.add(_bar("A", MIN), "1") == []
    (cs,) = a.add(_bar("B", MIN, 20.0), "2")
    assert cs.timestamp_ns == MIN and cs.close.tolist() == [10.0, 20.0] and cs.ids == ("1", "2")


def test_a_later_minute_closes_the_open_one_with_the_missing_ticker_as_a_gap() -> None:
    a = Assembler(("A", "B"))
    a.add(_bar("A", MIN), "1")
    (cs,) = a.add(_bar("A", 2 * MIN), "2")
    assert cs.timestamp_ns == MIN and np.isnan(cs.close[1]) and cs.volume[1] == 0.0
    assert [c.timestamp_ns for c in a.flush()] == [2 * MIN]


def test_late_duplicate_and_foreign_bars_are_counted_and_safe_to_ack() -> None:
    a = Assembler(("A",))
    a.add(_bar("A", 2 * MIN), "1")
    assert a.add(_bar("A", MIN), "2") == []  # older than a closed cross-section
    a.add(_bar("A", 3 * MIN), "3")
    a.add(_bar("ZZZ", 3 * MIN), "5")  # not in the universe
    assert (a.late, a.foreign) == (1, 1) and a.late_ids == ["2", "5"]
    b = Assembler(("A", "B"))
    b.add(_bar("A", MIN), "1")
    b.add(_bar("A", MIN), "1-again")
    assert b.duplicates == 1 and "1-again" in b.late_ids


def test_the_rolling_window_reads_like_history_and_refuses_going_back() -> None:
    w = RollingMarket(("A", "B"), ("S", "S"), "1min", capacity=3)
    for k in range(1, 8):
        row = w.append(k * MIN, *(np.array([k, -k], dtype=float) for _ in range(5)))
    assert row == 2 and w.timestamps.tolist() == [5 * MIN, 6 * MIN, 7 * MIN]
    view = MarketView(w, row)
    assert view.history("close", 10)[:, 0].tolist() == [5.0, 6.0, 7.0] and view.now_ns == 7 * MIN
    with pytest.raises(LiveError, match="not after the last one"):
        w.append(7 * MIN, *(np.zeros(2) for _ in range(5)))


def _ns(text: str) -> int:
    return pd.Timestamp(text, tz="America/New_York").tz_convert("UTC").value


def test_the_session_allows_decisions_only_while_xnys_is_open() -> None:
    s = XnysSession(flatten_minutes=10)
    assert not s.can_decide(_ns("2024-03-08 09:29"))
    assert s.can_decide(_ns("2024-03-08 09:30")) and not s.flatten_due(_ns("2024-03-08 15:49"))
    assert s.flatten_due(_ns("2024-03-08 15:50")) and not s.can_decide(_ns("2024-03-08 16:00"))
    assert not s.can_decide(_ns("2024-03-09 11:00"))  # a Saturday
    assert not XnysSession().flatten_due(_ns("2024-03-08 15:59"))


def test_brokers_are_chosen_by_name_and_new_ones_plug_in() -> None:
    assert "paper" in broker_names()
    with pytest.raises(LiveError, match="unknown broker 'nope'; choose one of paper"):
        make_broker("nope")
    made: list[BrokerSettings] = []

    def fake(settings: BrokerSettings) -> BrokerKit:
        made.append(settings)
        return make_broker("paper", settings)

    register_broker("fake-" + uuid.uuid4().hex[:6], fake)
    name = broker_names()[-1]
    kit = make_broker(name, BrokerSettings(cash=5.0))
    assert made and kit.broker.cash() == 5.0 and isinstance(kit.fills, BarFills)


@pytest.mark.integration
def test_only_one_trade_worker_holds_the_lease_and_a_lost_lease_stops_it() -> None:
    client = redis_or_skip()
    key = f"test:lease:{uuid.uuid4().hex}"
    stop = threading.Event()
    first = RedisLease(client, key, "one", ttl_ms=2000)
    first.hold(stop)
    with pytest.raises(LiveError, match="held by 'one'"):
        RedisLease(client, key, "two", ttl_ms=2000).hold(threading.Event())
    client.set(key, "intruder")  # someone else took it (e.g. after an expiry)
    assert first.lost.wait(10.0) and stop.is_set()
    first.release()
    assert client.get(key) == b"intruder"  # not ours: left alone
    client.delete(key)
    again = RedisLease(client, key, "two", ttl_ms=300)
    again.hold(threading.Event())
    again.release()
    assert client.get(key) is None


def test_an_unreachable_redis_is_one_clear_lease_error() -> None:
    import redis

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    lease = RedisLease(redis.Redis(port=port, socket_connect_timeout=1), "test:lease:x", "one")
    with pytest.raises(LiveError, match="cannot take the trade lease test:lease:x: Redis unreachable"):
        lease.hold(threading.Event())


def test_series_travel_with_the_bars_and_carry_forward_when_missing() -> None:
    a = Assembler(("A",), {"vix": "^VIX"})
    assert a.add(_bar("A", MIN), "1") == []  # waits for the series too
    (cs,) = a.add(_bar("^VIX", MIN, 20.0), "2")
    assert cs.series == {"vix": 20.0}
    w = RollingMarket(("A",), ("S",), "1min", capacity=4, vix=True)
    w.append(MIN, *(np.ones(1) for _ in range(5)), series=cs.series)
    w.append(2 * MIN, *(np.ones(1) for _ in range(5)), series={})
    assert w.vix is not None and w.vix.tolist() == [20.0, 20.0] and w.benchmark is None


def test_live_forecasts_are_complete_only_when_every_ticker_reported_once() -> None:
    from tftrade.live.forecasts import NO_FORECAST_HORIZON, LiveForecasts
    from tftrade.stream.messages import PredictionMessage

    f = LiveForecasts(("A", "B"), horizon=5)

    def msg(t: str, h: int = 5) -> PredictionMessage:
        return PredictionMessage(t, MIN, h, 10.0, -0.01, 0.001, 0.01, 0.001, 0.5)

    f.add(msg("A"))
    f.add(msg("A"))  # redelivered
    assert not f.complete(MIN)
    f.add(msg("B", NO_FORECAST_HORIZON))
    assert f.complete(MIN)
    _, q50, _, conf = f.row(MIN, ("B", "A"))  # type: ignore[misc]
    assert np.isnan(q50[0]) and q50[1] == 0.001 and conf[1] == 0.5
    assert f.row(2 * MIN, ("A",)) is None


def test_live_forecasts_name_the_model_version_of_the_forecasts_a_bar_holds() -> None:
    """What a decision on the bar records in the audit trail: the version(s) its forecasts came from."""
    from tftrade.live.forecasts import NO_FORECAST_HORIZON, LiveForecasts
    from tftrade.stream.messages import PredictionMessage

    f = LiveForecasts(("A", "B", "C"), horizon=5)

    def msg(t: str, version: str, at: int = MIN, h: int = 5) -> PredictionMessage:
        return PredictionMessage(t, at, h, 10.0, -0.01, 0.001, 0.01, 0.001, 0.5, "1min", version)

    assert f.version_at(MIN) is None
    f.add(msg("A", "1"))
    f.add(msg("B", "1"))
    f.add(msg("C", "2", h=NO_FORECAST_HORIZON))  # a "no forecast" of another version: no forecast read from it
    assert f.version_at(MIN) == "1"
    f.add(msg("C", "2"))  # a forecast of version 2 in the same bar: both are named
    assert f.version_at(MIN) == "1 + 2"
    f.add(msg("C", "1"))  # redelivered by version 1: the column holds version 1's numbers again
    assert f.version_at(MIN) == "1"
    for t in ("A", "B"):  # a bar without any forecast names the model that said so
        f.add(msg(t, "3", 2 * MIN, NO_FORECAST_HORIZON))
    assert f.version_at(2 * MIN) == "3"
    f.add(msg("A", "", 3 * MIN))  # a message of an older build, without a version
    assert f.version_at(3 * MIN) is None


def test_live_forecasts_ignore_another_horizon_and_say_so(caplog: pytest.LogCaptureFixture) -> None:
    """A predict worker on another model than the trade worker's: its 2-bar forecasts are never traded as 5-bar ones."""
    from tftrade.live.forecasts import LiveForecasts
    from tftrade.stream.messages import PredictionMessage

    f = LiveForecasts(("A",), horizon=5)
    with caplog.at_level(logging.ERROR, logger="tftrade.live.forecasts"):
        for at in (MIN, 2 * MIN):
            f.add(PredictionMessage("A", at, 2, 10.0, -0.01, 0.001, 0.01, 0.001, 0.5, "1min", "7"))
    assert not f.complete(MIN) and f.row(MIN, ("A",)) is None and f.wrong_horizon == 2
    (said,) = [r.getMessage() for r in caplog.records]  # once per horizon, not per message
    assert "2 bars ahead from model version 7 ignored" in said and "trades 5-bar forecasts" in said
    f.add(PredictionMessage("A", MIN, 5, 10.0, -0.01, 0.001, 0.01, 0.001, 0.5, "1min", "1"))
    assert f.complete(MIN)


def test_live_forecasts_keep_every_bar_ahead_of_the_trade_worker() -> None:
    """The predict worker can run hundreds of bars ahead (a replay): the bar in hand must not be dropped."""
    from tftrade.live.forecasts import LiveForecasts
    from tftrade.stream.messages import PredictionMessage

    f = LiveForecasts(("A",), horizon=5, keep=4)
    for k in range(1, 201):  # the predictor's whole replay arrives before the trade worker's first bar
        f.add(PredictionMessage("A", k * MIN, 5, 10.0, -0.01, 0.001 * k, 0.01, 0.001, 0.5))
    assert f.complete(MIN) and f.row(MIN, ("A",))[1][0] == 0.001  # type: ignore[index]
    f.passed(100 * MIN)
    assert not f.complete(96 * MIN) and f.complete(97 * MIN) and f.complete(200 * MIN)  # keep=4 behind, all ahead


def test_a_restarted_worker_starts_with_the_stored_bars_as_history(sqlite_engine: object) -> None:
    from tftrade.data.ingest import ingest_synthetic
    from tftrade.data.synthetic import SyntheticConfig, generate_market
    from tftrade.live.warm import warm_window

    sm = generate_market(SyntheticConfig(n_tickers=3, days=1, seed=4))
    ingest_synthetic(sqlite_engine, sm)  # type: ignore[arg-type]
    tickers = tuple(sm.tickers)
    w, a = RollingMarket(tickers, ("S",) * 3, "1min", capacity=50), Assembler(tickers)
    last = int(sm.timestamps[-1])
    assert warm_window(sqlite_engine, w, a, until_ns=last + MIN) == 50  # type: ignore[arg-type]
    assert int(w.timestamps[-1]) == last and w.timestamps.tolist() == sm.timestamps[-50:].tolist()
    np.testing.assert_allclose(w.close, sm.close[-50:], rtol=1e-4)  # stored as 1/10,000 ticks
    assert a.add(_bar(tickers[0], last), "dup") == [] and a.late == 1  # already in the window


def test_json_lines_are_strict_json_with_nan_as_null() -> None:
    """`tftrade worker predict --json` ended with `"last_latency_ms": NaN`, which strict JSON parsers refuse."""
    import io
    import json

    from tftrade.live.status import json_lines

    out = io.StringIO()
    json_lines(out)({"event": "summary", "last_latency_ms": float("nan"), "p": [np.float64(1.5), float("inf")]})
    line = out.getvalue().strip()
    assert json.loads(line, parse_constant=lambda c: pytest.fail(f"not strict JSON: {c}"))["last_latency_ms"] is None
    assert json.loads(line)["p"] == [1.5, None] and "NaN" not in line
