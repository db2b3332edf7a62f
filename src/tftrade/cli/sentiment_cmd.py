"""``tftrade sentiment ...``: score, aggregate, train (filled in by the sentiment engine work)."""

from __future__ import annotations

import typer

app = typer.Typer(help="Score comments, aggregate sentiment per ticker and window, train the learned scorer.",
                  no_args_is_help=True)
