"""Execution: the broker port, the paper broker, costs, FIFO lots and the order manager.

See ``docs/execution.md`` for the fill rules and cost formulas.
"""

from tftrade.execution.broker import Broker
from tftrade.execution.costs import CostModel
from tftrade.execution.errors import BrokerUnavailable, DuplicateOrderIdError, ExecutionError, UnknownOrderError
from tftrade.execution.lots import Lot, LotBook
from tftrade.execution.manager import OrderManager, Reconciliation, TradeRecord
from tftrade.execution.paper import PaperBroker

__all__ = [
    "Broker",
    "BrokerUnavailable",
    "CostModel",
    "DuplicateOrderIdError",
    "ExecutionError",
    "Lot",
    "LotBook",
    "OrderManager",
    "PaperBroker",
    "Reconciliation",
    "TradeRecord",
    "UnknownOrderError",
]
