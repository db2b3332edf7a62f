"""`tftrade tax` and `tftrade audit` as a user runs them (SQLite in an isolated TFTRADE_HOME)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tftrade.cli import app

pytestmark = pytest.mark.usefixtures("initialized_home")

runner = CliRunner()

FILLS = """date,ticker,side,quantity,price,fees,account,id
2024-09-24,MMM,buy,100,50.00,0,brokerage,b1
2024-12-18,MMM,buy,50,55.00,0,brokerage,b2
2024-12-28,MMM,buy,25,45.00,0,brokerage,b3
2025-01-07,MMM,sell,100,40.00,0,brokerage,s1
2023-03-01,ABC,buy,10,100.00,1.00,brokerage,c1
2025-06-03,ABC,sell,10,150.00,1.00,brokerage,c2
"""


def _run(args: list[str], code: int = 0) -> dict:  # type: ignore[type-arg]
    result = runner.invoke(app, [*args, "--json"])
    assert result.exit_code == code, result.output
    return json.loads(result.stdout) if code == 0 else {}  # type: ignore[no-any-return]


def _files(tmp_path: Path) -> Path:
    fills = tmp_path / "fills.csv"
    fills.write_text(FILLS)
    return fills


def test_import_then_8949_in_every_format(tmp_path: Path) -> None:
    fills = _files(tmp_path)
    first = _run(["tax", "import", str(fills)])
    assert (first["inserted"], first["duplicates"]) == (6, 0)
    assert _run(["tax", "import", str(fills)])["duplicates"] == 6  # idempotent
    form = _run(["tax", "8949", "--year", "2025"])
    rows = form["rows"]
    mmm = next(r for r in rows if r["a_description"] == "100 sh. MMM")
    assert (mmm["f_code"], mmm["g_adjustment"], mmm["h_gain_or_loss"]) == ("W", "750.00", "-250.00")  # Pub 550
    abc = next(r for r in rows if r["a_description"] == "10 sh. ABC")
    assert abc["box"] == "D" and abc["e_basis"] == "1001.00" and abc["h_gain_or_loss"] == "498.00"
    lines = {s["line"]: s for s in form["schedule_d"]}
    assert lines["1b"]["gain"] == "-250.00" and lines["8b"]["gain"] == "498.00" and lines["16"]["gain"] == "248.00"
    for fmt in ("csv", "txf", "pdf"):
        out = _run(["tax", "8949", "--year", "2025", "--format", fmt, "--out", str(tmp_path / f"f.{fmt}")])
        assert Path(out["path"]).stat().st_size > 0
    txf = (tmp_path / "f.txf").read_text()
    assert txf.startswith("V042") and "N711" in txf and "N713" in txf and "$750.00" in txf
    assert (tmp_path / "f.pdf").read_bytes().startswith(b"%PDF-1.4")
    assert "W,750.00,-250.00" in (tmp_path / "f.csv").read_text()
    lots = _run(["tax", "lots"])
    assert sorted(lot["basis"] for lot in lots["lots"]) == ["1375.00000000", "3250.00000000"]
    alpha = _run(["tax", "alpha", "--year", "2025"])
    assert {m["method"] for m in alpha["methods"]} == {"fifo", "lifo", "hifo", "mintax"}


def test_bad_inputs_are_one_line_errors_and_store_nothing(tmp_path: Path) -> None:
    oversell = tmp_path / "oversell.csv"
    oversell.write_text("date,ticker,side,quantity,price\n2024-01-02,X,buy,1,10\n2024-01-03,X,sell,2,11\n")
    result = runner.invoke(app, ["tax", "import", str(oversell)])
    assert result.exit_code == 1 and "only 1 are held" in result.output
    order = tmp_path / "order.csv"
    order.write_text("date,ticker,side,quantity,price\n2024-01-05,X,buy,1,10\n2024-01-03,X,buy,1,11\n")
    result = runner.invoke(app, ["tax", "import", str(order)])
    assert result.exit_code == 1 and "date order" in result.output
    splits = tmp_path / "splits.csv"
    splits.write_text("date,ticker,ratio\n2024-01-05,X,0\n")
    result = runner.invoke(app, ["tax", "import", "--splits", str(splits)])
    assert result.exit_code == 1 and "must be positive" in result.output
    floaty = tmp_path / "bad.csv"
    floaty.write_text("date,ticker,side,quantity,price\n2024-01-05,X,buy,one,10\n")
    result = runner.invoke(app, ["tax", "import", str(floaty)])
    assert result.exit_code == 1 and "row 2" in result.output and "quantity" in result.output
    assert _run(["tax", "lots"])["lots"] == []
    result = runner.invoke(app, ["tax", "8949", "--year", "2019"])
    assert result.exit_code == 1 and "no sales in 2019" in result.output


def test_split_file_adjusts_lots(tmp_path: Path) -> None:
    fills = tmp_path / "f.csv"
    fills.write_text("date,ticker,side,quantity,price,fees\n2024-01-02,X,buy,10,100,0\n2024-08-01,X,sell,20,60,0\n")
    splits = tmp_path / "s.csv"
    splits.write_text("date,ticker,new,old\n2024-06-10,X,2,1\n")
    _run(["tax", "import", "--splits", str(splits)])
    _run(["tax", "import", str(fills)])
    (row,) = _run(["tax", "8949", "--year", "2024"])["rows"]
    assert (row["a_description"], row["e_basis"], row["h_gain_or_loss"]) == ("20 sh. X", "1000.00", "200.00")


def test_audit_commands(tmp_path: Path) -> None:
    fills = _files(tmp_path)
    _run(["tax", "import", str(fills)])  # the import itself is audited
    report = _run(["audit", "verify"])
    assert report["ok"] and report["entries"] == 1
    key = tmp_path / "key"
    key.write_text("secret")
    info = _run(["audit", "export", "--signed-off-by", "CCO", "--out", str(tmp_path / "b.json"),
                 "--key-file", str(key)])
    assert info["head_seq"] == 1 and info["signed"]
    assert _run(["audit", "verify", "--bundle", str(tmp_path / "b.json"), "--key-file", str(key)])["ok"]
    assert _run(["audit", "verify", "--expect-head", info["head_hash"]])["ok"]
    result = runner.invoke(app, ["audit", "verify", "--expect-head", "f" * 64])
    assert result.exit_code == 1 and "broken at entry" in result.output
    result = runner.invoke(app, ["audit", "show", "--order", "nope"])
    assert result.exit_code == 1 and "no audit entries" in result.output


def test_check_and_harvest_commands(tmp_path: Path) -> None:
    fills = tmp_path / "f.csv"
    fills.write_text("date,ticker,side,quantity,price,account\n2025-01-02,SPY,buy,100,500,A\n"
                     "2025-03-03,QQQ,buy,10,400,A\n2025-03-10,QQQ,sell,10,300,A\n")
    _run(["tax", "import", str(fills)])
    v = _run(["tax", "check", "--ticker", "QQQ", "--shares", "5", "--price", "310", "--date", "2025-03-20",
              "--account", "A"])
    assert v["action"] == "reject" and "wash" in v["reason"]
    v = _run(["tax", "check", "--ticker", "QQQ", "--shares", "5", "--price", "310", "--date", "2025-04-20",
              "--account", "A"])
    assert v["action"] == "accept"
    plan = _run(["tax", "harvest", "--price", "SPY=450", "--price", "VOO=410", "--substitute", "SPY=VOO",
                 "--date", "2025-11-03"])
    (trade,) = plan["trades"]
    assert (trade["ticker"], trade["loss"], trade["substitute"]) == ("SPY", "5000", "VOO")
    result = runner.invoke(app, ["tax", "harvest", "--price", "SPY", "--substitute", "SPY=VOO", "--date", "2025-11-03"])
    assert result.exit_code == 1 and "KEY=VALUE" in result.output


def test_a_fill_that_does_not_book_is_named_by_its_row(tmp_path: Path) -> None:
    first = tmp_path / "first.csv"
    first.write_text("date,ticker,side,quantity,price\n2024-01-02,X,buy,1,10\n2024-03-01,Y,buy,1,10\n")
    assert _run(["tax", "import", str(first)])["inserted"] == 2
    oversell = tmp_path / "oversell.csv"
    oversell.write_text("date,ticker,side,quantity,price\n\n2024-03-05,Y,buy,1,10\n2024-03-06,X,sell,2,11\n")
    result = runner.invoke(app, ["tax", "import", str(oversell), "--json"])
    assert result.exit_code == 1
    error = json.loads(result.stdout)["error"]
    assert error.startswith("oversell.csv row 4: sells 2 X") and "r-" not in error
    older = tmp_path / "older.csv"  # Y on 2024-02-01 is older than the stored 2024-03-01
    older.write_text("date,ticker,side,quantity,price\n2024-02-01,Y,buy,1,10\n")
    error = json.loads(runner.invoke(app, ["tax", "import", str(older), "--json"]).stdout)["error"]
    assert error.startswith("older.csv row 2: Y trade dated 2024-02-01") and "already imported" in error
    assert len(_run(["tax", "lots"])["lots"]) == 2  # nothing of the refused files was stored


def test_audit_tail_json_carries_full_hashes_that_match_verify(tmp_path: Path) -> None:
    _run(["tax", "import", str(_files(tmp_path))])
    head = _run(["audit", "verify"])["head_hash"]
    tail = _run(["audit", "tail", "-n", "5"])["entries"]
    assert tail[-1]["hash"] == head and len(head) == 64 and tail[-1]["orders"] == []
    shown = runner.invoke(app, ["audit", "tail"])
    assert shown.exit_code == 0 and head[:16] in shown.output


SHORTS_AND_IRA = """date,ticker,side,quantity,price,fees,account,account_type,id
2024-01-02,XYZ,buy,100,200.00,0,taxable,taxable,t1
2024-06-03,XYZ,sell,100,100.00,0,taxable,taxable,t2
2024-06-10,XYZ,buy,10,101.00,0,roth,ira,r1
2024-07-01,QQQ,sell short,50,400.00,1.00,taxable,,q1
2024-08-01,QQQ,buy to cover,50,380.00,1.00,taxable,,q2
"""


def test_short_sales_ira_accounts_and_the_loss_carryover_end_to_end(tmp_path: Path) -> None:
    fills = tmp_path / "fills.csv"
    fills.write_text(SHORTS_AND_IRA)
    assert _run(["tax", "import", str(fills)])["accounts_typed"] == 2
    form = _run(["tax", "8949", "--year", "2024"])
    xyz = next(r for r in form["rows"] if r["a_description"] == "100 sh. XYZ")
    # loss 10,000 on the taxable sale; 10 shares bought in the IRA 7 days later wash 1,000 of it for good
    assert (xyz["f_code"], xyz["g_adjustment"], xyz["h_gain_or_loss"]) == ("W", "1000.00", "-9000.00")
    qqq = next(r for r in form["rows"] if r["short_sale"])
    assert (qqq["a_description"], qqq["b_acquired"], qqq["c_sold"]) == ("50 sh. QQQ (short sale)", "2024-08-01",
                                                                         "2024-08-01")
    assert (qqq["d_proceeds"], qqq["e_basis"], qqq["h_gain_or_loss"]) == ("19999.00", "19001.00", "998.00")
    assert all(r["account"] == "taxable" for r in form["rows"])  # the IRA reports nothing
    lines = {s["line"]: s["gain"] for s in form["schedule_d"]}
    assert (lines["16"], lines["21"]) == ("-8002.00", "-3000.00")
    loss = form["capital_loss"]
    assert loss["carryover_to_next_year"] == {"short_term": "5002.00", "long_term": "0.00"}
    ira = next(lot for lot in _run(["tax", "lots"])["lots"] if lot["account"] == "roth")
    assert (ira["basis"], ira["wash_adjustment"]) == ("1010.00", "0")  # no basis increase in the IRA
    pdf = _run(["tax", "8949", "--year", "2024", "--format", "pdf", "--out", str(tmp_path / "f.pdf"),
                "--filing-status", "mfs"])
    assert pdf["schedule_d"]["21"]["gain"] == "-1500.00"
    assert pdf["capital_loss"]["carryover_to_next_year"]["short_term"] == "6502.00"


def test_bad_short_sale_and_account_type_input_changes_nothing(tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("date,ticker,side,quantity,price,account\n2024-07-01,QQQ,short,50,400,a\n"
                   "2024-08-01,QQQ,cover,60,380,a\n")
    result = runner.invoke(app, ["tax", "import", str(bad), "--json"])
    assert result.exit_code == 1
    assert "bad.csv row 3: covers 60 QQQ in account a but only 50 are sold short" in json.loads(result.stdout)["error"]
    kind = tmp_path / "kind.csv"
    kind.write_text("date,ticker,side,quantity,price,account\n2024-07-01,QQQ,buy,5,400,a\n")
    assert _run(["tax", "import", str(kind), "--account-type", "roth"])["accounts_typed"] == 1
    again = tmp_path / "again.csv"
    again.write_text("date,ticker,side,quantity,price,account\n2024-07-02,QQQ,buy,5,400,a\n")
    result = runner.invoke(app, ["tax", "import", str(again), "--account-type", "taxable", "--json"])
    assert result.exit_code == 1 and "account a is ira; it cannot become taxable" in result.stdout
    result = runner.invoke(app, ["tax", "import", str(again), "--account-type", "401k", "--json"])
    assert result.exit_code == 1 and "'401k' is not taxable or ira" in result.stdout
    assert len(_run(["tax", "lots"])["lots"]) == 1  # only the one good import
    result = runner.invoke(app, ["tax", "8949", "--year", "2024", "--filing-status", "married", "--json"])
    assert result.exit_code == 1 and "filing status 'married'" in result.stdout
