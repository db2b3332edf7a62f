"""Order care: stale limit orders are cancelled and replaced, partial fills never left dangling.

:meth:`OrderCare.sweep` (call it from the loop, e.g. once a bar) looks at the journal's open
orders:

* a limit order with nothing filled, older than ``stale_limit_s``, is cancelled; if a
  ``reprice(ticker)`` function gives a new limit, a replacement is sent under the id
  ``<old id>-r<n>`` (the original is journaled ``replaced``);
* an order partly filled and still open ``partial_timeout_s`` after it was placed is either
  cancelled (``partial_policy="cancel"``: the filled part stays booked, the rest is gone)
  or explicitly **carried** (``"carry"``: journaled once, listed by ``tftrade orders`` as
  ``carried``, and cancelled when the next decision replaces it).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from tftrade.core.orders import Order
from tftrade.execution.errors import ExecutionError, UnknownOrderError
from tftrade.execution.journaled import JournaledBroker

__all__ = ["CareReport", "OrderCare"]

_REPLACED = re.compile(r"^(.*)-r(\d+)$")


@dataclass(frozen=True, slots=True)
class CareReport:
    """What one sweep did (client ids)."""

    cancelled: tuple[str, ...] = ()
    replaced: tuple[tuple[str, str], ...] = ()
    carried: tuple[str, ...] = ()


class OrderCare:
    """Cancel/replace stale limit orders and resolve old partial fills (see the module docstring)."""

    def __init__(self, broker: JournaledBroker, *, stale_limit_s: float = 300.0, partial_timeout_s: float = 600.0,
                 partial_policy: str = "cancel") -> None:
        if partial_policy not in ("cancel", "carry"):
            raise ExecutionError(f"partial_policy {partial_policy!r} is not 'cancel' or 'carry'")
        self.broker = broker
        self.stale_ns = int(stale_limit_s * 1e9)
        self.partial_ns = int(partial_timeout_s * 1e9)
        self.partial_policy = partial_policy

    def sweep(self, now_ns: int, reprice: Callable[[str], float | None] | None = None) -> CareReport:
        """One pass over the open orders at time ``now_ns``."""
        journal = self.broker.journal
        cancelled: list[str] = []
        replaced: list[tuple[str, str]] = []
        carried: list[str] = []
        for o in journal.open_orders():
            i = o.intent
            age = now_ns - i.created_ns
            cid = i.client_order_id
            if o.state in ("intent", "submitted", "unknown"):
                continue  # reconciliation's business
            if o.filled == 0 and i.order_type == "limit" and age >= self.stale_ns:
                try:
                    status = self.broker.cancel(cid)
                except UnknownOrderError:
                    continue
                if status.filled_quantity:  # it filled in part meanwhile: the fill is booked, no replacement
                    cancelled.append(cid)
                    continue
                price = reprice(i.ticker) if reprice is not None else None
                if price is None or not price > 0:
                    cancelled.append(cid)
                    continue
                new_id = _next_id(cid)
                journal.append(cid, "replaced", reason=f"stale limit {i.limit_price}; replaced by {new_id} at {price}")
                self.broker.submit(Order(new_id, i.ticker, float(i.quantity), "limit", float(price), now_ns,
                                         i.rationale), decision_id=i.decision_id, tag="replace")
                replaced.append((cid, new_id))
            elif o.filled != 0 and o.state in ("partially_filled", "carried") and age >= self.partial_ns:
                if self.partial_policy == "cancel":
                    self.broker.cancel(cid)
                    cancelled.append(cid)
                elif o.state != "carried":
                    journal.append(cid, "carried", reason=f"partial fill {o.filled} of {i.quantity} carried after "
                                                          f"{age / 1e9:.0f} s")
                    carried.append(cid)
        return CareReport(tuple(cancelled), tuple(replaced), tuple(carried))


def _next_id(cid: str) -> str:
    m = _REPLACED.match(cid)
    return f"{m.group(1)}-r{int(m.group(2)) + 1}" if m else f"{cid}-r1"
