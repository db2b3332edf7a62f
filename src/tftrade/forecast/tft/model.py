"""The Temporal Fusion Transformer assembled from its parts."""

from __future__ import annotations

import ctypes
from dataclasses import dataclass
from typing import NamedTuple

import torch
from torch import Tensor, nn

from tftrade.forecast.tft.attention import InterpretableMultiHeadAttention, causal_mask
from tftrade.forecast.tft.config import DataSchema, ModelConfig
from tftrade.forecast.tft.fused_lstm import run_lstm
from tftrade.forecast.tft.fused_temporal import temporal_block
from tftrade.forecast.tft.layers import GateAddNorm, GatedResidualNetwork
from tftrade.forecast.tft.native import plain_float32, tft_kernels
from tftrade.forecast.tft.real_selection import RealVariableSelection
from tftrade.forecast.tft.selection import StaticCovariateEncoders, VariableSelectionNetwork


@dataclass
class TFTOutput:
    """Forecast quantiles ``(B, H, Q)`` and the interpretable weights of the forward pass."""

    quantiles: Tensor
    static_weights: Tensor  # B × S
    encoder_weights: Tensor  # B × C × V_enc
    decoder_weights: Tensor  # B × H × V_dec
    attention: Tensor  # B × H × (C + H)


class StaticContexts(NamedTuple):
    """What the static inputs contribute: selection weights ``(B, S)`` and four context vectors ``(B, d)``."""

    weights: Tensor
    selection: Tensor
    enrichment: Tensor
    state_h: Tensor
    state_c: Tensor

    def take(self, rows: Tensor) -> StaticContexts:
        """The contexts of the given batch rows."""
        return StaticContexts(*(t[rows] for t in self))


class EncoderPrefix(NamedTuple):
    """The first ``P`` encoder steps of windows, run ahead (:meth:`TemporalFusionTransformer.encode_prefix`):
    the encoder LSTM's state after them (``(layers, B, d)`` each), their enriched outputs ``(B, P, d)``
    and, optionally, the decoder's selection ``(known (B, H, K), selected (B, H, d), weights (B, H, V))`` of
    the known inputs the windows are expected to have.

    ``window``, if set, is the whole windows' enriched steps ``(B, C + H, d)`` with ``enriched`` as its
    first ``P`` (a view of it): :meth:`~TemporalFusionTransformer.decode` writes the remaining steps into
    it rather than concatenating a new ``B × (C + H) × d`` tensor per forecast."""

    state_h: Tensor
    state_c: Tensor
    enriched: Tensor
    decoder: tuple[Tensor, Tensor, Tensor] | None = None
    window: Tensor | None = None

    @property
    def steps(self) -> int:
        """``P``: the encoder steps run."""
        return int(self.enriched.shape[1])


