"""A backtest run's own audit chain: recorded in memory during the run, stored with the run.

The chain is named after the run (its id, ``bt-<time>-<strategy>``), so ``tftrade audit verify
--chain <run id>`` and ``tftrade audit show --order ID --chain <run id>`` work on a backtest's
orders exactly as on the live chain. :meth:`BacktestAudit.store` writes it inside the run's
save transaction (with its trades and its folder): the three exist together or not at all.

Examples
--------
>>> audit = BacktestAudit("bt-20240102T030405000000-sma", strategy_version="bt-20240102T030405000000-sma")
>>> rec = audit.recorder(("AAPL",), gated=True)
>>> rec.gate(1, "AAPL", "reject", 10.0, 0.0, "vix")
>>> rec.flush(), audit.summary()["audit_entries"]
(1, 1)
"""

from __future__ import annotations

from sqlalchemy import Connection

from tftrade.backtest.result import BacktestResult
from tftrade.compliance.audit_log import AuditLog, MemoryAuditLog
from tftrade.compliance.recorder import AuditRecorder
from tftrade.compliance.run_tax import run_tax_alpha
from tftrade.execution.manager import OrderManager
from tftrade.execution.paper import PaperBroker


class BacktestAudit:
    """The audit side of one backtest run (see the module docstring).

    Parameters
    ----------
    chain
        The chain's name: the run id (at most 64 characters).
    strategy_version
        The run's strategy version (the order manager's ids are derived from it).
    model_version, features_hash
        Recorded with every decision when known.
    """

    def __init__(self, chain: str, *, strategy_version: str, model_version: str | None = None,
                 features_hash: str | None = None) -> None:
        self.log = MemoryAuditLog(chain)
        self.chain = chain
        self.strategy_version, self.model_version, self.features_hash = strategy_version, model_version, features_hash
        self._recorder: AuditRecorder | None = None

    def recorder(self, tickers: tuple[str, ...], *, gated: bool, model_version: str | None = None) -> AuditRecorder:
        """The recorder the backtest's loop writes to (``gated``: the run has a risk gate).

        ``model_version`` (the forecaster's, known once it is trained) replaces the one given
        at construction.
        """
        ids = OrderManager(PaperBroker(0.0), strategy_version=self.strategy_version)  # same ids as the run's manager
        self._recorder = AuditRecorder(
            self.log, tickers, strategy_version=self.strategy_version,
            model_version=model_version or self.model_version, features_hash=self.features_hash, gated=gated,
            order_id=lambda ns, ticker: ids.client_order_id(ns, ticker, "rb"))
        return self._recorder

    def finish(self) -> None:
        """Append what the last bar left buffered (the loop flushes at every mark; this is a safeguard)."""
        if self._recorder is not None:
            self._recorder.flush()

    def summary(self, result: BacktestResult | None = None) -> dict[str, object]:
        """The chain's name, length and head hash (kept in the run's summary to detect truncation),
        and with ``result`` the run's tax alpha (:func:`~tftrade.compliance.run_tax.run_tax_alpha`)."""
        entries = self.log.entries()
        out: dict[str, object] = {"audit_chain": self.chain, "audit_entries": len(entries),
                                  "audit_head": entries[-1].entry_hash if entries else None}
        if result is not None:
            out["tax_alpha"] = result_tax_alpha(result)
        return out

    def store(self, conn: Connection) -> int:
        """Write the chain into the database in ``conn``'s transaction; return the number of entries.

        Raises
        ------
        AuditError
            If a chain of that name exists already.
        AuditTamperError
            If the recorded chain does not verify.
        """
        self.finish()
        engine = conn.engine
        return AuditLog(engine, self.chain).adopt(self.log.entries(), conn=conn)


def result_tax_alpha(result: BacktestResult) -> dict[str, object]:
    """The tax alpha of a finished run (pre-tax return: the run's total return net of costs)."""
    cash = float(result.config.initial_cash)
    return run_tax_alpha(result.trades_frame(), cash, float(result.equity[-1] / cash - 1.0))
