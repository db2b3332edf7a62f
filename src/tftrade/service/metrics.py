"""Prometheus metrics of a running desk, named by Prometheus conventions (``tftrade_`` prefix, base units, ``_total``).

One :class:`Metrics` holds its own registry (no global state); ``/metrics`` renders it.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Info, generate_latest

_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


class Metrics:
    """The desk's counters, gauges and histograms."""

    def __init__(self) -> None:
        r = self.registry = CollectorRegistry(auto_describe=True)
        self.bars_ingested = Counter("tftrade_bars_ingested_total", "Bars seen on the market_data topic",
                                     ["source"], registry=r)
        self.bus_lag = Gauge("tftrade_bus_lag_messages", "Messages published but not yet acknowledged, per topic",
                             ["topic"], registry=r)
        self.prediction_latency = Histogram("tftrade_prediction_latency_seconds",
                                            "Bar close to prediction published", buckets=_LATENCY_BUCKETS, registry=r)
        self.bar_to_order_latency = Histogram("tftrade_bar_to_order_latency_seconds",
                                              "Bar arrival to order at the broker", buckets=_LATENCY_BUCKETS,
                                              registry=r)
        self.orders = Counter("tftrade_orders_total", "Orders by status", ["status"], registry=r)
        self.fills = Counter("tftrade_fills_total", "Fills reported by the broker", registry=r)
        self.gate_rejections = Counter("tftrade_gate_rejections_total", "Risk-gate rejections by reason",
                                       ["reason"], registry=r)
        self.reconciliation_mismatches = Counter("tftrade_reconciliation_mismatches_total",
                                                 "Differences found by reconciliation", registry=r)
        self.equity = Gauge("tftrade_equity_dollars", "Account equity", registry=r)
        self.drawdown = Gauge("tftrade_drawdown_ratio", "Drawdown from the equity peak (0.05 = 5 %)", registry=r)
        self.feed_connected = Gauge("tftrade_feed_connected", "1 when the market-data feed is connected",
                                    ["feed"], registry=r)
        self.feed_age = Gauge("tftrade_feed_age_seconds", "Age of the newest bar", registry=r)
        self.model = Info("tftrade_model", "Model serving predictions", registry=r)
        self.requests = Counter("tftrade_http_requests_total", "API requests", ["route", "status"], registry=r)
        self.request_duration = Histogram("tftrade_http_request_duration_seconds", "API request duration",
                                          ["route"], buckets=_LATENCY_BUCKETS, registry=r)
        self.alerts = Counter("tftrade_alerts_total", "Alerts by type and outcome", ["type", "outcome"], registry=r)
        self.alert_gate_errors = Counter("tftrade_alert_gate_errors_total",
                                         "Alerts decided in process because the shared (Redis) dedupe did not answer",
                                         registry=r)

    def render(self) -> bytes:
        """The registry in Prometheus' text exposition format."""
        return generate_latest(self.registry)