class TemporalFusionTransformer(nn.Module):
    """Multi-horizon quantile forecaster (Lim et al., 2021).

    Parameters
    ----------
    schema
        What the inputs are (names, cardinalities).
    config
        How big the network is and its context/horizon/quantiles.

    Examples
    --------
    >>> schema = DataSchema(observed=["r"], known=["dow"], static=["ticker_id"], static_cardinalities=[3],
    ...                     tickers=["A", "B", "C"], sectors=["X"], timeframe="1day")
    >>> m = TemporalFusionTransformer(schema, ModelConfig(hidden_size=8, attention_heads=2, context=4, horizon=2))
    >>> out = m(torch.zeros(5, 4, 1), torch.zeros(5, 6, 1), torch.zeros(5, 1, dtype=torch.long))
    >>> tuple(out.quantiles.shape)
    (5, 2, 3)
    """

    def __init__(self, schema: DataSchema, config: ModelConfig) -> None:
        super().__init__()
        self.schema, self.config = schema, config
        d, p = config.hidden_size, config.dropout
        n_obs, n_known = len(schema.observed), len(schema.known)
        self.static_embeddings = nn.ModuleList(nn.Embedding(c, d) for c in schema.static_cardinalities)
        self.static_vsn = VariableSelectionNetwork(len(schema.static), d, p, with_context=False)
        self.static_encoders = StaticCovariateEncoders(d, p)
        self.encoder_vsn = RealVariableSelection(n_obs + n_known, d, p, d_var=config.variable_size)
        self.decoder_vsn = RealVariableSelection(n_known, d, p, d_var=config.variable_size)
        lstm_dropout = p if config.lstm_layers > 1 else 0.0
        self.lstm_encoder = nn.LSTM(d, d, config.lstm_layers, batch_first=True, dropout=lstm_dropout)
        self.lstm_decoder = nn.LSTM(d, d, config.lstm_layers, batch_first=True, dropout=lstm_dropout)
        self.post_lstm = GateAddNorm(d, d, p)
        self.enrichment = GatedResidualNetwork(d, d, d, p, d_context=d)
        self.attention = InterpretableMultiHeadAttention(d, config.attention_heads, p)
        self.post_attention = GateAddNorm(d, d, p)
        self.positionwise = GatedResidualNetwork(d, d, d, p)
        self.pre_output = GateAddNorm(d, d, 0.0)
        self.head = nn.Linear(d, len(config.quantiles))
        nn.init.zeros_(self.head.weight)  # start at the zero-return forecast
        nn.init.zeros_(self.head.bias)
        self.register_buffer("mask", causal_mask(config.context, config.horizon), persistent=False)

    def forward(self, observed: Tensor, known: Tensor, static: Tensor) -> TFTOutput:
        """Run the network.

        Parameters
        ----------
        observed
            ``(B, C, F_obs)`` past-only inputs.
        known
            ``(B, C + H, F_known)`` known inputs for the encoder and decoder steps.
        static
            ``(B, S)`` integer categories.
        """
        contexts = self.static_contexts(static)
        enc_x, enc_w = self.select_encoder(observed, known[:, : self.config.context], contexts)
        return self.decode(enc_x, enc_w, known, contexts)

    def static_contexts(self, static: Tensor) -> StaticContexts:
        """Static selection weights and the four static context vectors of ``static`` ``(B, S)``."""
        s_emb = torch.stack([e(static[:, k]) for k, e in enumerate(self.static_embeddings)], dim=1)
        static_vec, static_w = self.static_vsn(s_emb)
        return StaticContexts(static_w, *self.static_encoders(static_vec))

    def select_encoder(self, observed: Tensor, known: Tensor, contexts: StaticContexts) -> tuple[Tensor, Tensor]:
        """Encoder variable selection of ``(B, T, ·)`` steps: ``(selected (B, T, d), weights (B, T, V))``.

        Each step's result depends only on that step's inputs and the static context, so it can be
        computed once per bar and shared by every window that contains the bar (see
        :func:`tftrade.forecast.inference.forecast_scaled`).
        """
        out: tuple[Tensor, Tensor] = self.encoder_vsn(torch.cat([observed, known], -1), contexts.selection)
        return out

    def encode_prefix(self, enc_x: Tensor, contexts: StaticContexts, known_future: Tensor | None = None,
                      ) -> EncoderPrefix:
        """Run the first ``P`` encoder steps of windows ahead of the rest: ``enc_x`` is their selected steps
        ``(B, P, d)`` (``P < C``); ``known_future`` ``(B, H, K)``, if given, is the decoder's known inputs
        the windows are expected to have, selected now too.

        The encoder LSTM starts from the static state, so these steps depend only on themselves; the
        post-LSTM gate and the static enrichment work step by step. A live forecaster runs them between
        two bars, for the window the next bar completes, and :meth:`decode` with ``prefix`` does the
        rest; the forecasts are those of :meth:`decode` without it (the same computations, split).
        """
        lib = tft_kernels() if plain_float32(enc_x) else None
        out, (h, c) = run_lstm(lib, self.lstm_encoder, enc_x, self._initial_state(contexts))
        _, enriched = self._temporal(lib, out, enc_x, contexts)
        decoder = None
        if known_future is not None:
            decoder = (known_future, *self.decoder_vsn(known_future, contexts.selection))
        window = None
        b, p, d = enriched.shape
        if not torch.is_grad_enabled() and p < self.config.context:  # decode fills in the rest
            window = enriched.new_empty(b, self.config.context + self.config.horizon, d)
            window[:, :p] = enriched
            enriched = window[:, :p]
        return EncoderPrefix(h, c, enriched, decoder, window)

    def decode(self, enc_x: Tensor, enc_w: Tensor, known: Tensor, contexts: StaticContexts,
               prefix: EncoderPrefix | None = None) -> TFTOutput:
        """Everything after encoder selection, for windows whose selected encoder steps ``enc_x`` ``(B, C, d)``
        and their weights are given.

        With ``prefix`` (:meth:`encode_prefix` of ``enc_x[:, :P]``) only the steps from ``P`` on run
        through the encoder LSTM, the post-LSTM gate and the enrichment, and the decoder's selection is
        the prefix's when it selected the same known inputs as ``known``'s decoder steps.

        Raises
        ------
        ValueError
            If ``prefix`` covers all ``C`` encoder steps or does not match the batch.
        """
        c = self.config.context
        p = 0 if prefix is None else prefix.steps
        if prefix is not None and not (p < c and prefix.enriched.shape[0] == enc_x.shape[0]):
            raise ValueError(f"a prefix of {p} steps of {prefix.enriched.shape[0]} windows does not fit "
                             f"{enc_x.shape[0]} windows of {c} encoder steps (it must leave at least one)")
        dec_x, dec_w = self._select_decoder(known[:, c:], contexts, prefix)
        lib = tft_kernels() if plain_float32(enc_x) else None
        state = self._initial_state(contexts) if prefix is None else (prefix.state_h, prefix.state_c)
        enc_out, state = run_lstm(lib, self.lstm_encoder, enc_x[:, p:], state)
        dec_out, _ = run_lstm(lib, self.lstm_decoder, dec_x, state)
        temporal, enriched = self._temporal(lib, torch.cat([enc_out, dec_out], 1), torch.cat([enc_x[:, p:], dec_x], 1),
                                            contexts)
        if prefix is not None:
            enriched = _after_prefix(prefix, enriched)
        attn_out, attn = self.attention(enriched[:, c:], enriched, self.mask)
        x = self.post_attention(attn_out, enriched[:, c:])
        x = self.pre_output(self.positionwise(x), temporal[:, c - p:])
        q = torch.sort(self.head(x), dim=-1).values
        return TFTOutput(q, contexts.weights, enc_w, dec_w, attn)

    def _select_decoder(self, known: Tensor, contexts: StaticContexts, prefix: EncoderPrefix | None,
                        ) -> tuple[Tensor, Tensor]:
        """Decoder selection of ``known`` ``(B, H, K)``: the prefix's when it selected the same inputs."""
        if prefix is not None and prefix.decoder is not None and torch.equal(prefix.decoder[0], known):
            return prefix.decoder[1], prefix.decoder[2]
        out: tuple[Tensor, Tensor] = self.decoder_vsn(known, contexts.selection)
        return out

    def _initial_state(self, contexts: StaticContexts) -> tuple[Tensor, Tensor]:
        """The LSTM state the encoder starts from: the static state contexts, ``(layers, B, d)`` each."""
        layers = self.config.lstm_layers
        return (contexts.state_h.unsqueeze(0).expand(layers, -1, -1).contiguous(),
                contexts.state_c.unsqueeze(0).expand(layers, -1, -1).contiguous())

    def _temporal(self, lib: ctypes.CDLL | None, lstm_out: Tensor, skip: Tensor, contexts: StaticContexts,
                  ) -> tuple[Tensor, Tensor]:
        """``(temporal, enriched)`` of LSTM outputs ``(B, T, d)``: the post-LSTM gate and the static enrichment,
        step by step."""
        if lib is not None and not torch.is_grad_enabled():  # both steps in one pass of the C kernel (same function)
            return temporal_block(lib, self.post_lstm, self.enrichment, lstm_out, skip, contexts.enrichment)
        temporal = self.post_lstm(lstm_out, skip)
        return temporal, self.enrichment(temporal, contexts.enrichment.unsqueeze(1))


def _after_prefix(prefix: EncoderPrefix, rest: Tensor) -> Tensor:
    """The prefix's enriched steps followed by ``rest`` ``(B, T, d)``: written into the prefix's ``window`` when it
    has one of that length (its first steps are the prefix's), else a new tensor."""
    p, w = prefix.steps, prefix.window
    if (w is None or w.shape[1] != p + rest.shape[1] or w.dtype != rest.dtype or torch.is_grad_enabled()
            or (w.is_inference() and not torch.is_inference_mode_enabled())):
        return torch.cat([prefix.enriched, rest], 1)
    w[:, p:] = rest
    return w
