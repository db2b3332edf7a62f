"""The data schema (what goes in) kept apart from the hyper-parameters (how big)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

PresetName = Literal["default", "institutional"]


class DataSchema(BaseModel):
    """Names and cardinalities of the model's inputs. Frozen; unknown keys rejected."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    observed: list[str] = Field(description="past-only real inputs, in column order")
    known: list[str] = Field(description="known-future real inputs, in column order")
    static: list[str] = Field(description="static categorical inputs, in column order")
    static_cardinalities: list[int]
    tickers: list[str]
    sectors: list[str] = Field(description="sector vocabulary (index = sector id)")
    timeframe: Literal["1min", "1day"]
    absent: list[str] = Field(
        default_factory=list,
        description="inputs absent from the training data (constant or masked everywhere): left out of selection")

    @property
    def encoder_variables(self) -> list[str]:
        """Variables the encoder selects over: observed then known."""
        return [*self.observed, *self.known]


class ModelConfig(BaseModel):
    """Hyper-parameters of the network. Frozen; unknown keys rejected.

    Examples
    --------
    >>> preset("institutional").hidden_size
    256
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    hidden_size: int = Field(default=32, ge=4)
    variable_size: int | None = Field(
        default=None, ge=1,
        description="width each real input is embedded to inside variable selection (None: hidden_size)",
    )
    attention_heads: int = Field(default=4, ge=1)
    dropout: float = Field(default=0.1, ge=0, lt=1)
    lstm_layers: int = Field(default=1, ge=1)
    context: int = Field(default=60, ge=2, description="encoder length (bars of history)")
    horizon: int = Field(default=5, ge=1, description="decoder length (bars ahead)")
    quantiles: tuple[float, ...] = (0.1, 0.5, 0.9)


PRESETS: dict[str, ModelConfig] = {
    "default": ModelConfig(hidden_size=32, variable_size=8, attention_heads=4, dropout=0.1, lstm_layers=1,
                           context=60, horizon=5),
    "institutional": ModelConfig(hidden_size=256, variable_size=64, attention_heads=8, dropout=0.1, lstm_layers=2,
                                 context=60, horizon=5),
}


def preset(name: str) -> ModelConfig:
    """Return the named preset (``default`` for CPU serving, ``institutional`` = the spec's TFT_CONFIG).

    Raises
    ------
    ValueError
        If ``name`` is not a preset.
    """
    try:
        return PRESETS[name]
    except KeyError:
        raise ValueError(f"preset {name!r} is not one of {', '.join(PRESETS)}") from None
