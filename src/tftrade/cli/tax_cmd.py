"""``tftrade tax``: import broker history, list lots, Form 8949 / Schedule D, tax alpha."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import typer

from tftrade.cli._common import JsonOption, command, emit, engine, settings, table
from tftrade.compliance.errors import TaxReportError

app = typer.Typer(help="Tax lots, wash sales, Form 8949 and Schedule D.", no_args_is_help=True)
_FORMATS = ("json", "csv", "pdf", "txf")


@app.command("import")
@command
def import_file(
    path: Path = typer.Argument(..., help="CSV: date, ticker, side, quantity, price, fees, account [, id, lots]."),
    splits: bool = typer.Option(False, "--splits", help="The file lists stock splits: date, ticker, ratio."),
    account: str = typer.Option("default", "--account", help="Account for rows without an account column."),
    account_type: str | None = typer.Option(None, "--account-type",
                                            help="taxable or ira: the type of the file's accounts that have no "
                                            "account_type column (default: as stored, else taxable)."),
    as_json: bool = JsonOption,
) -> None:
    """Import a broker's fills (or splits); checked whole first, then stored at once (re-import adds nothing)."""
    from tftrade.compliance.audit_log import AuditLog
    from tftrade.compliance.errors import TaxLotError
    from tftrade.compliance.tax_import import locate, parse_account_type, read_fills, read_splits
    from tftrade.compliance.tax_store import import_history

    rows: dict[str, int] = {}
    types: dict[str, Any] = {}
    default_type = None if account_type is None else parse_account_type(account_type, "--account-type")
    fills = [] if splits else read_fills(path, account, rows, types)
    if default_type is not None:
        types = {t.account: types.get(t.account, default_type) for t in fills} | types
    split_rows = read_splits(path) if splits else []
    eng = engine()
    try:
        counts = import_history(eng, fills, split_rows, str(path), types)
    except TaxLotError as e:  # name the file's row, not the fill's internal id
        raise locate(e, path, rows) from None
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    AuditLog(eng).append("tax_import", {"file": str(path), "sha256": digest, "kind": "splits" if splits else "fills",
                                        **counts})
    emit({"file": str(path), "sha256": digest, **counts}, as_json,
         lambda r: print(f"{r['file']}: {r['inserted']} fills and {r['splits_inserted']} splits stored "
                         f"({r['duplicates']} already known)"))


@app.command("lots")
@command
def lots(
    account: str | None = typer.Option(None, "--account"),
    ticker: str | None = typer.Option(None, "--ticker"),
    method: str = typer.Option("fifo", "--method", help="fifo, lifo, hifo, specific or mintax."),
    as_json: bool = JsonOption,
) -> None:
    """Open tax lots with their adjusted basis, wash-sale adjustment and holding-period start."""
    from tftrade.compliance.tax_store import load_history

    history = load_history(engine())
    ledger = history.ledger(_method(method))
    rows = [{"account": lot.account, "ticker": lot.ticker, "lot": lot.lot_id, "purchased": lot.purchased,
             "holding_from": lot.acquired, "shares": lot.quantity, "basis": lot.basis,
             "wash_adjustment": lot.adjustment}
            for lot in ledger.open_lots(account, ticker.upper() if ticker else None)]
    shorts = [{"account": lot.account, "ticker": lot.ticker, "lot": lot.lot_id, "sold_short": lot.opened,
               "shares": lot.quantity, "proceeds": lot.proceeds, "wash_adjustment": lot.adjustment,
               "loss_long_term": lot.long_term_loss}
              for lot in ledger.open_short_lots(account, ticker.upper() if ticker else None)]
    emit({"lots": rows, "short_lots": shorts, "deferred_losses": ledger.deferred_losses(),
          "account_types": dict(history.account_types), "notes": list(history.notes)}, as_json,
         _render_lots)


