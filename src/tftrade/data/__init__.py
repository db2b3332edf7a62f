"""Market data in: sources (CSV/Parquet, synthetic market, vendors), validation, quarantine, ingest."""
