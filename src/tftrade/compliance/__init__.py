"""Compliance: the hash-chained audit log, tax lots, wash sales, Form 8949, tax-aware trading.

Comes after execution and backtest in the pipeline and before service and cli; earlier
packages never import it (the trading loop receives an :class:`~tftrade.compliance.audit_log.AuditSink`).
"""
