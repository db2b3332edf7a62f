"""Encoded answers: the values ``json`` would write, kept per version of the forecasts, revalidated by ``ETag``."""

from __future__ import annotations

import json
import math

from tftrade.service.predictions import EncodedRows, PredictAnswers, PredictionBook, encode, prediction_row
from tftrade.stream.cache import InMemoryCache

from .conftest import Service


def _row(ticker: str, horizon: int, q50: float, as_of_ns: int = 1_700_000_000_000_000_000) -> dict[str, object]:
    return {"ticker": ticker, "horizon": horizon, "as_of_ns": as_of_ns, "q10": q50 - 0.01, "q50": q50,
            "q90": q50 + 0.01, "predicted_return": q50, "confidence_score": 0.25, "current_price": 101.5,
            "timeframe": "1min", "model_version": "3", "features_hash": None, "stale": False, "bar_age_seconds": 0.0}


def test_encode_writes_the_values_json_writes() -> None:
    rows = [prediction_row(_row(t, h, q)) for t, h, q in
            [("AAPL", 1, 1e-05), ("AAPL", 2, -0.1234567890123456789), ("MSFT", 1, 1e22), ("MSFT", 2, 5e-324)]]
    doc = {"predictions": rows, "count": 4}
    assert json.loads(encode(rows)) == json.loads(json.dumps(doc)) == doc
    odd = [prediction_row(_row("NVDA", 1, math.nan))]  # what json writes for it (NaN), not null
    assert encode(odd) == json.dumps({"predictions": odd, "count": 1}).encode()


def test_encoded_rows_are_answered_with_their_payload_once_new() -> None:
    answers = PredictAnswers()
    rows = EncodedRows([_row("AAPL", 1, 0.1)], b'{"made":"once"}')
    assert answers.answer(rows) == (b'{"made":"once"}', True)
    assert answers.answer(rows) == (b'{"made":"once"}', False)  # the same rows again: not new (no book update)
    plain = [_row("MSFT", 2, 0.2), _row("AAPL", 1, 0.1)]
    payload, new = answers.answer(plain)
    assert new and [(p["ticker"], p["horizon"]) for p in json.loads(payload)["predictions"]] == [
        ("AAPL", 1), ("MSFT", 2)]


def test_the_book_keeps_one_answer_per_version_and_a_new_tag_when_it_changes() -> None:
    cache = InMemoryCache()
    book, other = PredictionBook(cache), PredictionBook(cache)  # two API processes sharing a cache
    book.update([_row("AAPL", 1, 0.1)])
    body, tag = book.answer()
    assert book.answer() == (body, tag) and book.answer()[0] is body  # encoded once per version
    assert other.answer() == (body, tag)  # the same bytes and tag in every process
    other.update([_row("AAPL", 1, 0.2, as_of_ns=1_700_000_060_000_000_000)])  # a newer forecast, elsewhere
    body2, tag2 = book.answer()
    assert tag2 != tag and json.loads(body2)["predictions"][0]["q50"] == 0.2
    sub, sub_tag = book.answer(["aapl"])
    assert json.loads(sub) == json.loads(body2) and sub_tag == tag2  # same bytes, same tag


def test_predictions_answer_304_to_a_current_etag_and_200_once_forecasts_change(service: Service) -> None:
    h = {"X-API-Key": service.keys["read"]}
    first = service.client.get("/predictions", headers=h)
    tag = first.headers["etag"]
    assert first.status_code == 200 and first.headers["cache-control"] == "private, no-cache"
    same = service.client.get("/predictions", headers={**h, "If-None-Match": tag})
    assert same.status_code == 304 and same.content == b"" and same.headers["etag"] == tag
    assert service.client.get("/predictions", headers={**h, "If-None-Match": '"other"'}).status_code == 200
    service.client.post("/predict", headers=h, json={"tickers": ["AAPL"]})  # new forecasts enter the book
    changed = service.client.get("/predictions", headers={**h, "If-None-Match": tag})
    assert changed.status_code == 200 and changed.json()["count"] == 2 and changed.headers["etag"] != tag
    nvda = service.client.get("/predictions?tickers=NVDA", headers=h)
    assert nvda.json()["count"] == 0 and nvda.headers["etag"] != changed.headers["etag"]


def test_a_current_etag_does_not_pass_the_key_check(service: Service) -> None:
    h = {"X-API-Key": service.keys["read"]}
    tag = service.client.get("/predictions", headers=h).headers["etag"]
    assert service.client.get("/predictions", headers={"If-None-Match": tag}).status_code == 401
    wrong = {"X-API-Key": service.keys["read"][:-2] + "xx", "If-None-Match": tag}
    assert service.client.get("/predictions", headers=wrong).status_code == 401


def test_the_book_takes_encoded_rows_as_they_are_and_answers_what_plain_rows_give() -> None:
    later = 1_700_000_060_000_000_000
    plain, fast = PredictionBook(InMemoryCache()), PredictionBook(InMemoryCache())

    def encoded(rows: list[dict[str, object]]) -> EncodedRows:
        shown = sorted((prediction_row(r) for r in rows), key=lambda r: (r["ticker"], r["horizon"]))
        return EncodedRows(rows, encode(shown), shown)

    every = [_row(t, h, 0.01 * h) for t in ("MSFT", "AAPL") for h in (1, 2)]
    whole = encoded(every)
    assert plain.update(every) == fast.update(whole) == 4
    assert fast.answer() == plain.answer() and fast.answer()[0] is whole.payload  # its payload is the answer
    one = [_row("AAPL", 2, 0.5, as_of_ns=later)]  # part of the book: merged with the rest
    assert plain.update(one) == fast.update(encoded(one)) == 1
    assert fast.answer() == plain.answer() and json.loads(fast.answer()[0])["count"] == 4
    stale = [_row(t, h, 0.9) for t in ("AAPL", "MSFT") for h in (1, 2)]  # AAPL 2 is older than the book's
    assert plain.update(stale) == fast.update(encoded(stale)) == 3
    assert fast.answer() == plain.answer()
    assert [r["q50"] for r in json.loads(fast.answer()[0])["predictions"]] == [0.9, 0.5, 0.9, 0.9]


def test_post_predict_answers_its_stages_on_the_servers_clock(service: Service) -> None:
    from tftrade.service.timing import parse_header

    r = service.client.post("/predict", headers={"X-API-Key": service.keys["read"]}, json={})
    stages = parse_header(r.headers["server-timing"])
    assert r.status_code == 200 and {"request", "from_thread", "answer", "gc", "total"} <= stages.keys()
    assert stages["total"] >= stages["request"] >= 0.0
    assert parse_header(r.headers["server-timing"], "cpu").keys() <= stages.keys()
