"""``make_broker``: the one place that builds a broker from settings, for ``tftrade live --broker``.

Live (non-paper) trading needs all three of ``TFTRADE_LIVE_TRADING=true``, live keys
(Alpaca live key ids do not start with ``PK``) and ``live=True`` (``--live`` on the command
line); :func:`check_live` refuses otherwise with one clear line. Paper endpoints are the
default and need none of them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import Engine

from tftrade.execution.costs import CostModel
from tftrade.execution.errors import ExecutionError, LiveTradingRefused
from tftrade.execution.journal import OrderJournal
from tftrade.execution.journaled import JournaledBroker
from tftrade.execution.killswitch import KillSwitch
from tftrade.execution.ratelimit import TokenBucket
from tftrade.execution.settings import AlpacaConfig, ExecutionConfig

__all__ = ["BROKERS", "check_live", "make_broker"]

BROKERS = ("paper", "alpaca")


def check_live(config: AlpacaConfig, settings: Any, live: bool) -> str:
    """What the Alpaca broker is about to do, as one line; raises :class:`LiveTradingRefused` when not allowed.

    >>> check_live(AlpacaConfig(), None, False)
    'paper trading on https://paper-api.alpaca.markets (Alpaca paper account)'
    """
    if config.paper:
        if live:
            raise LiveTradingRefused(f"--live given but the Alpaca URL {config.url} is not the live endpoint; "
                                     f"refusing (set TFTRADE_VENDORS__ALPACA_URL=https://api.alpaca.markets)")
        return f"paper trading on {config.url} (Alpaca paper account)"
    missing = []
    if not bool(getattr(settings, "live_trading", False)):
        missing.append("TFTRADE_LIVE_TRADING=true")
    if not live:
        missing.append("--live")
    key = config.key_id.get_secret_value() if config.key_id is not None else ""
    if not key or config.secret_key is None or key.startswith("PK"):
        missing.append("live keys (TFTRADE_VENDORS__ALPACA_KEY_ID/SECRET_KEY; paper keys start with PK)")
    if missing:
        raise LiveTradingRefused(f"live trading on {config.url} refused: missing {', '.join(missing)}")
    return f"LIVE trading with real money on {config.url} (keys ***): orders will be sent to the live account"


def make_broker(name: str, settings: Any, *, live: bool = False, engine: Engine | None = None,
                cash: float = 1_000_000.0, costs: CostModel | None = None, stream: bool = True,
                bucket: TokenBucket | None = None, announce: Callable[[str], None] | None = None,
                crash_hook: Callable[[str], None] | None = None) -> JournaledBroker:
    """Build the journaled broker ``name`` (``paper`` | ``alpaca``) from ``settings``.

    Parameters
    ----------
    name
        ``paper`` (in-process simulation) or ``alpaca`` (paper endpoints unless configured live).
    settings
        :class:`tftrade.core.config.Settings` (reads ``vendors.alpaca_*``, ``execution``, ``live_trading``,
        ``home`` and the database URL).
    live
        The ``--live`` flag.
    engine
        The journal's database (default: the configured one, migrated).
    cash, costs
        Paper broker only.
    stream
        Alpaca only: start the trade-updates stream.
    bucket
        The worker's shared rate limiter (Alpaca).
    announce
        Receives the one line saying what is about to happen (the CLI prints it on stderr).
    crash_hook
        Tests only (see :class:`JournaledBroker`).

    Raises
    ------
    LiveTradingRefused
        Live trading without every opt-in.
    ExecutionError
        An unknown broker name or missing keys.
    """
    if name not in BROKERS:
        raise ExecutionError(f"unknown broker {name!r}; choose one of {', '.join(BROKERS)}")
    execution = ExecutionConfig.from_settings(settings)
    if engine is None:
        from tftrade.store.engine import make_engine
        from tftrade.store.migrate import upgrade

        engine = make_engine(settings.resolved_database_url())
        upgrade(engine)
    inner: Any
    tif = "day"
    if name == "paper":
        if live:
            raise LiveTradingRefused("--live needs --broker alpaca; the paper broker never trades real money")
        from tftrade.execution.paper import PaperBroker

        inner = PaperBroker(cash=cash, costs=costs)
        line = f"paper trading in process (cash {cash:,.2f})"
    else:
        from tftrade.execution.alpaca import AlpacaBroker

        config = AlpacaConfig.from_settings(settings)
        line = check_live(config, settings, live)
        inner = AlpacaBroker(config, bucket=bucket, stream=stream)
        tif = config.time_in_force
    if announce is not None:
        announce(line)
    switch = KillSwitch(execution.kill_file, engaged=execution.kill_switch)
    return JournaledBroker(inner, OrderJournal(engine), name=name, kill_switch=switch, time_in_force=tif,
                           crash_hook=crash_hook)
