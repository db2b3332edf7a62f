"""``tftrade models``: the registered versions and the champion every loader uses (list, promote)."""

from __future__ import annotations

import getpass
from datetime import UTC, datetime
from typing import Any

import typer

from tftrade.cli._common import JsonOption, command, emit, engine, settings, table

app = typer.Typer(help="Registered models: list the versions, promote one to champion.", no_args_is_help=True)


def register(root: typer.Typer) -> None:
    """Add ``models`` to the top-level app."""
    root.add_typer(app, name="models")


def _default_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no login name (a container without a passwd entry)
        return "unknown"


@app.command("list")
@command
def list_models(as_json: bool = JsonOption) -> None:
    """Each registered version with its metrics and tags, and which is the champion.

    With no version named, ``predict``, ``live``, the workers and ``serve`` use the champion, or the
    newest version while none is set.
    """
    from tftrade.cli.forecast_cmd import _registry

    cfg = settings()
    registry = _registry(cfg).open(cfg.home)
    versions = registry.describe()
    champion = registry.champion()
    used = registry.select().version if versions else None
    result = {"model": registry.name, "champion": champion, "used": used,
              "selection": None if used is None else ("champion" if champion == used else "newest"),
              "versions": versions}
    emit(result, as_json, _render)


def _render(r: dict[str, Any]) -> None:
    table(f"model {r['model']}", [{
        "version": v["version"], "champion": "*" if v["champion"] else "",
        "status": v["tags"].get("status", ""),
        "tft q-risk p50": "" if (q := v["metrics"].get("tft.q_risk_p50")) is None else f"{q:.4f}",
        "promoted by": v["tags"].get("promoted_by", ""),
        "created": datetime.fromtimestamp(v["created_ms"] / 1000, UTC).strftime("%Y-%m-%d %H:%M") if v["created_ms"]
        else "",
    } for v in r["versions"]])
    if r["used"] is not None:
        why = "the champion" if r["selection"] == "champion" else "the newest; no champion set"
        print(f"loaders use version {r['used']} ({why})")


@app.command("promote")
@command
def promote(
    version: str = typer.Argument(..., help="The registered version to make the champion."),
    force: bool = typer.Option(False, "--force", help="Promote a version marked loses_to_baseline anyway."),
    by: str | None = typer.Option(None, "--by", help="Who approves the promotion (default: the login name)."),
    chain: str = typer.Option("live", "--chain", help="Audit chain to record the promotion in."),
    as_json: bool = JsonOption,
) -> None:
    """Make VERSION the champion (the model predict, live, the workers and serve use) and record it in the audit trail.

    A version marked loses_to_baseline is refused unless --force. A running ``tftrade serve`` switches to the new
    champion on its next look at the registry and alerts ``model_promoted``; ``live`` and the workers load it when
    they start. The audit entry is written first: if it cannot be, the champion is left unchanged.
    """
    from tftrade.cli.forecast_cmd import _registry
    from tftrade.compliance.audit_log import AuditLog
    from tftrade.compliance.promotion import promote_audited

    cfg = settings()
    sink = AuditLog(engine(cfg), chain)  # the database first: a promotion is never left unrecorded by a missing store
    registry = _registry(cfg).open(cfg.home)
    # the audit entry is written before the champion changes: a failed write leaves the champion as it was
    done = promote_audited(registry, sink, version, approved_by=by or _default_user(), force=force)
    result = {"model": done.model, "version": done.version, "previous": done.previous,
              "approved_by": done.approved_by, "forced": force, "status": done.status,
              "audit": {"chain": chain, "seq": done.audit_seq}}
    emit(result, as_json, lambda r: print(
        f"model {r['model']} version {r['version']} is the champion (was {r['previous'] or 'none'}), approved by "
        f"{r['approved_by']}; audit {r['audit']['chain']} #{r['audit']['seq']}"))
