"""``tftrade config show``: the effective configuration, secrets masked."""

from __future__ import annotations

import typer

from tftrade.cli._common import JsonOption, command, emit, settings

app = typer.Typer(help="Show the effective configuration.", no_args_is_help=True)


@app.command("show")
@command
def show(as_json: bool = JsonOption) -> None:
    """Print the effective configuration (environment, $TFTRADE_CONFIG YAML, defaults); secrets masked."""
    emit(settings().masked(), as_json)