@app.command("8949")
@command
def form8949(
    year: int = typer.Option(..., "--year", min=1900, max=2999),
    account: str | None = typer.Option(None, "--account", help="One account (default: all)."),
    method: str = typer.Option("fifo", "--method", help="fifo, lifo, hifo, specific or mintax."),
    fmt: str = typer.Option("json", "--format", help="json, csv, pdf or txf."),
    box: str = typer.Option("A", "--box", help="A: basis reported on 1099-B (D long-term), B: not reported (E), "
                            "C: no 1099-B (F)."),
    out: Path | None = typer.Option(None, "--out", help="File to write (default: $TFTRADE_HOME/tax/)."),
    name: str = typer.Option("", "--name", help="Name shown on the return (PDF)."),
    group: list[str] | None = typer.Option(None, "--group", help="TICKER=GROUP: treat tickers of one group as "
                                           "substantially identical (repeatable)."),
    filing_status: str = typer.Option("single", "--filing-status",
                                      help="single, mfj, mfs, hoh or qss: the capital-loss limit ($1,500 for mfs, "
                                      "else $3,000)."),
    carryover_short: str = typer.Option("0", "--carryover-short", help="Short-term capital loss carried into the "
                                        "first year of the history from before it (dollars)."),
    carryover_long: str = typer.Option("0", "--carryover-long", help="Long-term capital loss carried in likewise."),
    as_json: bool = JsonOption,
) -> None:
    """Form 8949 (Part I/II, boxes A-F, code W) and the Schedule D totals for one tax year, with the
    $3,000 capital-loss limit and its carryover worked out from the earlier years' sales."""
    from tftrade.compliance.form8949 import form_8949
    from tftrade.compliance.form8949_export import capital_loss_dict, to_csv, to_dict, to_txf
    from tftrade.compliance.form8949_pdf import render_pdf
    from tftrade.compliance.tax_store import load_history

    if fmt not in _FORMATS:
        raise ValueError(f"--format {fmt!r} is not one of {', '.join(_FORMATS)}")
    if box.upper() not in ("A", "B", "C"):
        raise ValueError(f"--box {box!r} is not A, B or C")
    from tftrade.compliance.capital_loss import Carryover, loss_limit
    from tftrade.compliance.money import parse_decimal

    loss_limit(filing_status)  # type: ignore[arg-type]  # refuses an unknown status before any work
    carry = Carryover(parse_decimal(carryover_short, "--carryover-short"),
                      parse_decimal(carryover_long, "--carryover-long"))
    history = load_history(engine())
    ledger = history.ledger(_method(method), _groups(group))
    form = form_8949(ledger.taxable_dispositions(), year, account=account,
                     short_box=box.upper(), method=method, notes=history.notes,  # type: ignore[arg-type]
                     status=filing_status, carryover=carry)  # type: ignore[arg-type]
    summary: dict[str, Any] = {"year": year, "account": account, "method": method, "rows": len(form.rows),
                               "schedule_d": {ln.line: ln.totals for ln in form.schedule_d},
                               "capital_loss": capital_loss_dict(form),
                               "wash_sales": sum(1 for r in form.rows if r.code == "W"),
                               "notes": list(form.notes)}
    if fmt == "json" and out is None:
        emit(to_dict(form), True) if as_json else emit(to_dict(form), False, _render_form)
        return
    path = out or settings().home / "tax" / f"form8949-{year}{'-' + account if account else ''}.{fmt}"
    path.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "pdf":
        render_pdf(form, path, name)
    elif fmt == "txf":
        path.write_text(to_txf(form, datetime.now(UTC).date()), newline="")
    elif fmt == "csv":
        path.write_text(to_csv(form))
    else:
        import json

        from tftrade.cli._common import to_jsonable
        path.write_text(json.dumps(to_jsonable(to_dict(form)), indent=2))
    summary["path"] = path
    emit(summary, as_json, lambda r: print(f"Form 8949 {year}: {r['rows']} rows ({r['wash_sales']} wash sales), "
                                            f"Schedule D line 16 {r['schedule_d']['16'].gain}; written to {r['path']}"))


@app.command("alpha")
@command
def alpha(
    year: int = typer.Option(..., "--year"),
    account: str | None = typer.Option(None, "--account"),
    method: str = typer.Option("fifo", "--method"),
    short_rate: str = typer.Option("0.37", "--short-rate", help="Tax rate on short-term gains."),
    long_rate: str = typer.Option("0.20", "--long-rate", help="Tax rate on long-term gains."),
    as_json: bool = JsonOption,
) -> None:
    """Tax alpha of a year: realised short- vs long-term gains, deferred losses, tax under each method."""
    from decimal import Decimal

    from tftrade.compliance.tax_alpha import method_comparison
    from tftrade.compliance.tax_store import load_history

    history = load_history(engine())
    result = method_comparison(history.transactions, history.splits, year, account=account,
                               rates=(Decimal(short_rate), Decimal(long_rate)), chosen=_method(method),
                               ira_accounts=sorted(history.ira_accounts))
    emit(result, as_json, lambda r: table(f"tax by relief method, {year}", r["methods"]))


