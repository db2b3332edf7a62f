"""What every command shares: settings, the engine, output (human or ``--json``) and errors.

Commands stay thin: parse options, call a package, hand the result to :func:`emit`.
Progress and logs go to stderr; with ``--json`` stdout carries exactly one JSON document.
"""

from __future__ import annotations

import json
import logging
import os
import re
import sys
import warnings
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
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from sqlalchemy import Engine

from tftrade.core.config import ConfigWarning, Settings, load_settings, mask_url
from tftrade.core.errors import StoreError, TftradeError, first_line

P = ParamSpec("P")
R = TypeVar("R")

stderr = Console(stderr=True, soft_wrap=True)  # a message is one line, however narrow the terminal
_on_exit: ContextVar[list[Callable[[], None]] | None] = ContextVar("tftrade_cli_on_exit", default=None)
JsonOption = typer.Option(False, "--json", help="Print one JSON document on stdout.")
JsonLinesOption = typer.Option(False, "--json", help="Print one JSON line per event on stdout.")


def settings() -> Settings:
    """Load the effective settings (environment, ``$TFTRADE_CONFIG`` YAML, defaults).

    Configuration warnings (a ``TFTRADE_*`` variable no setting reads) go to stderr as one line each.
    """
    quiet_libraries()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConfigWarning)
        cfg = load_settings()
    for w in caught:
        stderr.print(f"[yellow]warning:[/yellow] {w.message}", highlight=False, soft_wrap=True)
    return cfg


def quiet_libraries() -> None:
    """Keep libraries' INFO lines and progress bars (MLflow's database setup, artifact downloads) off the terminal."""
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "WARNING")
    for name in ("mlflow", "alembic"):
        logging.getLogger(name).setLevel(logging.WARNING)


def tune_compute(cfg: Settings) -> None:
    """Apply the ``forecast`` section's process settings: torch threads and the memory policy."""
    if cfg.forecast.torch_threads is not None:
        import torch

        torch.set_num_threads(cfg.forecast.torch_threads)
    if cfg.forecast.retain_memory:
        from tftrade.core.memory import retain_freed_memory

        retain_freed_memory()


def engine(cfg: Settings | None = None, *, create: bool = False) -> Engine:
    """Open the configured database; only ``create=True`` (``tftrade db init``, the demo) creates or migrates it.

    Raises
    ------
    StoreError
        If the database has no tftrade schema or an older one: the message says to run ``tftrade db init``.
    """
    from tftrade.store.engine import make_engine, sqlite_path
    from tftrade.store.migrate import current_revision, head_revision, is_known, unknown_revision_message, upgrade

    cfg = cfg or settings()
    url = cfg.resolved_database_url()
    path = sqlite_path(url)
    if not create and path is not None and not path.exists():
        raise StoreError(f"database {mask_url(url)!r} does not exist: run `tftrade db init` first")
    eng = make_engine(url)
    hooks = _on_exit.get()
    if hooks is not None:
        hooks.append(eng.dispose)
    if create:
        upgrade(eng)
        return eng
    current, head = current_revision(eng), head_revision()
    if current is None:
        raise StoreError(f"database {mask_url(url)!r} has no tftrade schema: run `tftrade db init` first")
    if current != head and not is_known(current):
        raise StoreError(unknown_revision_message(mask_url(url), current))
    if current != head:
        raise StoreError(f"database {mask_url(url)!r} is at schema revision {current}, this tftrade needs {head}: "
                         "run `tftrade db init` to migrate it")
    return eng


_ERROR_KINDS: tuple[tuple[type[BaseException], str], ...] = (
    (FileNotFoundError, "not_found"), (ValueError, "invalid_input"), (OSError, "io"),
)


def error_kind(e: BaseException) -> str:
    """Name the kind of an error for ``{"error": ..., "kind": ...}``: ``ConfigError`` → ``config``.

    Examples
    --------
    >>> from tftrade.core.errors import NotFoundError
    >>> error_kind(NotFoundError("x")), error_kind(ValueError("x")), error_kind(KeyError("x"))
    ('not_found', 'invalid_input', 'internal')
    """
    if isinstance(e, TftradeError):
        name = type(e).__name__.removesuffix("Error") or "tftrade"
        return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()
    return next((kind for cls, kind in _ERROR_KINDS if isinstance(e, cls)), "internal")


def fail(e: BaseException, as_json: bool) -> None:
    """Report ``e`` as one line on stderr, or as one JSON document on stdout under ``--json``."""
    kind = error_kind(e)
    message = first_line(e)
    if kind == "internal":
        message = f"internal error ({type(e).__name__}): {message}"
    if as_json:
        sys.stdout.write(json.dumps({"error": message, "kind": kind}) + "\n")
    else:
        stderr.print(f"[red]error:[/red] {escape(message)}", highlight=False, soft_wrap=True)


def command(fn: Callable[P, R]) -> Callable[P, R]:
    """Turn any error into one line on stderr (``--json``: one ``{"error", "kind"}`` document) and exit 1.

    Database engines opened by the command through :func:`engine` are disposed when it ends.
    """

    @wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        hooks: list[Callable[[], None]] = []
        token = _on_exit.set(hooks)
        try:
            return fn(*args, **kwargs)
        except (typer.Exit, typer.Abort, KeyboardInterrupt):
            raise
        except Exception as e:
            fail(e, bool(kwargs.get("as_json")))
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
