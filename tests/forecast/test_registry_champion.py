"""One rule picks the model when none is named: the registry's champion (``tftrade models promote``), else the
newest version. A real MLflow registry of three versions of a tiny TFT (version 2 marked ``loses_to_baseline``);
the CLI through typer's runner, the promotion recorded in the audit chain."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from tftrade.cli import app
from tftrade.compliance.audit_log import AuditLog
from tftrade.forecast.errors import ModelNotFoundError, PromotionRefusedError
from tftrade.forecast.registry import ModelRegistry
from tftrade.live.app import LiveOptions, _model_fields, load_predictor
from tftrade.store.engine import make_engine

from .tiny_model import tiny_model


@pytest.fixture(scope="module")
def registered(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A registry holding versions 1, 2 (tagged status=loses_to_baseline) and 3; no champion."""
    root = tmp_path_factory.mktemp("registered")
    _market, trained = next(tiny_model(2, 7, samples=32))
    registry = ModelRegistry(root)
    assert registry.register(trained, {}, {"tft.q_risk_p50": 0.5}, {"status": "ok"}) == "1"
    assert registry.register(trained, {}, {"tft.q_risk_p50": 0.9}, {"status": "loses_to_baseline"}) == "2"
    assert registry.register(trained, {}, {"tft.q_risk_p50": 0.7}, {"status": "ok"}) == "3"
    return root


@pytest.fixture
def home(registered: Path, initialized_home: Path) -> Path:
    """This test's workspace (database created) with a copy of the registry's database (artifacts shared, read only)."""
    shutil.copy(registered / "mlflow.db", initialized_home / "mlflow.db")
    return initialized_home


def test_newest_until_a_champion_is_promoted_then_the_champion(home: Path) -> None:
    registry = ModelRegistry(home)
    assert registry.champion() is None
    assert (registry.select().version, registry.select().selection) == ("3", "newest")
    assert registry.load()[1] == "3"
    assert registry.promote("1", approved_by="ops") is None
    assert registry.champion() == "1"
    assert (registry.select().version, registry.select().selection) == ("1", "champion")
    assert registry.load()[1] == "1"  # the champion over the newer version 3
    assert registry.load("3")[1] == "3" and registry.select("3").selection == "named"
    assert registry.promote("3", approved_by="ops") == "1"
    assert registry.load()[1] == "3"


def test_an_unknown_version_is_refused_and_nothing_changes(home: Path) -> None:
    registry = ModelRegistry(home)
    registry.promote("1", approved_by="ops")
    with pytest.raises(ModelNotFoundError, match="no version '9'"):
        registry.promote("9", approved_by="ops")
    assert registry.champion() == "1"


def test_a_version_that_lost_to_a_baseline_needs_force(home: Path) -> None:
    registry = ModelRegistry(home)
    with pytest.raises(PromotionRefusedError, match=r"loses_to_baseline.*--force"):
        registry.promote("2", approved_by="ops")
    assert registry.champion() is None
    assert registry.promote("2", approved_by="ops", force=True) is None
    assert registry.champion() == "2"


def test_live_loads_the_champion_and_its_start_event_says_so(home: Path) -> None:
    opts = LiveOptions(home=home, model_name=ModelRegistry(home).name)
    assert _model_fields(load_predictor(opts)) == {"model_version": "3", "model_selection": "newest"}
    ModelRegistry(home).promote("1", approved_by="ops")
    assert _model_fields(load_predictor(opts)) == {"model_version": "1", "model_selection": "champion"}


def _json(args: list[str], code: int = 0) -> dict[str, Any]:
    res = CliRunner().invoke(app, [*args, "--json"])
    assert res.exit_code == code, res.output
    out = json.loads(res.stdout)
    assert isinstance(out, dict)
    return out


def test_cli_lists_and_promotes_with_an_audit_entry(home: Path) -> None:
    listed = _json(["models", "list"])
    assert (listed["champion"], listed["used"], listed["selection"]) == (None, "3", "newest")
    versions = listed["versions"]
    assert isinstance(versions, list) and [v["version"] for v in versions] == ["1", "2", "3"]
    assert versions[1]["tags"]["status"] == "loses_to_baseline" and versions[0]["metrics"] == {"tft.q_risk_p50": 0.5}

    first = _json(["models", "promote", "1", "--by", "alice"])
    assert (first["version"], first["previous"], first["approved_by"]) == ("1", None, "alice")
    second = _json(["models", "promote", "3", "--by", "bob"])
    assert (second["version"], second["previous"]) == ("3", "1")
    listed = _json(["models", "list"])
    assert (listed["champion"], listed["used"], listed["selection"]) == ("3", "3", "champion")
    assert [v["champion"] for v in listed["versions"]] == [False, False, True]

    engine = make_engine(f"sqlite:///{home / 'tftrade.db'}")
    try:
        log = AuditLog(engine, "live")
        entries = [e.payload for e in log.entries() if e.kind == "model_promotion"]
        assert log.verify().ok
    finally:
        engine.dispose()
    assert entries == [
        {"model": "tftrade-tft", "version": "1", "previous": None, "metrics": {"tft.q_risk_p50": 0.5},
         "approved_by": "alice"},
        {"model": "tftrade-tft", "version": "3", "previous": "1", "metrics": {"tft.q_risk_p50": 0.7},
         "approved_by": "bob"},
    ]


