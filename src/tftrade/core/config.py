"""Configuration: environment (``TFTRADE_*``), an optional YAML file, then defaults.

Settings are frozen and reject unknown keys, so a misspelt option is an error,
not a silent default. Nested sections are set from the environment with a
double underscore, e.g. ``TFTRADE_RISK__MAX_POSITION_PCT=0.04``.
"""

from __future__ import annotations

import difflib
import os
import re
import warnings
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, Literal, get_args
from urllib.parse import parse_qsl, urlencode

import yaml
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    YamlConfigSettingsSource,
)

from tftrade.core.errors import ConfigError, TftradeWarning

CONFIG_FILE_ENV = "TFTRADE_CONFIG"
#: ``TFTRADE_*`` variables read outside :class:`Settings` (kernels, data sets, tests).
OTHER_ENV = frozenset({CONFIG_FILE_ENV, "TFTRADE_SHARED_DATA", "TFTRADE_NATIVE", "TFTRADE_KERNEL_DIR",
                       "TFTRADE_TEST_PG_URL", "TFTRADE_TEST_REDIS_URL", "TFTRADE_SCREENSHOT_DIR"})


class ConfigWarning(TftradeWarning):
    """A configuration that works but is probably not what was meant (e.g. a misspelt variable)."""


def _reject_bools(model: type[BaseModel], data: Any) -> Any:
    """Refuse ``true``/``false`` for a numeric field (pydantic would read ``true`` as 1)."""
    if not isinstance(data, Mapping):
        return data
    for name, field in model.model_fields.items():
        value = data.get(name, data.get(field.alias or name))
        kinds = get_args(field.annotation) or (field.annotation,)
        if isinstance(value, bool) and bool not in kinds and any(k in (int, float) for k in kinds):
            raise ValueError(f"{name} must be a number, not the boolean {str(value).lower()}")
    return data


def _default_home() -> Path:
    return Path.home() / ".tftrade"


