"""Benchmark: tftrade's TFT against pytorch-forecasting's TemporalFusionTransformer, side by side.

Prints (never asserts) training samples/s, time to forecast every ticker's latest window
(p50/p99 over repeats) and test q-risk after the same number of epochs, on one synthetic daily
market (default 500 tickers, context 60, horizon 5, 2 CPU threads, same hidden size, same
batch size, same learning rate, same train/validation/test windows and the same inputs).

    python benchmarks/tft_vs_peer.py [--tickers 500] [--days 250] [--epochs 1] [--hidden 64]
                                     [--seeds 0 1 2] [--peer-python .venv-bench/bin/python] [--institutional]

pytorch-forecasting 1.8.0 pins an older pandas, so it runs in its own venv (``make bench-venv``):
this script writes the scaled inputs to a temporary ``.npz`` and runs itself there with
``--peer-worker FILE``, which prints one JSON document. The peer is given exactly our inputs
(15 observed, 4 known, ticker and sector), an identity target normaliser and no extra features.

Targets differ in one way: ours forecasts cumulative returns ``log(c[t+h]/c[t])``, the peer the
one-bar return at each future step. At horizon 1 they are the same number, so the q-risk compared
directly is horizon 1's; each model's q-risk pooled over horizons on its own target is printed too
(1.0 = the zero-return forecast on that target), and ``q_risk_p50_steps`` scores both on the peer's
target pooled over horizons, ours as the differences of its cumulative medians (the one-bar move it
implies at each step; a point forecast, so its P50 q-risk is its normalised absolute error). With
``--seeds`` both models are trained once per seed and the horizon-1 q-risk is printed for each
seed and as a mean (speed is timed on the first).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

QUANTILES = (0.1, 0.5, 0.9)


def q_risk(y: np.ndarray, q: np.ndarray, level: float) -> float:
    """``2 Σ QL / Σ |y|`` for one quantile level."""
    e = y - q
    return float(2 * np.maximum(level * e, (level - 1) * e).sum() / np.abs(y).sum())


def _pct(ms: list[float]) -> tuple[float, float]:
    return float(np.percentile(ms, 50)), float(np.percentile(ms, 99))


def _seed_columns(seeds: tuple[int, ...] | list[int], per_seed: list[float]) -> dict[str, float]:
    """``q_risk_h1_seed<k>`` for each seed and their mean (nothing extra for a single seed)."""
    if len(per_seed) < 2:
        return {}
    return {**{f"q_risk_h1_seed{s}": q for s, q in zip(seeds, per_seed, strict=True)},
            "q_risk_h1_seed_mean": float(np.mean(per_seed))}


# ------------------------------------------------------------------------------------------ ours
def run_ours(
    raw: Any, config: Any, epochs: int, batch: int, repeats: int, max_samples: int | None = None,
    seeds: tuple[int, ...] = (0,),
) -> dict[str, float]:
    import torch

    from tftrade.features.dataset import WindowIndex, gather
    from tftrade.forecast.inference import forecast_scaled, to_tensors
    from tftrade.forecast.streaming import StreamingForecaster
    from tftrade.forecast.training import TrainConfig, fit

    tc = TrainConfig(max_epochs=epochs, patience=epochs + 1, batch_size=batch, learning_rate=1e-3,
                     max_samples_per_epoch=max_samples, seed=seeds[0])
    rows: list[dict[str, float]] = []
    t0 = time.perf_counter()
    trained = fit(raw, config, tc, on_epoch=rows.append)
    seconds = time.perf_counter() - t0
    n, c, h = len(raw.tickers), config.context, config.horizon
    n_train = min(len(trained.splits.origins("train", n, c, h)), max_samples or 1 << 62)
    panel = raw.scaled(trained.standardizer)
    idx = WindowIndex(np.full(n, panel.n_times - 1, dtype=np.int64), np.arange(n, dtype=np.int64))
    times = []
    model = trained.model.eval()
    with torch.inference_mode():
        for _ in range(repeats + 2):
            t1 = time.perf_counter()
            model(*to_tensors(gather(panel, idx, c, h)))
            times.append((time.perf_counter() - t1) * 1000)
    p50, p99 = _pct(times[2:])
    # live: the same 500 forecasts at each of `repeats` consecutive bars, each bar's selection kept
    stream, live = StreamingForecaster(model), []
    for origin in range(max(panel.n_times - repeats - 3, c - 1), panel.n_times):  # as many bars as have a context
        t1 = time.perf_counter()
        stream.forecast_at(panel, origin)
        live.append((time.perf_counter() - t1) * 1000)
    s50, s99 = _pct(live[3:])  # the first call selects all C bars of every ticker
    test = trained.splits.origins("test", n, c, h)
    pred = forecast_scaled(trained.model, panel, test)
    y = gather(panel, test, c, h).target
    per_seed = [q_risk(y[:, 0], pred[:, 0, 1], 0.5)]
    for seed in seeds[1:]:
        again = fit(raw, config, tc.model_copy(update={"seed": seed}))
        per_seed.append(q_risk(y[:, 0], forecast_scaled(again.model, panel, test)[:, 0, 1], 0.5))
    return {"train_samples_per_s": n_train * len(rows) / seconds, "predict_p50_ms": p50, "predict_p99_ms": p99,
            "live_bar_p50_ms": s50, "live_bar_p99_ms": s99,
            "q_risk_p50_h1": per_seed[0], **_seed_columns(seeds, per_seed),
            "q_risk_p50_pooled": q_risk(y, pred[..., 1], 0.5),
            # the peer's target, one-bar returns at each future step: ours as differences of its cumulative medians
            "q_risk_p50_steps": q_risk(np.diff(y, axis=1, prepend=0), np.diff(pred[..., 1], axis=1, prepend=0), 0.5),
            "parameters": float(sum(p.numel() for p in trained.model.parameters())),
            "train_windows": float(n_train), "test_windows": float(len(test))}


def export_for_peer(raw: Any, config: Any, path: Path, args: argparse.Namespace) -> None:
    """Write the scaled panel (fitted on our training rows) and the split rows for the peer."""
    from tftrade.features.dataset import WARMUP
    from tftrade.features.scaling import Standardizer
    from tftrade.forecast.data import time_splits

    splits = time_splits(raw.n_times, config.context, config.horizon)
    st = Standardizer.fit(raw.observed, raw.returns, WARMUP, splits.train_end)
    panel = raw.scaled(st)
    target = (panel.returns / st.target_scale[None, :]).astype(np.float32)  # one-bar return, scaled
    np.savez(path, observed=panel.observed.astype(np.float32), known=panel.known.astype(np.float32),
             static=panel.static, target=target, observed_names=np.array(panel.observed_names),
             known_names=np.array(panel.known_names), warmup=WARMUP, train_end=splits.train_end,
             val_end=splits.val_end, context=config.context, horizon=config.horizon, hidden=config.hidden_size,
             heads=config.attention_heads, variable_size=config.variable_size or config.hidden_size,
             epochs=args.epochs, batch=args.batch, threads=args.threads, repeats=args.repeats,
             seeds=np.array(args.seeds))


# ------------------------------------------------------------------------------------------ peer
def peer_worker(path: str) -> None:  # pragma: no cover - runs in .venv-bench
    """Train and time pytorch-forecasting's TFT on the exported data; print one JSON document."""
    import warnings

    warnings.filterwarnings("ignore")
    import logging

    logging.getLogger("lightning").setLevel(logging.ERROR)
    logging.getLogger("lightning.pytorch").setLevel(logging.ERROR)
    import lightning.pytorch as pl
    import pandas as pd
    import pytorch_forecasting as ptf
    import torch
    from pytorch_forecasting.data import TorchNormalizer
    from pytorch_forecasting.metrics import QuantileLoss

    d = np.load(path)
    torch.set_num_threads(int(d["threads"]))
    obs_names, known_names = [str(x) for x in d["observed_names"]], [str(x) for x in d["known_names"]]
    t_n, n, _ = d["observed"].shape
    warm, train_end, val_end = int(d["warmup"]), int(d["train_end"]), int(d["val_end"])
    c, h, batch = int(d["context"]), int(d["horizon"]), int(d["batch"])
    frame = pd.DataFrame({"time_idx": np.repeat(np.arange(t_n), n), "ticker": np.tile(np.arange(n), t_n).astype(str),
                          "sector": np.tile(d["static"][:, 1], t_n).astype(str),
                          "target": d["target"].reshape(-1)})
    for k, name in enumerate(obs_names):
        frame[f"o_{name}"] = d["observed"][..., k].reshape(-1)
    for k, name in enumerate(known_names):
        frame[f"k_{name}"] = d["known"][..., k].reshape(-1)
    frame = frame[frame["time_idx"] >= warm]
    # target r[t] is the return into bar t; our window with origin o predicts r[o+1..o+h] from rows o-c+1..o.
    # The peer's encoder sees its target among the observed reals, as ours sees log_return.
    common = dict(time_idx="time_idx", target="target", group_ids=["ticker"], max_encoder_length=c,
                  min_encoder_length=c, max_prediction_length=h, min_prediction_length=h,
                  static_categoricals=["ticker", "sector"], time_varying_known_reals=[f"k_{x}" for x in known_names],
                  time_varying_unknown_reals=[f"o_{x}" for x in obs_names],
                  target_normalizer=TorchNormalizer(method="identity", center=False),
                  add_relative_time_idx=False, add_target_scales=False, add_encoder_length=False)
    train_ds = ptf.TimeSeriesDataSet(frame[frame["time_idx"] < train_end], **common)
    val_ds = ptf.TimeSeriesDataSet.from_dataset(train_ds, frame[frame["time_idx"] < val_end],
                                                min_prediction_idx=train_end)
    test_ds = ptf.TimeSeriesDataSet.from_dataset(train_ds, frame, min_prediction_idx=val_end)
    latest_ds = ptf.TimeSeriesDataSet.from_dataset(train_ds, frame, predict=True)
    train_dl = train_ds.to_dataloader(train=True, batch_size=batch, num_workers=0)
    val_dl = val_ds.to_dataloader(train=False, batch_size=4096, num_workers=0)
    test_dl = test_ds.to_dataloader(train=False, batch_size=4096, num_workers=0)
    latest_dl = latest_ds.to_dataloader(train=False, batch_size=n, num_workers=0)
    seeds = [int(s) for s in d["seeds"]]

    def trained(seed: int) -> tuple[Any, float]:
        pl.seed_everything(seed, verbose=False)
        model = ptf.TemporalFusionTransformer.from_dataset(
            train_ds, hidden_size=int(d["hidden"]), attention_head_size=int(d["heads"]), dropout=0.1,
            hidden_continuous_size=int(d["variable_size"]), lstm_layers=1, learning_rate=1e-3,
            loss=QuantileLoss(list(QUANTILES)), optimizer="adam", log_interval=-1)
        trainer = pl.Trainer(max_epochs=int(d["epochs"]), accelerator="cpu", devices=1, gradient_clip_val=1.0,
                             enable_progress_bar=False, enable_model_summary=False, logger=False,
                             enable_checkpointing=False, num_sanity_val_steps=0)
        t0 = time.perf_counter()
        trainer.fit(model, train_dataloaders=train_dl, val_dataloaders=val_dl)
        return model, time.perf_counter() - t0

    def test_quantiles(model: Any) -> tuple[np.ndarray, np.ndarray]:
        out = model.predict(test_dl, mode="quantiles", return_y=True,
                            trainer_kwargs={"logger": False, "enable_progress_bar": False})
        return out.output.numpy(), out.y[0].numpy()

    model, seconds = trained(seeds[0])
    model.eval()
    x, _ = next(iter(latest_dl))
    fwd, full = [], []
    with torch.inference_mode():
        for _ in range(int(d["repeats"]) + 2):
            t1 = time.perf_counter()
            model(x)
            fwd.append((time.perf_counter() - t1) * 1000)
    for _ in range(max(int(d["repeats"]) // 5, 3) + 1):
        t1 = time.perf_counter()
        model.predict(latest_dl, mode="quantiles", trainer_kwargs={"logger": False, "enable_progress_bar": False})
        full.append((time.perf_counter() - t1) * 1000)
    q, y = test_quantiles(model)
    per_seed = [q_risk(y[:, 0], q[:, 0, 1], 0.5)]
    for seed in seeds[1:]:
        q_s, y_s = test_quantiles(trained(seed)[0])
        per_seed.append(q_risk(y_s[:, 0], q_s[:, 0, 1], 0.5))
    fwd50, fwd99 = _pct(fwd[2:])
    full50, full99 = _pct(full[1:])
    print(json.dumps({
        "train_samples_per_s": len(train_ds) * int(d["epochs"]) / seconds, "predict_p50_ms": fwd50,
        "predict_p99_ms": fwd99, "predict_api_p50_ms": full50, "predict_api_p99_ms": full99,
        "q_risk_p50_h1": per_seed[0], **_seed_columns(seeds, per_seed), "q_risk_p50_pooled": q_risk(y, q[..., 1], 0.5),
        "q_risk_p50_steps": q_risk(y, q[..., 1], 0.5),
        "parameters": float(sum(p.numel() for p in model.parameters())), "train_windows": float(len(train_ds)),
        "test_windows": float(len(y)),
    }))


def run_peer(python: str, data: Path) -> dict[str, float] | None:
    if not Path(python).exists():
        print(f"\n[peer] {python} not found: run `make bench-venv` first; peer skipped")
        return None
    # the same memory policy as ours (tftrade.core.memory.retain_freed_memory), through glibc's variables
    env = {**os.environ, "OMP_NUM_THREADS": str(np.load(data)["threads"]), "MALLOC_MMAP_THRESHOLD_": str(32 << 20),
           "MALLOC_TRIM_THRESHOLD_": str(1 << 30)}
    proc = subprocess.run([python, __file__, "--peer-worker", str(data)], capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        print(f"\n[peer] failed:\n{proc.stderr[-3000:]}")
        return None
    result: dict[str, float] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


# ------------------------------------------------------------------------------------------ main
def _table(columns: dict[str, dict[str, float]]) -> None:
    names = list(columns)
    keys = list(dict.fromkeys(k for col in columns.values() for k in col))
    print(f"\n{'':>24} " + " ".join(f"{n:>22}" for n in names))
    for k in keys:
        print(f"{k:>24} " + " ".join(f"{columns[n].get(k, float('nan')):>22.3f}" for n in names))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tickers", type=int, default=500)
    ap.add_argument("--days", type=int, default=250)
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--hidden", type=int, default=64)
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--repeats", type=int, default=50)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0],
                    help="train both models once per seed for the q-risk comparison (speed: first seed)")
    ap.add_argument("--peer-python", default=str(Path(__file__).resolve().parent.parent / ".venv-bench/bin/python"))
    ap.add_argument("--no-peer", action="store_true")
    ap.add_argument("--institutional", action="store_true", help="also run the institutional preset")
    ap.add_argument("--institutional-samples", type=int, default=5000,
                    help="training windows per epoch for the institutional preset")
    ap.add_argument("--peer-worker", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.peer_worker:
        peer_worker(args.peer_worker)
        return

    import torch
    import torch._dynamo  # loaded before timing: see below

    from tftrade.core.memory import retain_freed_memory
    from tftrade.data.synthetic import SyntheticConfig, generate_market
    from tftrade.forecast.data import panel_from_market
    from tftrade.forecast.tft.config import preset
    from tftrade.forecast.tft.native import tft_kernels

    # Constructing any torch optimizer imports torch._dynamo the first time (1.6-2.4 s here). The peer's
    # imports (Lightning) load it before its timed fit, so it is loaded here too: both fits are timed with
    # the same modules in memory, and neither includes that one-time import.
    # The kernels are compiled once per machine and cached (2-3 s, the first time only): built here, not
    # inside the timed fit, as the peer's compiled extensions were built when its venv was installed.
    tft_kernels()
    torch.set_num_threads(args.threads)
    retain_freed_memory()  # what the CLI does by default (forecast.retain_memory); the peer gets the same
    market = generate_market(SyntheticConfig(n_tickers=args.tickers, days=args.days, seed=0, timeframe="1day"))
    raw = panel_from_market(market, "comments")
    load = os.getloadavg()
    print(f"market: {args.tickers} tickers × {args.days} days (daily), context 60, horizon 5, {args.threads} threads, "
          f"batch {args.batch}, {args.epochs} epoch(s); load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    same = preset("default").model_copy(update={"hidden_size": args.hidden})
    columns = {f"tftrade (hidden {args.hidden})": run_ours(raw, same, args.epochs, args.batch, args.repeats,
                                                           seeds=tuple(args.seeds))}
    print(json.dumps(columns), flush=True)
    if not args.no_peer:
        with tempfile.TemporaryDirectory() as tmp:
            data = Path(tmp) / "panel.npz"
            export_for_peer(raw, same, data, args)
            peer = run_peer(args.peer_python, data)
        if peer is not None:
            print(json.dumps({"peer": peer}), flush=True)
            columns[f"pytorch-forecasting ({args.hidden})"] = peer
            ours = columns[f"tftrade (hidden {args.hidden})"]
            columns["ratio ours/peer"] = {
                "train_samples_per_s": ours["train_samples_per_s"] / peer["train_samples_per_s"],
                "predict_p50_ms": peer["predict_p50_ms"] / ours["predict_p50_ms"],
                "predict_p99_ms": peer["predict_p99_ms"] / ours["predict_p99_ms"],
                "predict_api_p50_ms": peer["predict_api_p50_ms"] / ours["predict_p50_ms"],
                "live_bar_p50_ms": peer["predict_p50_ms"] / ours["live_bar_p50_ms"],
                "q_risk_p50_h1": ours["q_risk_p50_h1"] / peer["q_risk_p50_h1"],
                "q_risk_p50_steps": ours["q_risk_p50_steps"] / peer["q_risk_p50_steps"],
            }
            if "q_risk_h1_seed_mean" in peer:
                columns["ratio ours/peer"]["q_risk_h1_seed_mean"] = (ours["q_risk_h1_seed_mean"]
                                                                      / peer["q_risk_h1_seed_mean"])
    if args.hidden != 32:
        columns["tftrade preset default"] = run_ours(raw, preset("default"), args.epochs, args.batch, args.repeats)
    if args.institutional:
        columns["tftrade institutional"] = run_ours(raw, preset("institutional"), args.epochs, args.batch,
                                                    max(args.repeats // 5, 3), args.institutional_samples)
    _table(columns)
    print("\nratios: training = ours / peer (higher is better); predict = peer / ours (higher is better);"
          " q-risk = ours / peer (lower is better). predict_*_ms = one forward pass over every ticker's latest"
          " window (ours incl. gathering the batch); predict_api = the peer's predict() call; live_bar = ours"
          " forecasting every ticker at each new bar with the bars already selected kept (StreamingForecaster),"
          " its ratio against the peer's full forward.")
    print(f"load average at the end {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
