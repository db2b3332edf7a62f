"""``tftrade train | predict | explain`` end to end on a stored synthetic market."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tftrade.cli import app

from .conftest import store_market

pytestmark = pytest.mark.usefixtures("initialized_home")


@pytest.fixture
def stored(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home: Path = store_market(tmp_path, monkeypatch, 4, 320)
    return home


def test_train_predict_explain_json(stored: Path) -> None:
    runner = CliRunner()
    res = runner.invoke(app, ["train", "--timeframe", "1day", "--epochs", "1", "--max-samples", "128", "--json"])
    assert res.exit_code == 0, res.output
    trained = json.loads(res.stdout)
    assert trained["model_version"] == "1"
    assert {"tft", "zero_return", "trailing_mean", "ridge"} <= set(trained["metrics"])

    res = runner.invoke(app, ["predict", "--json"])
    assert res.exit_code == 0, res.output
    preds = json.loads(res.stdout)["predictions"]
    assert len(preds) == 4 * 5 and all(0 <= p["confidence_score"] < 1 and not p["stale"] for p in preds)
    from sqlalchemy import text

    from tftrade.store.engine import make_engine

    with make_engine(f"sqlite:///{stored / 'tftrade.db'}").connect() as conn:
        assert conn.execute(text("select count(*) from tft_predictions where model_version = '1'")).scalar() == 20

    res = runner.invoke(app, ["explain", preds[0]["ticker"], "--json"])
    assert res.exit_code == 0, res.output
    assert len(json.loads(res.stdout)["attention"]) == 60

    res = runner.invoke(app, ["predict", "NOPE", "--json"])
    assert res.exit_code == 1
    assert "NOPE" in res.output