class Section(BaseModel):
    """Base of every nested configuration section: frozen, unknown keys rejected."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    @model_validator(mode="before")
    @classmethod
    def _no_bool_numbers(cls, data: Any) -> Any:
        return _reject_bools(cls, data)


class SourceSettings(Section):
    """How to read the files of one source (``ingest.sources``); unset fields keep the defaults."""

    tz: str | None = Field(None, description="zone of naive times, e.g. UTC (default America/New_York)")
    delimiter: str | None = Field(None, min_length=1, max_length=9,
                                  description="field separator: , ; | tab (default: sniffed)")
    date_order: Literal["auto", "dmy", "mdy"] | None = Field(None, description="order of numeric dates")

    @model_validator(mode="after")
    def _known_zone(self) -> SourceSettings:
        if self.tz is not None:
            from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

            try:
                ZoneInfo(self.tz)
            except (ZoneInfoNotFoundError, ValueError):
                raise ValueError(f"tz {self.tz!r} is not a known time zone (e.g. UTC, America/New_York)") from None
        return self


class IngestSettings(Section):
    """Market-data ingest."""

    spike_zscore: float = Field(12.0, gt=0, description="robust z-score of a return reported as a spike")
    batch_rows: int = Field(200_000, gt=0, description="rows per database round trip in bulk loads")
    sources: dict[str, SourceSettings] = Field(
        default_factory=dict,
        description="file-name pattern -> {tz, delimiter, date_order} for `ingest csv` (first match wins; "
        "CLI flags override)")

    def source_for(self, path: Path) -> SourceSettings:
        """The settings of the first pattern matching ``path``'s name or full path (empty when none).

        >>> s = IngestSettings(sources={"vendor_*.csv": {"tz": "UTC"}})
        >>> s.source_for(Path("/data/vendor_1.csv")).tz, s.source_for(Path("other.csv")).tz
        ('UTC', None)
        """
        import fnmatch

        for pattern, source in self.sources.items():
            if fnmatch.fnmatch(path.name, pattern) or fnmatch.fnmatch(str(path), pattern):
                return source
        return SourceSettings()


class SentimentSettings(Section):
    """Social sentiment."""

    scorer: Literal["social", "lexicon", "learned"] = Field(
        "social", description="default comment scorer (social: trained on StockTwits; lexicon; learned: news)")


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
    wash_sale: Literal["off", "block", "resize"] = Field(
        "off", description="after the gate: block or resize orders that would wash a loss (off: no check)")
    tax_aware: bool = Field(False, description="the optimiser subtracts the tax of selling (portfolio.tax)")
    tax_rate_short: float = Field(0.37, ge=0, le=1, description="tax rate on short-term gains (tax_aware)")
    tax_rate_long: float = Field(0.20, ge=0, le=1, description="tax rate on long-term gains (tax_aware)")
    harvest: bool = Field(False, description="tax-loss harvesting: sell losing positions, buy a substitute")
    harvest_substitutes: dict[str, str] = Field(
        default_factory=dict, description="harvest: ticker -> substitute, e.g. 'SPY=VOO,QQQ=QQQM' on --set")
    harvest_min_loss_fraction: float = Field(0.05, ge=0, lt=1, description="harvest: each lot's loss / basis")
    harvest_min_loss: int = Field(100, ge=0, description="harvest: whole dollars of loss per ticker")

    @field_validator("harvest_substitutes", mode="before")
    @classmethod
    def _pairs(cls, v: Any) -> Any:
        """Accept ``"SPY=VOO,QQQ=QQQM"`` (what ``--set`` passes) as well as a mapping."""
        if not isinstance(v, str):
            return v
        out: dict[str, str] = {}
        for pair in filter(None, (p.strip() for p in v.split(","))):
            key, eq, value = pair.partition("=")
            if not eq or not key.strip() or not value.strip():
                raise ValueError(f"{pair!r} is not TICKER=SUBSTITUTE")
            out[key.strip()] = value.strip()
        return out

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
        0.7, ge=0, le=10,
        description="square-root impact per stock: price moves coefficient * sigma_daily * sqrt(q / ADV), with the "
                    "stock's own daily volatility and average daily volume (0.7: 10.5 bp for 1 % of ADV at 1.5 % "
                    "daily volatility)",
    )
    impact_window: float = Field(20.0, gt=0, le=1000, description="days in the EWMA of each stock's volatility "
                                                                  "and daily volume (impact)")
    max_volume_share: float = Field(0.1, ge=0, le=1, description="share of a bar's volume that may fill")


class StopSettings(Section):
    """Per-position stops: fixed fractions, volatility-scaled (ATR), or off.

    ``None`` fields take the timeframe's default: fixed 2 % / 4 % on bars under an hour (the
    specification's levels) and ATR stops (3 ATR / 6 ATR of 14 bars) on hourly and daily bars.
    After a stop the name stays flat for ``cooldown`` bars (a week of daily bars, a session of
    hourly bars, 30 minutes of minute bars) and, after a stop-loss, until its close is back above
    the stop; then it re-enters at the strategy's standing target if its signal is still on.
    """

    mode: Literal["fixed", "atr", "off"] | None = Field(None, description="None: fixed under 1h, atr on 1h/1day")
    stop_loss: float | None = Field(None, gt=0, le=1, description="fixed mode: stop as a fraction of entry")
    take_profit: float | None = Field(None, gt=0, le=10, description="fixed mode: take-profit fraction")
    atr_period: int = Field(14, ge=2, le=1000, description="bars in the average true range")
    atr_stop: float = Field(3.0, gt=0, le=50, description="atr mode: stop at entry - k * ATR")
    atr_take: float = Field(6.0, gt=0, le=100, description="atr mode: take-profit at entry + k * ATR")
    reentry: Literal["signal", "off"] = Field(
        "signal", description="after a stop: 'signal' re-opens at the strategy's standing target once the "
                              "cool-down is over; 'off' waits for the strategy's next fresh target")
    cooldown: int | None = Field(None, ge=0, le=100_000,
                                 description="bars a stopped name stays flat; None: 5 on 1day, 7 on 1h, 30 minutes "
                                             "of bars below 1h")
    recovery: bool = Field(True, description="after a stop-loss, re-open only once the close is back beyond the stop")


class VendorSettings(Section):
    """Credentials for outside services; every one is optional and masked when shown."""

    polygon_api_key: SecretStr | None = None
    massive_rest_url: str = Field("https://api.massive.com", description="Massive (Polygon) REST base URL")
    massive_ws_url: str = Field("wss://socket.massive.com", description="Massive WebSocket base; /stocks is appended")
    alpaca_key_id: SecretStr | None = None
    alpaca_secret_key: SecretStr | None = None
    alpaca_url: str = Field("https://paper-api.alpaca.markets", description="Alpaca REST base, without /v2")
    alpaca_stream_url: str = Field("wss://paper-api.alpaca.markets/stream", description="Alpaca trade-updates stream")
    reddit_client_id: SecretStr | None = None
    reddit_client_secret: SecretStr | None = None
    reddit_user_agent: str = "tftrade/0.1"
    reddit_oauth_url: str = Field("https://oauth.reddit.com", description="Reddit OAuth API base")
    reddit_url: str = Field("https://www.reddit.com", description="Reddit base (token endpoint)")
    reddit_subreddits: str = Field("wallstreetbets,stocks,investing", description="subreddits, comma-separated")


class ExecutionSettings(Section):
    """Orders at the broker: kill switch, reconciliation, care of stale and partial orders (docs/execution.md)."""

    kill_switch: bool = Field(False, description="refuse every new order and cancel open ones")
    kill_file: Path | None = Field(None, description="a file whose presence trips the kill switch (default home/KILL)")
    reconcile_policy: Literal["halt", "adopt", "correct"] = Field(
        "halt", description="on a difference with the broker: halt and alert, adopt its view, or correct it")
    reconcile_interval_s: float = Field(60.0, gt=0, description="seconds between reconciliations while trading")
    stale_limit_s: float = Field(300.0, gt=0, description="a limit order unfilled this long is cancelled and replaced")
    partial_timeout_s: float = Field(600.0, gt=0, description="a partial fill is resolved after this many seconds")
    partial_policy: Literal["cancel", "carry"] = Field("cancel", description="what to do with a timed-out partial fill")
    recent_orders_days: float = Field(3.0, gt=0, description="how far back reconciliation reads the broker's orders")


class AlertSettings(Section):
    """Where significant events go (``tftrade serve`` and the live workers): Slack and e-mail."""

    slack_webhook_url: SecretStr | None = Field(None, description="Slack incoming-webhook URL (masked when shown)")
    smtp_host: str | None = Field(None, description="SMTP server for alert e-mails")
    smtp_port: int = Field(587, ge=1, le=65535)
    smtp_starttls: bool = Field(True, description="upgrade the SMTP connection with STARTTLS")
    smtp_user: str | None = None
    smtp_password: SecretStr | None = None
    email_from: str = "tftrade@localhost"
    email_to: tuple[str, ...] = ()
    min_interval_s: float = Field(300.0, ge=0, description="an identical alert is sent at most once per interval")
    max_per_hour: int = Field(30, ge=1, description="alerts sent per hour at most, across all kinds")


class ServiceSettings(Section):
    """The API, metrics and dashboard (``tftrade serve``)."""

    host: str = Field("127.0.0.1", description="interface to bind; loopback unless told otherwise")
    port: int = Field(8787, ge=0, le=65535)
    cors_origins: tuple[str, ...] = Field((), description="origins allowed by CORS (none: CORS closed)")
    rate_limit_per_minute: int = Field(1200, ge=1, description="requests per minute per API key")
    max_request_bytes: int = Field(1_000_000, ge=1024, description="largest request body accepted")
    feed_stale_s: float = Field(180.0, gt=0, description="/ready fails when the newest bar is older (in session)")
    predict_threads: int = Field(1, ge=1, le=64, description="torch threads of POST /predict's forward: 1 holds up "
                                 "on a machine shared with busy processes; 2 splits it over two free cores")
    alerts: AlertSettings = AlertSettings()


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
    trade_lease: Literal["redis", "postgres"] = Field(
        "redis", description="what keeps the trade worker single: a Redis lease or a PostgreSQL advisory lock")
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
    execution: ExecutionSettings = ExecutionSettings()
    service: ServiceSettings = ServiceSettings()

    @model_validator(mode="before")
    @classmethod
    def _no_bool_numbers(cls, data: Any) -> Any:
        return _reject_bools(cls, data)

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
        alerts = data["service"]["alerts"]
        for key in ("slack_webhook_url", "smtp_password"):
            if alerts[key] is not None:
                alerts[key] = "***"
        return data


_SECRET_PARAM = re.compile(r"pass(word|wd)?|secret|token|api_?key|sslpassword", re.IGNORECASE)


def mask_url(url: str) -> str:
    """Return ``url`` with any password replaced by ``***``: in the user part and in query parameters.

    Examples
    --------
    >>> mask_url("postgresql://bob:hunter2@db:5432/x")
    'postgresql://bob:***@db:5432/x'
    >>> mask_url("postgresql://bob@db/x?password=hunter2&sslmode=require")
    'postgresql://bob@db/x?password=***&sslmode=require'
    >>> mask_url("postgresql//bob:hunter2@db/x"), mask_url("postgresql//bob:pa:ss@db/x?password=zz")
    ('postgresql//bob:***@db/x', 'postgresql//bob:***@db/x?password=***')
    """
    scheme, sep, rest = _split_scheme(url)
    rest, qmark, query = rest.partition("?")
    if "@" in rest:
        creds, _, host = rest.rpartition("@")
        user, colon, _ = creds.partition(":")
        rest = f"{user}{':***' if colon else ''}@{host}"
    if qmark:
        pairs = [(k, "***" if _SECRET_PARAM.fullmatch(k) else v) for k, v in parse_qsl(query, keep_blank_values=True)]
        query = urlencode(pairs, safe="*")
    return f"{scheme}{sep}{rest}{qmark}{query}"


def _split_scheme(url: str) -> tuple[str, str, str]:
    """``(scheme, separator, rest)``; a URL missing a ':' or '/' of its ``://`` still splits at what it has
    (``postgresql//``, ``postgresql:/``), one with no separator at all is all ``rest``."""
    for sep in ("://", "//", ":/"):
        scheme, found, rest = url.partition(sep)
        if found and "@" not in scheme:
            return scheme, found, rest
    return "", "", url


def url_secrets(url: str) -> list[str]:
    """Return the secret parts of ``url`` (password, secret query values) to scrub from messages.

    Examples
    --------
    >>> url_secrets("postgresql://bob:p@ss@db/x?password=zz"), url_secrets("postgresql//bob:pa:ss@db/x")
    (['p@ss', 'zz'], ['pa:ss'])
    """
    _, _, rest = _split_scheme(url)
    found = []
    rest, _, query = rest.partition("?")
    if "@" in rest:
        creds = rest.rpartition("@")[0]
        if ":" in creds:
            found.append(creds.partition(":")[2])
    found += [v for k, v in parse_qsl(query, keep_blank_values=True) if _SECRET_PARAM.fullmatch(k) and v]
    return [f for f in found if f]


def scrub(message: str, secrets: list[str]) -> str:
    """Return ``message`` with each secret, and each piece of it around an ``@``, replaced by ``***``.

    Examples
    --------
    >>> scrub("failed to resolve host 'ss@db'", ["p@ss"])
    "failed to resolve host '***@db'"
    """
    for secret in secrets:
        for part in sorted({secret, *secret.split("@")}, key=len, reverse=True):
            if len(part) >= 2:
                message = message.replace(part, "***")
    return message


def _env_names(model: type[BaseModel], prefix: str) -> Iterator[str]:
    for name, field in model.model_fields.items():
        yield f"{prefix}{name}".upper()
        kind = field.annotation
        if isinstance(kind, type) and issubclass(kind, BaseModel):
            yield from _env_names(kind, f"{prefix}{name}__")


def unknown_env(environ: Mapping[str, str]) -> list[str]:
    """Return one message per ``TFTRADE_*`` variable that no setting reads, naming the closest one.

    Examples
    --------
    >>> unknown_env({"TFTRADE_INGST__SPIKE_ZSCORE": "3", "TFTRADE_HOME": "/x"})
    ['TFTRADE_INGST__SPIKE_ZSCORE is not a tftrade setting (ignored); did you mean TFTRADE_INGEST__SPIKE_ZSCORE?']
    """
    known = {*_env_names(Settings, "TFTRADE_"), *OTHER_ENV}
    out = []
    for key in sorted(environ):
        upper = key.upper()
        if not upper.startswith("TFTRADE_") or upper in known:
            continue
        close = difflib.get_close_matches(upper, sorted(known), n=1, cutoff=0.6)
        hint = f"; did you mean {close[0]}?" if close else ""
        out.append(f"{key} is not a tftrade setting (ignored){hint}")
    return out


def _read_yaml(path: str) -> None:
    """Check that the YAML file parses to a mapping; raise one clear :class:`ConfigError` otherwise."""
    try:
        with open(path, encoding="utf-8") as f:
            data = yaml.safe_load(f)
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        raise ConfigError(f"config file {path!r} is not valid YAML{where}: {e.problem}") from None
    except (yaml.YAMLError, UnicodeDecodeError, OSError) as e:
        raise ConfigError(f"config file {path!r} cannot be read: {e}") from None
    if data is not None and not isinstance(data, dict):
        raise ConfigError(f"config file {path!r} must be a mapping of settings (key: value), "
                          f"not a {type(data).__name__}")


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
    if path:
        _read_yaml(path)
    for message in unknown_env(os.environ):
        warnings.warn(message, ConfigWarning, stacklevel=2)
    try:
        return Settings(**overrides)
    except ValidationError as e:
        first = e.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "settings"
        msg = first["msg"].removeprefix("Value error, ")
        if first["type"] == "extra_forbidden":  # a misspelt key: name the closest setting
            names = _env_names(Settings, "TFTRADE_")
            known = sorted(n.removeprefix("TFTRADE_").lower().replace("__", ".") for n in names)
            close = difflib.get_close_matches(where.lower(), known, n=1, cutoff=0.6)
            raise ConfigError(f"invalid configuration: {where!r} is not a setting"
                              + (f"; did you mean {close[0]}?" if close else "")) from None
        raise ConfigError(f"invalid configuration at {where!r}: {msg}") from None


def shared_data_dir() -> Path:
    """The folder of the public data sets: ``$TFTRADE_SHARED_DATA`` or ``../shared/data``.

    A relative path is taken from the working directory if it exists there, else from the
    repository root (so tests, benchmarks and the learned scorer's training agree).
    """
    p = Path(os.environ.get("TFTRADE_SHARED_DATA", "../shared/data")).expanduser()
    if p.is_absolute() or p.exists():
        return p
    return (Path(__file__).resolve().parents[3] / p).resolve()
