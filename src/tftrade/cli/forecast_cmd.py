"""``tftrade train | predict | explain``: the Temporal Fusion Transformer (filled in by the forecast work)."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add the forecasting commands to the top-level app."""
