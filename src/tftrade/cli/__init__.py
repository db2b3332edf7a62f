"""The ``tftrade`` command line (Typer). Thin: parses options, calls packages, prints results.

Every command takes ``--json`` and then prints one JSON document on stdout;
progress and logs go to stderr; errors are one line and exit code 1.
"""

from __future__ import annotations

import inspect
import re

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


def _reflow(doc: str) -> str:
    """A docstring as help text: each paragraph on one line (Typer keeps the source's line breaks)."""
    paragraphs = [" ".join(line.strip() for line in p.splitlines()) for p in inspect.cleandoc(doc).split("\n\n")]
    return re.sub(r"``(.+?)``", r"`\1`", "\n\n".join(paragraphs))


def _reflow_help(typer_app: typer.Typer) -> None:
    for info in typer_app.registered_commands:
        doc = info.help or (inspect.getdoc(info.callback) if info.callback else None)
        if doc:
            info.help = _reflow(doc)
    for group in typer_app.registered_groups:
        if group.typer_instance is not None:
            _reflow_help(group.typer_instance)


_reflow_help(app)


def main() -> None:
    """Entry point of the ``tftrade`` script."""
    app()
