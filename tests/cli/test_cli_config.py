"""Configuration and database URLs as a user gets them wrong; errors under ``--json`` (issue #13 §5, §6)."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import pytest
from sqlalchemy import inspect
from typer.testing import CliRunner

from tftrade.cli import app
from tftrade.core.config import ConfigWarning, load_settings, mask_url, unknown_env
from tftrade.core.errors import ConfigError
from tftrade.store.engine import make_engine
from tftrade.store.migrate import current_revision

runner = CliRunner()


def _config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(text)
    monkeypatch.setenv("TFTRADE_CONFIG", str(path))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("ingest: {spike_zscore: 3\n  batch: [\n", "is not valid YAML at line 2, column"),
        ("- a\n- b\n", "must be a mapping of settings (key: value), not a list"),
        ("ingest:\n  batch_rows: true\n", "batch_rows must be a number, not the boolean true"),
        ("ingest:\n  spike_zscore: false\n", "spike_zscore must be a number"),
        ("\x00\x01: [", "config file"),
        ("ingest:\n  batch_rws: 5\n", "'ingest.batch_rws' is not a setting; did you mean ingest.batch_rows?"),
    ],
)
def test_bad_config_files_are_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str,
                                       message: str) -> None:
    _config(tmp_path, monkeypatch, text)
    result = runner.invoke(app, ["config", "show"])
    assert result.exit_code == 1, result.output
    assert message in result.stderr and "Traceback" not in result.output
    assert len(result.stderr.strip().splitlines()) == 1


def test_numbers_from_yaml_and_environment_still_work(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _config(tmp_path, monkeypatch, "ingest:\n  batch_rows: 5000\n")
    monkeypatch.setenv("TFTRADE_INGEST__SPIKE_ZSCORE", "7.5")
    cfg = load_settings()
    assert (cfg.ingest.batch_rows, cfg.ingest.spike_zscore) == (5000, 7.5)
    assert load_settings(live_trading=True).live_trading is True  # a real boolean stays one


def test_misspelt_variables_warn_with_the_closest_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TFTRADE_INGST__SPIKE_ZSCORE", "3")
    monkeypatch.setenv("TFTRADE_DATABSE_URL", "sqlite://")
    with pytest.warns(ConfigWarning) as record:
        load_settings()
    messages = sorted(str(w.message) for w in record)
    assert "did you mean TFTRADE_DATABASE_URL?" in messages[0]
    assert "did you mean TFTRADE_INGEST__SPIKE_ZSCORE?" in messages[1]
    result = runner.invoke(app, ["config", "show", "--json"])
    assert result.exit_code == 0 and json.loads(result.stdout)["ingest"]["spike_zscore"] == 12.0
    assert "warning: TFTRADE_INGST__SPIKE_ZSCORE is not a tftrade setting" in result.stderr


def test_known_variables_do_not_warn() -> None:
    env = {"TFTRADE_HOME": "/x", "TFTRADE_VENDORS__ALPACA_KEY_ID": "k", "TFTRADE_FORECAST__EPOCHS": "3",
           "TFTRADE_SHARED_DATA": "/d", "TFTRADE_NATIVE": "0", "tftrade_live_trading": "false", "OTHER": "x"}
    assert unknown_env(env) == []
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        load_settings()


@pytest.mark.parametrize(
    ("url", "secret"),
    [
        ("postgresql://postgres@127.0.0.1:9/test?password=hunter2", "hunter2"),
        ("postgresql://bob:hunter2@127.0.0.1:9/test?sslmode=disable&PASSWORD=zz-top", "zz-top"),
        ("postgresql://bob:p@ssw0rd@127.0.0.1:9/test", "ssw0rd"),
        # malformed URLs (a ':' or '/' missing, a bad port) showed the password in clear
        ("postgresql//bob:hunter2@127.0.0.1/test", "hunter2"),
        ("postgresql:/bob:hunter2@127.0.0.1/test", "hunter2"),
        ("postgresql://bob:hunter2@127.0.0.1:5x32/test", "invalid literal"),
    ],
)
def test_passwords_never_show(monkeypatch: pytest.MonkeyPatch, url: str, secret: str) -> None:
    monkeypatch.setenv("TFTRADE_DATABASE_URL", url)
    shown = runner.invoke(app, ["config", "show", "--json"])
    assert shown.exit_code == 0 and secret not in shown.output
    failed = runner.invoke(app, ["data", "summary"])
    assert failed.exit_code == 1 and secret not in failed.output and "error:" in failed.stderr
    assert "Traceback" not in failed.output


def test_a_bad_port_and_the_postgres_scheme_name_the_fix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TFTRADE_DATABASE_URL", "postgresql://bob:pw@127.0.0.1:5x32/test")
    result = runner.invoke(app, ["data", "summary", "--json"])
    assert result.exit_code == 1 and json.loads(result.stdout) == {
        "error": "database URL 'postgresql://bob:***@127.0.0.1:5x32/test' has an invalid port '5x32'", "kind": "store"}
    monkeypatch.setenv("TFTRADE_DATABASE_URL", "postgres://bob@127.0.0.1:9/test")
    result = runner.invoke(app, ["data", "summary"])
    assert result.exit_code == 1 and "write postgresql:// instead of postgres://" in result.stderr


def test_unescaped_at_is_refused_naming_the_fix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TFTRADE_DATABASE_URL", "postgresql://bob:p@ss@127.0.0.1:9/test")
    result = runner.invoke(app, ["data", "summary"])
    assert result.exit_code == 1 and "unescaped '@'" in result.stderr and "%40" in result.stderr
    assert "ss@127" not in result.output


def test_mask_url_keeps_what_is_not_secret() -> None:
    assert mask_url("sqlite:////tmp/x.db") == "sqlite:////tmp/x.db"
    assert mask_url("redis://:pw@h:6379/0") == "redis://:***@h:6379/0"
    assert mask_url("postgresql://u@h/x?sslmode=require&application_name=a") == (
        "postgresql://u@h/x?sslmode=require&application_name=a")


def test_read_only_commands_create_nothing(_isolated_home: Path) -> None:
    for args in (["data", "summary"], ["data", "runs"], ["data", "quarantine"], ["ingest", "synthetic"]):
        result = runner.invoke(app, args)
        assert result.exit_code == 1 and "run `tftrade db init`" in result.stderr, args
    assert not (_isolated_home / "tftrade.db").exists()


def test_an_empty_database_is_not_given_a_schema_except_by_db_init(pg_url: str,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TFTRADE_DATABASE_URL", pg_url)
    result = runner.invoke(app, ["data", "summary", "--json"])
    assert result.exit_code == 1
    assert json.loads(result.stdout) == {
        "error": f"database {mask_url(pg_url)!r} has no tftrade schema: run `tftrade db init` first", "kind": "store"}
    eng = make_engine(pg_url)
    assert inspect(eng).get_table_names() == [] and current_revision(eng) is None
    assert runner.invoke(app, ["db", "init"]).exit_code == 0
    assert runner.invoke(app, ["data", "summary"]).exit_code == 0
    eng.dispose()


def test_an_old_schema_is_not_migrated_behind_the_users_back(initialized_home: Path) -> None:
    from alembic import command

    from tftrade.store.migrate import alembic_config

    eng = make_engine(f"sqlite:///{initialized_home / 'tftrade.db'}")
    cfg = alembic_config()
    with eng.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0001")
    result = runner.invoke(app, ["data", "summary"])
    assert result.exit_code == 1 and "at schema revision 0001" in result.stderr and "tftrade db init" in result.stderr
    assert current_revision(eng) == "0001"
    eng.dispose()


def test_a_schema_from_a_newer_tftrade_asks_for_a_newer_tftrade(initialized_home: Path) -> None:
    eng = make_engine(f"sqlite:///{initialized_home / 'tftrade.db'}")
    with eng.begin() as conn:
        conn.exec_driver_sql("UPDATE alembic_version SET version_num = '9a9b'")  # as a later release would leave it
    for args in (["data", "summary", "--json"], ["db", "init", "--json"]):
        result = runner.invoke(app, args)
        assert result.exit_code == 1, args
        error = json.loads(result.stdout)
        assert error["kind"] == "store" and "revision 9a9b, which this tftrade does not know" in error["error"]
        assert "upgrade tftrade" in error["error"] and "db init" not in error["error"]
    assert current_revision(eng) == "9a9b"  # nothing was changed
    eng.dispose()


@pytest.mark.usefixtures("initialized_home")
@pytest.mark.parametrize(
    ("args", "kind"),
    [
        (["ingest", "csv", "/no/such.csv"], "data"),
        (["predict", "NOPE"], None),
        (["backtest", "NOSUCH", "--strategy", "sma", "--timeframe", "1min"], None),
    ],
)
def test_errors_under_json_are_one_json_document(args: list[str], kind: str | None) -> None:
    result = runner.invoke(app, [*args, "--json"])
    assert result.exit_code == 1
    doc = json.loads(result.stdout)
    assert set(doc) == {"error", "kind"} and doc["error"] and "\n" not in doc["error"]
    assert kind is None or doc["kind"] == kind
    assert result.stderr.strip() == ""


def test_config_errors_under_json(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _config(tmp_path, monkeypatch, "- a\n")
    result = runner.invoke(app, ["config", "show", "--json"])
    assert result.exit_code == 1 and json.loads(result.stdout)["kind"] == "config"
    with pytest.raises(ConfigError, match="must be a mapping"):
        load_settings()
