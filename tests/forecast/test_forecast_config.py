"""The ``forecast`` settings section: defaults, environment, validation, and CLI flags overriding it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tftrade.cli import app
from tftrade.core.config import ForecastSettings, load_settings
from tftrade.core.errors import ConfigError

from .conftest import store_market

pytestmark = pytest.mark.usefixtures("initialized_home")


def test_defaults_and_tracking_uri_under_home(tmp_path: Path) -> None:
    s = load_settings(home=tmp_path)
    assert (s.forecast.preset, s.forecast.model_name, s.forecast.epochs, s.forecast.batch_size) == (
        "default", "tftrade-tft", 20, 256)
    assert s.forecast.torch_threads is None
    assert s.forecast.tracking_uri(s.home) == f"sqlite:///{tmp_path / 'mlflow.db'}"


def test_environment_sets_the_section_and_the_uri_is_masked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TFTRADE_FORECAST__PRESET", "institutional")
    monkeypatch.setenv("TFTRADE_FORECAST__TORCH_THREADS", "2")
    monkeypatch.setenv("TFTRADE_FORECAST__MLFLOW_TRACKING_URI", "postgresql://u:hunter2@db/mlflow")
    s = load_settings()
    assert (s.forecast.preset, s.forecast.torch_threads) == ("institutional", 2)
    assert s.forecast.tracking_uri(s.home) == "postgresql://u:hunter2@db/mlflow"
    assert "hunter2" not in json.dumps(s.masked())


@pytest.mark.parametrize(("key", "value"), [("PRESET", "huge"), ("EPOCHS", "0"), ("BATCH_SIZE", "-3")])
def test_bad_values_name_the_key(monkeypatch: pytest.MonkeyPatch, key: str, value: str) -> None:
    monkeypatch.setenv(f"TFTRADE_FORECAST__{key}", value)
    with pytest.raises(ConfigError, match=f"forecast.{key.lower()}"):
        load_settings()
    with pytest.raises(ValueError):
        ForecastSettings(epocs=3)  # type: ignore[call-arg]


@pytest.fixture
def stored(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home: Path = store_market(tmp_path, monkeypatch, 3, 300)
    return home


def test_cli_uses_the_section_and_flags_override_it(stored: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from tftrade.forecast.registry import ModelRegistry

    monkeypatch.setenv("TFTRADE_FORECAST__EPOCHS", "1")
    monkeypatch.setenv("TFTRADE_FORECAST__MODEL_NAME", "custom-tft")
    runner = CliRunner()
    base = ["train", "--timeframe", "1day", "--max-samples", "64", "--json"]
    res = runner.invoke(app, base)
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert (out["epochs"], out["preset"]) == (1, "default")
    _, version = ModelRegistry(stored, "custom-tft").load()
    assert version == out["model_version"]

    res = runner.invoke(app, [*base, "--epochs", "2"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["epochs"] == 2

    res = runner.invoke(app, ["predict", "--json"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["model_version"] == "2"  # read from the configured model name


@pytest.mark.parametrize(("retain", "calls"), [("true", 1), ("false", 0)])
def test_tune_compute_applies_threads_and_memory_policy(monkeypatch: pytest.MonkeyPatch, retain: str,
                                                        calls: int) -> None:
    import torch

    from tftrade.cli import _common
    from tftrade.core import memory

    seen: list[int] = []
    monkeypatch.setattr(memory, "retain_freed_memory", lambda: seen.append(1) or True)
    monkeypatch.setenv("TFTRADE_FORECAST__TORCH_THREADS", "1")
    monkeypatch.setenv("TFTRADE_FORECAST__RETAIN_MEMORY", retain)
    before = torch.get_num_threads()
    try:
        _common.tune_compute(load_settings())
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)
    assert len(seen) == calls


def test_retain_freed_memory_sets_glibc_thresholds() -> None:
    import platform

    from tftrade.core.memory import retain_freed_memory

    assert retain_freed_memory() is (platform.libc_ver()[0] == "glibc")