@app.command("check")
@command
def check(
    ticker: str = typer.Option(..., "--ticker"),
    shares: str = typer.Option(..., "--shares", help="Signed whole shares: > 0 buy, < 0 sell."),
    price: str = typer.Option(..., "--price"),
    on: str = typer.Option(..., "--date", help="Trade date YYYY-MM-DD."),
    account: str = typer.Option("tftrade", "--account"),
    mode: str = typer.Option("block", "--mode", help="block or resize."),
    max_disallowed: str = typer.Option("0", "--max-disallowed", help="Loss an order may wash (dollars)."),
    as_json: bool = JsonOption,
) -> None:
    """Would this order wash a loss? The pre-trade wash-sale rule on the stored history."""
    from tftrade.compliance.money import parse_decimal
    from tftrade.compliance.tax_import import parse_date
    from tftrade.compliance.tax_store import load_history
    from tftrade.compliance.wash_rule import ProposedOrder, WashSaleRule

    ledger = load_history(engine()).ledger()
    rule = WashSaleRule(ledger, account, mode, parse_decimal(max_disallowed, "--max-disallowed"))  # type: ignore[arg-type]
    order = ProposedOrder("cli", ticker.upper(), parse_decimal(shares, "--shares"), parse_decimal(price, "--price"))
    (verdict,) = rule.check([order], parse_date(on, "--date"))
    emit(verdict, as_json, lambda v: print(f"{v.action}: {v.approved} of {v.requested} shares"
                                           + (f" ({v.reason})" if v.reason else "")))


@app.command("harvest")
@command
def harvest(
    price: list[str] = typer.Option(..., "--price", help="TICKER=PRICE (repeatable), for held and substitute tickers."),
    substitute: list[str] = typer.Option(..., "--substitute", help="TICKER=SUBSTITUTE (repeatable)."),
    on: str = typer.Option(..., "--date", help="Trade date YYYY-MM-DD."),
    account: str | None = typer.Option(None, "--account"),
    min_loss_fraction: str = typer.Option("0.05", "--min-loss-fraction"),
    min_loss: str = typer.Option("100", "--min-loss", help="Dollars per ticker."),
    as_json: bool = JsonOption,
) -> None:
    """Plan loss harvesting: lots with losses beyond the threshold, sold for a configured substitute."""
    from tftrade.compliance.money import parse_decimal
    from tftrade.compliance.tax_import import parse_date
    from tftrade.compliance.tax_store import load_history
    from tftrade.portfolio.tax import OpenLot, plan_harvest

    prices = {k: parse_decimal(v, f"price of {k}") for k, v in _groups(price).items()}
    lots = [OpenLot(lot.ticker, lot.lot_id, lot.quantity, lot.basis, lot.acquired, lot.purchased)
            for lot in load_history(engine()).ledger().open_lots(account)]
    plan = plan_harvest(lots, prices, parse_date(on, "--date"), substitutes=_groups(substitute),
                        min_loss_fraction=parse_decimal(min_loss_fraction, "--min-loss-fraction"),
                        min_loss=parse_decimal(min_loss, "--min-loss"))
    emit({"trades": plan.trades, "skipped": [{"ticker": t, "reason": r} for t, r in plan.skipped],
          "harvested": plan.harvested}, as_json, lambda r: table("loss harvesting plan", r["trades"]))


def _groups(pairs: list[str] | None) -> dict[str, str]:
    out = {}
    for pair in pairs or []:
        ticker, sep, grp = pair.partition("=")
        if not sep or not ticker.strip() or not grp.strip():
            raise ValueError(f"{pair!r} is not KEY=VALUE (e.g. SPY=VOO)")
        out[ticker.strip().upper()] = grp.strip().upper()
    return out


def _method(method: str) -> Any:
    from tftrade.compliance.transactions import METHODS

    if method not in METHODS:
        raise ValueError(f"--method {method!r} is not one of {', '.join(METHODS)}")
    return method


def _render_lots(r: dict[str, Any]) -> None:
    table("open tax lots", r["lots"])
    if r["short_lots"]:
        table("open short sales", r["short_lots"])


def _render_form(d: dict[str, Any]) -> None:
    rows = [{"box": r["box"], "(a)": r["a_description"], "(b)": r["b_acquired"], "(c)": r["c_sold"],
             "(d)": r["d_proceeds"], "(e)": r["e_basis"], "(f)": r["f_code"], "(g)": r["g_adjustment"],
             "(h)": r["h_gain_or_loss"]} for r in d["rows"]]
    table(f"Form 8949, {d['year']}", rows)
    table("Schedule D", [{"line": s["line"], "label": s["label"], "(h)": s["gain"]} for s in d["schedule_d"]])


__all__ = ["TaxReportError", "app"]
