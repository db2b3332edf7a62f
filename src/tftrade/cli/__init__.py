"""The ``tftrade`` command line (Typer). Thin: parses options, calls packages, prints results.

Every command takes ``--json`` and then prints one JSON document on stdout;
progress and logs go to stderr; errors are one line and exit code 1.
"""

from __future__ import annotations

import typer

from tftrade.cli import (
    audit_cmd,
    backtest_cmd,
    config_cmd,
    data_cmd,
    db_cmd,
    demo_cmd,
    forecast_cmd,
    ingest_cmd,
    live_cmd,
    orders_cmd,
    sentiment_cmd,
    service_cmd,
    stream_cmd,
    tax_cmd,
)

app = typer.Typer(
    name="tftrade",
    help="Forecast minute returns with a Temporal Fusion Transformer and trade them under hard risk limits.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.add_typer(config_cmd.app, name="config")
app.add_typer(db_cmd.app, name="db")
ingest_cmd.app.command("comments")(sentiment_cmd.ingest_comments)
app.add_typer(ingest_cmd.app, name="ingest")
app.add_typer(data_cmd.app, name="data")
app.add_typer(sentiment_cmd.app, name="sentiment")
app.add_typer(stream_cmd.app, name="stream")
forecast_cmd.register(app)
backtest_cmd.register(app)
demo_cmd.register(app)
orders_cmd.register(app)
service_cmd.register(app)
audit_cmd.register(app)
app.add_typer(tax_cmd.app, name="tax")
live_cmd.register(app)


def main() -> None:
    """Entry point of the ``tftrade`` script."""
    app()
