"""What every command shares: settings, the engine, output (human or ``--json``) and errors.

Commands stay thin: parse options, call a package, hand the result to :func:`emit`.
Progress and logs go to stderr; with ``--json`` stdout carries exactly one JSON document.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import asdict, is_dataclass
from datetime import date, datetime
from decimal import Decimal
from functools import wraps
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

import numpy as np
import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from sqlalchemy import Engine

from tftrade.core.config import Settings, load_settings
from tftrade.core.errors import TftradeError

P = ParamSpec("P")
R = TypeVar("R")

stderr = Console(stderr=True)
_on_exit: ContextVar[list[Callable[[], None]] | None] = ContextVar("tftrade_cli_on_exit", default=None)
JsonOption = typer.Option(False, "--json", help="Print one JSON document on stdout.")


def settings() -> Settings:
    """Load the effective settings (environment, ``$TFTRADE_CONFIG`` YAML, defaults)."""
    return load_settings()


def tune_compute(cfg: Settings) -> None:
    """Apply the ``forecast`` section's process settings: torch threads and the memory policy."""
    if cfg.forecast.torch_threads is not None:
        import torch

        torch.set_num_threads(cfg.forecast.torch_threads)
    if cfg.forecast.retain_memory:
        from tftrade.core.memory import retain_freed_memory

        retain_freed_memory()


def engine(cfg: Settings | None = None, *, migrate: bool = True) -> Engine:
    """Open the configured database, bringing its schema up to date first."""
    from tftrade.store.engine import make_engine
    from tftrade.store.migrate import upgrade

    cfg = cfg or settings()
    eng = make_engine(cfg.resolved_database_url())
    hooks = _on_exit.get()
    if hooks is not None:
        hooks.append(eng.dispose)
    if migrate:
        upgrade(eng)
    return eng


def command(fn: Callable[P, R]) -> Callable[P, R]:
    """Turn a :class:`TftradeError` (or bad input) into one line on stderr and exit code 1.

    Database engines opened by the command through :func:`engine` are disposed when it ends.
    """

    @wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        hooks: list[Callable[[], None]] = []
        token = _on_exit.set(hooks)
        try:
            return fn(*args, **kwargs)
        except (TftradeError, ValueError, FileNotFoundError) as e:
            stderr.print(f"[red]error:[/red] {e}", highlight=False, soft_wrap=True)
            raise typer.Exit(1) from None
        finally:
            for hook in reversed(hooks):
                hook()
            _on_exit.reset(token)

    return wrapper


def to_jsonable(obj: Any) -> Any:
    """Convert dataclasses, decimals, numpy values, dates and paths to JSON types."""
    if is_dataclass(obj) and not isinstance(obj, type):
        return to_jsonable(asdict(obj))
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple | set):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, Decimal):
        return str(obj)
    if isinstance(obj, datetime | date):
        return obj.isoformat()
    if isinstance(obj, Path):
        return str(obj)
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, float) and not np.isfinite(obj):
        return None
    return obj


def emit(result: Any, as_json: bool, render: Callable[[Any], None] | None = None) -> None:
    """Print ``result``: one JSON document if ``as_json``, else through ``render`` (or as a table)."""
    if as_json:
        sys.stdout.write(json.dumps(to_jsonable(result), indent=2) + "\n")
        return
    if render is not None:
        render(result)
    else:
        Console().print(to_jsonable(result))


def table(title: str, rows: list[dict[str, Any]]) -> None:
    """Print ``rows`` (dicts with the same keys) as a rich table on stdout."""
    out = Table(title=title)
    if not rows:
        Console().print(f"{title}: none")
        return
    for key in rows[0]:
        out.add_column(str(key))
    for row in rows:
        out.add_row(*(str(to_jsonable(v)) for v in row.values()))
    Console().print(out)


@contextmanager
def progress(description: str, total: int | None) -> Iterator[Callable[[int], None]]:
    """Yield an ``advance(n)`` callback that drives a progress bar on stderr."""
    bar = Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
        console=stderr, transient=True,
    )
    with bar:
        task = bar.add_task(description, total=total)
        yield lambda n: bar.advance(task, n)