def test_cli_refusals_are_one_json_error_and_record_nothing(home: Path) -> None:
    assert _json(["models", "promote", "9"], 1)["kind"] == "model_not_found"
    refused = _json(["models", "promote", "2"], 1)
    assert refused["kind"] == "promotion_refused" and "--force" in str(refused["error"])
    assert _json(["models", "list"])["champion"] is None
    forced = _json(["models", "promote", "2", "--force"])
    assert forced["forced"] is True and forced["status"] == "loses_to_baseline"
    engine = make_engine(f"sqlite:///{home / 'tftrade.db'}")
    try:
        assert [e.payload["version"] for e in AuditLog(engine, "live").entries() if e.kind == "model_promotion"] \
            == ["2"]
    finally:
        engine.dispose()


def _promotions(home: Path) -> list[dict[str, Any]]:
    engine = make_engine(f"sqlite:///{home / 'tftrade.db'}")
    try:
        log = AuditLog(engine, "live")
        assert log.verify().ok
        return [e.payload for e in log.entries() if e.kind == "model_promotion"]
    finally:
        engine.dispose()


def _disk_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    """The audit store refuses the write as a full or failing disk does (the real AuditLog error path)."""
    import sqlite3

    from sqlalchemy.exc import OperationalError

    def write(_self: AuditLog, _staged: object) -> None:
        raise OperationalError("INSERT INTO audit_log", {}, sqlite3.OperationalError("disk I/O error"))

    monkeypatch.setattr(AuditLog, "_write", write)


@pytest.mark.parametrize("as_json", [True, False])
def test_a_promotion_whose_audit_entry_cannot_be_written_leaves_the_champion_unchanged(
        home: Path, monkeypatch: pytest.MonkeyPatch, as_json: bool) -> None:
    _json(["models", "promote", "1", "--by", "alice"])
    with monkeypatch.context() as m:
        _disk_fails(m)
        res = CliRunner().invoke(app, ["models", "promote", "3", "--by", "bob", *(["--json"] if as_json else [])])
    assert ModelRegistry(home).champion() == "1", "the champion changed with no audit entry"
    assert res.exit_code == 1
    if as_json:
        err = json.loads(res.stdout)
        assert set(err) == {"error", "kind"} and err["kind"] == "promotion_not_recorded"
        message = str(err["error"])
    else:
        lines = [line for line in res.stderr.splitlines() if line.strip()]
        assert len(lines) == 1 and lines[0].startswith("error:") and res.stdout == "", res.output
        message = lines[0]
    assert "not promoted" in message and "disk I/O error" in message and "still 1" in message
    assert _json(["models", "list"])["champion"] == "1"
    assert [p["version"] for p in _promotions(home)] == ["1"]  # the chain holds only what happened


def test_a_registry_failure_after_the_entry_is_recorded_as_not_applied(home: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    def down(*_a: object, **_k: object) -> None:
        raise OSError("mlflow backend unreachable")

    with monkeypatch.context() as m:
        m.setattr(ModelRegistry, "promote", down)
        err = _json(["models", "promote", "3", "--by", "bob"], 1)
    assert ModelRegistry(home).champion() is None
    assert err["kind"] == "promotion_not_applied" and "mlflow backend unreachable" in str(err["error"])
    recorded, undone = _promotions(home)
    assert recorded["version"] == "3" and "outcome" not in recorded
    assert (undone["version"], undone["outcome"], undone["recorded_seq"]) == ("3", "not_applied", 1)
    assert _json(["models", "promote", "3", "--by", "bob"])["audit"]["seq"] == 3  # and it can be done again


@pytest.mark.parametrize("named", ["01", " 3", "abc", "-1"])
def test_a_version_named_otherwise_than_registered_is_refused(home: Path, named: str) -> None:
    """MLflow itself reads "01" as version 1: a promotion takes only the registered name."""
    registry = ModelRegistry(home)
    with pytest.raises(ModelNotFoundError, match=f"no version '{named}' to promote; versions: 1, 2, 3$"):
        registry.promote(named, approved_by="ops")
    assert registry.champion() is None


def test_a_promotion_reads_the_version_it_promotes_not_every_version(home: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    from tftrade.compliance.audit_log import MemoryAuditLog
    from tftrade.compliance.promotion import promote_audited

    registry = ModelRegistry(home)
    registry.promote("1", approved_by="ops")
    read: list[str] = []
    for name in ("search_model_versions", "get_run", "get_registered_model", "get_model_version"):
        def counted(*a: Any, _orig: Any = getattr(registry.client, name), _name: str = name, **k: Any) -> Any:
            read.append(_name)
            return _orig(*a, **k)
        monkeypatch.setattr(registry.client, name, counted)
    done = promote_audited(registry, MemoryAuditLog("t"), "3", approved_by="bob")
    assert (done.previous, registry.champion()) == ("1", "3")
    # one version read and its one run, never the list of versions nor each version's run (was 2 lists, 2 x 3 runs)
    assert (read.count("get_model_version"), read.count("get_run"), read.count("search_model_versions")) == (1, 1, 0)


def test_promote_refuses_a_check_of_another_version(home: Path) -> None:
    registry = ModelRegistry(home)
    checked = registry.promotable("1")
    with pytest.raises(ValueError, match="version 1's, not version 3's"):
        registry.promote("3", approved_by="ops", checked=checked)
    assert registry.champion() is None
