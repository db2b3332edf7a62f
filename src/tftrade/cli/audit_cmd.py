"""``tftrade audit`` (verify, show, export the hash-chained audit log) and ``tftrade compliance report``."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import typer

from tftrade.cli._common import JsonOption, command, emit, engine, settings, stderr, table

app = typer.Typer(help="The tamper-evident audit trail.", no_args_is_help=True)
compliance_app = typer.Typer(help="Compliance reports.", no_args_is_help=True)


def register(root: typer.Typer) -> None:
    """Add ``audit`` and ``compliance`` to the top-level app."""
    root.add_typer(app, name="audit")
    root.add_typer(compliance_app, name="compliance")


def _key(key_file: Path | None) -> bytes | None:
    return key_file.read_bytes().strip() if key_file is not None else None


@app.command("verify")
@command
def verify(
    chain: str = typer.Option("live", "--chain"),
    expect_head: str | None = typer.Option(None, "--expect-head", help="A head hash recorded earlier (export)."),
    bundle: Path | None = typer.Option(None, "--bundle", help="Verify an exported bundle file instead."),
    key_file: Path | None = typer.Option(None, "--key-file", help="HMAC key the bundle was signed with."),
    as_json: bool = JsonOption,
) -> None:
    """Check every entry's hash, link and sequence number; name the first bad entry (exit 1 if any)."""
    from tftrade.compliance.audit_export import verify_bundle
    from tftrade.compliance.audit_log import AuditLog

    report = verify_bundle(bundle, _key(key_file)) if bundle else AuditLog(engine(), chain).verify(expect_head)
    emit(report, as_json, lambda r: print(
        f"audit chain {r.chain}: {r.entries} entries, head {r.head_seq} {r.head_hash}" + (" OK" if r.ok else "")))
    if not report.ok:
        stderr.print(f"[red]error:[/red] audit chain {report.chain} is broken at entry {report.first_bad_seq}: "
                     f"{report.problem}", highlight=False, soft_wrap=True)
        raise typer.Exit(1)


@app.command("show")
@command
def show(
    order: str = typer.Option(..., "--order", help="Client order id."),
    chain: str = typer.Option("live", "--chain"),
    as_json: bool = JsonOption,
) -> None:
    """The full story of one trade: the decision, the risk checks, each order state, each fill."""
    from tftrade.compliance.audit_log import AuditLog
    from tftrade.core.errors import NotFoundError

    story = AuditLog(engine(), chain).story(order)
    if not story:
        raise NotFoundError(f"no audit entries for order {order!r} in chain {chain!r}")
    rows = [{"seq": e.seq, "kind": e.kind, "recorded_at": e.recorded_at, "payload": e.payload, "hash": e.entry_hash}
            for e in story]
    emit({"order_id": order, "chain": chain, "entries": rows}, as_json, _render_story)


def _render_story(r: dict[str, Any]) -> None:
    print(f"order {r['order_id']} ({len(r['entries'])} entries, chain {r['chain']})")
    for e in r["entries"]:
        detail = ", ".join(f"{k}={v}" for k, v in e["payload"].items() if v not in (None, {}, [], ""))
        print(f"  #{e['seq']} {e['recorded_at']} {e['kind']}: {detail}")


@app.command("export")
@command
def export(
    out: Path | None = typer.Option(None, "--out", help="Bundle file (default: $TFTRADE_HOME/audit/...)."),
    chain: str = typer.Option("live", "--chain"),
    signed_off_by: str = typer.Option(..., "--signed-off-by", help="Who signs the export off."),
    key_file: Path | None = typer.Option(None, "--key-file", help="HMAC key to sign the bundle with."),
    as_json: bool = JsonOption,
) -> None:
    """Write a signed-off bundle: every entry, the head hash, the verification, a digest (and HMAC)."""
    from tftrade.compliance.audit_export import export_bundle
    from tftrade.compliance.audit_log import AuditLog

    now = datetime.now(UTC)
    path = out or settings().home / "audit" / f"audit-{chain}-{now.strftime('%Y%m%dT%H%M%S')}.json"
    info = export_bundle(AuditLog(engine(), chain), path, signed_off_by=signed_off_by, now=now, key=_key(key_file))
    emit(info, as_json, lambda r: print(f"exported {r['entries']} entries of {r['chain']} to {r['path']}; "
                                        f"head {r['head_seq']} {r['head_hash']}"))


@app.command("tail")
@command
def tail(
    n: int = typer.Option(20, "-n", min=1),
    chain: str = typer.Option("live", "--chain"),
    as_json: bool = JsonOption,
) -> None:
    """The newest entries of a chain."""
    from tftrade.compliance.audit_log import AuditLog

    log = AuditLog(engine(), chain)
    head = log.head()
    entries = log.entries(since_seq=max(0, (head.seq if head else 0) - n))
    rows = [{"seq": e.seq, "kind": e.kind, "recorded_at": e.recorded_at, "orders": list(e.order_ids),
             "hash": e.entry_hash} for e in entries]  # full hashes in JSON: a script checks them against a head
    emit({"chain": chain, "entries": rows}, as_json, lambda r: table(f"audit chain {chain}", [
        {**row, "orders": ",".join(row["orders"]), "hash": row["hash"][:16]} for row in r["entries"]]))


@compliance_app.command("report")
@command
def report(
    period: str = typer.Option(..., "--period", help="A quarter (2026Q1), a year (2026) or a month (2026-03)."),
    run_id: str | None = typer.Option(None, "--run", help="Backtest run to report (default: the latest)."),
    chain: str = typer.Option("live", "--chain", help="Audit chain whose head hash the report quotes."),
    out: Path | None = typer.Option(None, "--out", help="HTML file (default: in the run's folder)."),
    as_json: bool = JsonOption,
) -> None:
    """Compliance report for a period: linked Brinson attribution, timing, limit usage and breaches, VaR,
    drawdown, turnover and the audit chain's head hash (HTML)."""
    from tftrade.backtest.runs import load_run
    from tftrade.compliance.audit_log import AuditLog
    from tftrade.compliance.report import build_report, render_report

    cfg = settings()
    run = load_run(cfg.home, run_id)
    log = AuditLog(engine(cfg), chain)
    data = build_report(run, period, log.verify())
    path = render_report(data, out or run.path / f"compliance-{period}.html")
    emit({"period": period, "run_id": run.run_id, "report": path, "summary": data.summary()}, as_json,
         lambda r: print(f"compliance report {r['period']} of {r['run_id']}: {r['report']}"))
