"""The kill switch: stop new orders, cancel open ones, optionally flatten.

It is engaged by any of: the setting ``TFTRADE_EXECUTION__KILL_SWITCH=true``, the kill file
(``<home>/KILL`` by default; the supervisor and ``tftrade kill`` write it, every worker
checks it before each order), or :meth:`KillSwitch.engage` in process — which is what the
risk gate's drawdown breaker calls through :func:`kill`::

    from tftrade.execution.killswitch import kill
    breaker_hook = lambda reason: kill(broker, broker.kill_switch, reason=reason, flatten=False)

Releasing it is deliberate: delete the file (``tftrade kill --release``) and unset the setting.
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tftrade.execution.journaled import JournaledBroker

__all__ = ["KillReport", "KillSwitch", "kill"]


class KillSwitch:
    """Whether new orders are allowed.

    Parameters
    ----------
    file
        The kill file; its existence engages the switch and its text is the reason.
    engaged
        The setting (``ExecutionConfig.kill_switch``).
    """

    def __init__(self, file: Path | None = None, engaged: bool = False) -> None:
        self.file = file
        self._setting = engaged
        self._reason = ""
        self._lock = threading.Lock()

    def reason(self) -> str:
        """Why it is engaged ('' if it is not)."""
        if self._reason:
            return self._reason
        if self._setting:
            return "kill switch engaged by setting (TFTRADE_EXECUTION__KILL_SWITCH)"
        if self.file is not None and self.file.exists():
            try:
                text = self.file.read_text().strip()
            except OSError:
                text = ""
            return f"kill switch engaged by {self.file}" + (f": {text}" if text else "")
        return ""

    @property
    def engaged(self) -> bool:
        """True while new orders are refused."""
        return bool(self.reason())

    def engage(self, reason: str) -> None:
        """Engage in this process and write the kill file (atomically), so every worker stops."""
        with self._lock:
            self._reason = f"kill switch engaged: {reason}"
            if self.file is not None:
                self.file.parent.mkdir(parents=True, exist_ok=True)
                tmp = self.file.with_suffix(".tmp")
                tmp.write_text(reason + "\n")
                os.replace(tmp, self.file)

    def release(self) -> None:
        """Release the in-process flag and delete the kill file (the setting, if set, still holds)."""
        with self._lock:
            self._reason = ""
            if self.file is not None:
                self.file.unlink(missing_ok=True)


@dataclass(frozen=True, slots=True)
class KillReport:
    """What :func:`kill` did."""

    reason: str
    cancelled: tuple[str, ...]
    broker_cancelled: int
    flatten_orders: tuple[str, ...]


def kill(broker: JournaledBroker, switch: KillSwitch, *, reason: str, flatten: bool = False,
         now_ns: int | None = None) -> KillReport:
    """Engage ``switch``, cancel every open order (ours from the journal, then anything left at the broker), and with
    ``flatten`` send tagged market orders (``kill-...``) closing every position.
    """
    now_ns = time.time_ns() if now_ns is None else now_ns
    switch.engage(reason)
    ours = tuple(broker.cancel_open())
    cancel_all = getattr(broker.inner, "cancel_all", None)
    others = int(cancel_all()) if cancel_all is not None else 0
    flat: list[str] = []
    if flatten:
        from tftrade.core.orders import Order

        for ticker, qty in sorted(broker.positions().items()):
            cid = f"kill-{ticker[:10]}-{now_ns}"
            broker.submit(Order(cid, ticker, -qty, created_ns=now_ns, rationale=f"flatten: {reason}"),
                          decision_id=f"kill-{now_ns}", tag="kill", override_halt=True)
            flat.append(cid)
    return KillReport(reason, ours, others, tuple(flat))
