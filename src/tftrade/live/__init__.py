"""Live trading: the bus feed, the workers (ingest, sentiment, predict, trade), their supervisor."""
