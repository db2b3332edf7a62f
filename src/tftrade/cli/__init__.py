"""The ``tftrade`` command line (Typer). Thin: parses options, calls packages, prints results.

Every command takes ``--json`` and then prints one JSON document on stdout;
progress and logs go to stderr; errors are one line and exit code 1.
"""

from __future__ import annotations

import inspect
import json
import re
import sys
from collections.abc import Sequence
from typing import Any

import typer
from typer.core import TyperGroup

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
    models_cmd,
    orders_cmd,
    sentiment_cmd,
    service_cmd,
    stream_cmd,
    tax_cmd,
)


class _JsonErrorsGroup(TyperGroup):
    """Under ``--json``, a usage error (bad value, unknown or missing option) is one ``{"error", "kind"}`` line too."""

    def main(self, args: Sequence[str] | None = None, prog_name: str | None = None, complete_var: str | None = None,
             standalone_mode: bool = True, windows_expand_args: bool = True, **extra: Any) -> Any:
        argv = _aliases(list(sys.argv[1:] if args is None else args))
        if not standalone_mode or "--json" not in argv or "--help" in argv:
            return super().main(argv, prog_name, complete_var, standalone_mode, windows_expand_args, **extra)
        try:
            rv = super().main(argv, prog_name, complete_var, False, windows_expand_args, **extra)
        except typer.TyperException as e:  # Typer's own click: UsageError, BadParameter, NoSuchOption, ...
            sys.stdout.write(json.dumps({"error": e.format_message(), "kind": "usage"}) + "\n")
            sys.exit(e.exit_code)
        except typer.Abort:
            sys.stdout.write(json.dumps({"error": "aborted", "kind": "aborted"}) + "\n")
            sys.exit(1)
        sys.exit(rv if isinstance(rv, int) else 0)


def _aliases(argv: list[str]) -> list[str]:
    """``tftrade report compliance ...`` (issue #18's spelling) is ``tftrade compliance report ...``.

    ``tftrade report RUN_ID`` takes a run id as its first argument, so a sub-command there would
    change its parsing; run ids never read ``compliance``.
    """
    return ["compliance", "report", *argv[2:]] if argv[:2] == ["report", "compliance"] else argv


app = typer.Typer(
    cls=_JsonErrorsGroup,
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
models_cmd.register(app)
backtest_cmd.register(app)
demo_cmd.register(app)
orders_cmd.register(app)
service_cmd.register(app)
audit_cmd.register(app)
app.add_typer(tax_cmd.app, name="tax")
live_cmd.register(app)


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
