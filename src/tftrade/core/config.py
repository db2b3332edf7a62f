"""Configuration: environment (``TFTRADE_*``), an optional YAML file, then defaults.

Settings are frozen and reject unknown keys, so a misspelt option is an error,
not a silent default. Nested sections are set from the environment with a
double underscore, e.g. ``TFTRADE_RISK__MAX_POSITION_PCT=0.04``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    YamlConfigSettingsSource,
)

from tftrade.core.errors import ConfigError

CONFIG_FILE_ENV = "TFTRADE_CONFIG"


def _default_home() -> Path:
    return Path.home() / ".tftrade"


class Section(BaseModel):
    """Base of every nested configuration section: frozen, unknown keys rejected."""

    model_config = ConfigDict(frozen=True, extra="forbid")


class IngestSettings(Section):
    """Market-data ingest."""

    spike_zscore: float = Field(12.0, gt=0, description="robust z-score of a return reported as a spike")
    batch_rows: int = Field(200_000, gt=0, description="rows per database round trip in bulk loads")


class SentimentSettings(Section):
    """Social sentiment."""

    scorer: Literal["lexicon", "learned"] = Field("lexicon", description="default comment scorer")


class ForecastSettings(Section):
    """The Temporal Fusion Transformer (``tftrade train | predict | explain``); CLI flags override these."""

    preset: Literal["default", "institutional"] = Field("default", description="model size preset")
    model_name: str = Field("tftrade-tft", min_length=1, description="registered model name in MLflow")
    mlflow_tracking_uri: SecretStr | None = Field(
        None, description="MLflow tracking/registry URI (masked when shown); default sqlite:///<home>/mlflow.db"
    )
    torch_threads: int | None = Field(None, ge=1, description="torch intra-op threads (default: torch's choice)")
    retain_memory: bool = Field(
        True, description="keep freed memory in the process (glibc) so large tensors are not page-faulted in afresh"
    )
    batch_size: int = Field(256, ge=1, description="training windows per optimiser step")
    epochs: int = Field(20, ge=1, description="maximum training epochs (early stopping may end sooner)")

    def tracking_uri(self, home: Path) -> str:
        """Return the MLflow URI: ``mlflow_tracking_uri`` if set, else a SQLite file in ``home``.

        Examples
        --------
        >>> ForecastSettings().tracking_uri(Path("/tmp/h"))
        'sqlite:////tmp/h/mlflow.db'
        """
        if self.mlflow_tracking_uri is not None:
            return self.mlflow_tracking_uri.get_secret_value()
        return f"sqlite:///{home / 'mlflow.db'}"


class RiskSettings(Section):
    """Hard risk limits, soft objectives and the rebalance cadence (``tftrade backtest | live``).

    The limits are maximums: the optimiser and the gate never exceed them and hold the rest
    in cash instead. CLI flags override these (``--max-position``, ``--max-sector``, ...).
    """

    max_position: float = Field(0.05, gt=0, le=1, description="hard cap on |weight| per stock")
    max_sector: float = Field(0.25, gt=0, le=1, description="hard cap on |weight| per sector")
    beta_min: float = Field(0.8, ge=-3, le=3, description="portfolio beta band, lower edge (soft: gives way last)")
    beta_max: float = Field(1.2, ge=-3, le=3, description="portfolio beta band, upper edge (hard: cash brings it down)")
    long_only: bool = Field(True, description="False allows shorts down to -max_position")
    max_gross: float = Field(1.0, gt=0, le=10, description="hard cap on gross exposure sum |w| (long-short)")
    max_var: float = Field(0.03, gt=0, le=1, description="one-period VaR limit as a fraction of equity")
    var_alpha: float = Field(0.95, ge=0.5, lt=1, description="VaR confidence")
    max_adv_fraction: float = Field(0.05, gt=0, le=1, description="max order size as a fraction of ADV")
    vix_block: float = Field(35.0, gt=0, le=200, description="no new positions while VIX is above this")
    max_drawdown: float = Field(0.15, gt=0, lt=1, description="drawdown that trips the circuit breaker")
    turnover_penalty: float = Field(0.0, ge=0, le=1, description="soft: extra cost per unit of traded weight")
    risk_parity_blend: float = Field(0.0, ge=0, lt=1, description="soft: pull towards risk-parity weights")
    rebalance_every: int = Field(5, ge=1, le=100_000, description="decide every k-th bar")
    risk_free_rate: float = Field(0.0, ge=0, le=0.25, description="annual risk-free rate for Sharpe, Sortino, alpha")

    def model_post_init(self, _context: Any) -> None:
        if self.beta_min > self.beta_max:
            raise ValueError(f"beta_min {self.beta_min} exceeds beta_max {self.beta_max}")


class CostSettings(Section):
    """Trading costs of simulated fills; defaults match a US equity account at a commission-free broker.

    Regulatory fees are charged on sells only: the SEC Section 31 fee (``sec_fee_rate`` per dollar
    sold; $27.80 per million from 2024-05-22) and FINRA's Trading Activity Fee (``taf_per_share``
    per share sold, at most ``taf_max`` per trade). Rates change yearly: set the ones in force.
    """

    commission_per_share: float = Field(0.0, ge=0, le=1, description="dollars per share")
    commission_min: float = Field(0.0, ge=0, le=100, description="minimum commission per fill, dollars")
    commission_bps: float = Field(0.0, ge=0, le=100, description="commission in bps of notional")
    sec_fee_rate: float = Field(27.8e-6, ge=0, le=1e-3, description="SEC fee per dollar of sale proceeds")
    taf_per_share: float = Field(0.000166, ge=0, le=0.01, description="FINRA TAF per share sold")
    taf_max: float = Field(8.30, ge=0, le=100, description="FINRA TAF cap per trade, dollars")
    half_spread_bps: float = Field(2.0, ge=0, le=500, description="half the quoted spread, paid on every fill")
    impact_coefficient: float = Field(
        0.01, ge=0, le=10,
        description="square-root impact Y*sigma_daily: price moves coefficient*sqrt(q / daily volume)",
    )
    max_volume_share: float = Field(0.1, ge=0, le=1, description="share of a bar's volume that may fill")


class StopSettings(Section):
    """Per-position stops: fixed fractions, volatility-scaled (ATR), or off.

    ``None`` fields take the timeframe's default: fixed 2 % / 4 % on minute bars (the
    specification's levels) and ATR stops (3 ATR / 6 ATR of 14 bars) on daily bars.
    """

    mode: Literal["fixed", "atr", "off"] | None = Field(None, description="None: fixed on 1min, atr on 1day")
    stop_loss: float | None = Field(None, gt=0, le=1, description="fixed mode: stop as a fraction of entry")
    take_profit: float | None = Field(None, gt=0, le=10, description="fixed mode: take-profit fraction")
    atr_period: int = Field(14, ge=2, le=1000, description="bars in the average true range")
    atr_stop: float = Field(3.0, gt=0, le=50, description="atr mode: stop at entry - k * ATR")
    atr_take: float = Field(6.0, gt=0, le=100, description="atr mode: take-profit at entry + k * ATR")


class VendorSettings(Section):
    """Credentials for outside services; every one is optional and masked when shown."""

    polygon_api_key: SecretStr | None = None
    alpaca_key_id: SecretStr | None = None
    alpaca_secret_key: SecretStr | None = None
    reddit_client_id: SecretStr | None = None
    reddit_client_secret: SecretStr | None = None
    reddit_user_agent: str = "tftrade/0.1"


class Settings(BaseSettings):
    """The effective configuration of one tftrade process.

    Examples
    --------
    >>> s = Settings(home="/tmp/tftrade-doc")
    >>> s.resolved_database_url()
    'sqlite:////tmp/tftrade-doc/tftrade.db'
    """

    model_config = SettingsConfigDict(
        env_prefix="TFTRADE_",
        env_nested_delimiter="__",
        frozen=True,
        extra="forbid",
    )

    home: Path = Field(default_factory=_default_home, description="workspace: database file, models, reports")
    database_url: SecretStr | None = Field(None, description="SQLAlchemy URL; default is a SQLite file in home")
    redis_url: SecretStr | None = Field(None, description="Redis URL; default is in-process")
    shared_data: Path = Field(Path("../shared/data"), description="folder of the public data sets")
    log_level: str = "INFO"
    live_trading: bool = Field(False, description="allow a live broker; paper trading otherwise")
    ingest: IngestSettings = IngestSettings()
    sentiment: SentimentSettings = SentimentSettings()
    forecast: ForecastSettings = ForecastSettings()
    risk: RiskSettings = RiskSettings()
    costs: CostSettings = CostSettings()
    stops: StopSettings = StopSettings()
    vendors: VendorSettings = VendorSettings()

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        yaml_path = os.environ.get(CONFIG_FILE_ENV)
        if yaml_path:
            sources.append(YamlConfigSettingsSource(settings_cls, yaml_file=yaml_path))
        return tuple(sources)

    def resolved_database_url(self) -> str:
        """Return the database URL: ``database_url`` if set, else the SQLite file in ``home``."""
        if self.database_url is not None:
            return self.database_url.get_secret_value()
        return f"sqlite:///{self.home / 'tftrade.db'}"

    def masked(self) -> dict[str, Any]:
        """Return the configuration as plain data with every secret replaced by ``'***'``."""
        data = self.model_dump(mode="json")
        data["database_url"] = mask_url(self.resolved_database_url())
        if self.redis_url is not None:
            data["redis_url"] = mask_url(self.redis_url.get_secret_value())
        data["vendors"] = {
            k: ("***" if isinstance(v, SecretStr) else v)
            for k, v in dict(self.vendors).items()
        }
        return data


def mask_url(url: str) -> str:
    """Return ``url`` with any password replaced by ``***``.

    Examples
    --------
    >>> mask_url("postgresql://bob:hunter2@db:5432/x")
    'postgresql://bob:***@db:5432/x'
    """
    scheme, sep, rest = url.partition("://")
    if not sep or "@" not in rest:
        return url
    creds, _, host = rest.rpartition("@")
    user, colon, _ = creds.partition(":")
    return f"{scheme}://{user}{':***' if colon else ''}@{host}"


def load_settings(**overrides: Any) -> Settings:
    """Build :class:`Settings` from the environment, the YAML file and ``overrides``.

    Raises
    ------
    ConfigError
        If a value is invalid or a key is unknown; the message names the key.
    """
    path = os.environ.get(CONFIG_FILE_ENV)
    if path and not Path(path).is_file():
        raise ConfigError(f"config file {path!r} (from ${CONFIG_FILE_ENV}) does not exist")
    try:
        return Settings(**overrides)
    except ValidationError as e:
        first = e.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "settings"
        raise ConfigError(f"invalid configuration at {where!r}: {first['msg']}") from None


def shared_data_dir() -> Path:
    """The folder of the public data sets: ``$TFTRADE_SHARED_DATA`` or ``../shared/data``.

    A relative path is taken from the working directory if it exists there, else from the
    repository root (so tests, benchmarks and the learned scorer's training agree).
    """
    p = Path(os.environ.get("TFTRADE_SHARED_DATA", "../shared/data")).expanduser()
    if p.is_absolute() or p.exists():
        return p
    return (Path(__file__).resolve().parents[3] / p).resolve()
