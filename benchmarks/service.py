"""API speed under load, on loopback: ``GET /predictions`` and ``POST /predict`` for 500 tickers.

Sets up a workspace (synthetic market of 500 tickers, a `default`-preset TFT trained briefly,
an API key), starts ``tftrade serve`` as its own process, then drives it with a bounded
asyncio load generator (loopback only; every loop ends by count and time):

- ``GET /predictions`` (all 500 tickers × 5 horizons) at a paced rate with N concurrent clients,
  then as fast as the clients can go: throughput and p50/p99. The clients are lean HTTP/1.1
  keep-alive connections on asyncio streams (request written, headers parsed, the whole body read
  by its ``Content-Length``): on 2 cores the load generator shares the CPU with the server, and
  httpx spends ~3 ms of Python per 1 MB answer. The paced load is also run with httpx clients
  (``get_predictions_paced_httpx``) for comparison;
- the same paced load from clients that revalidate (``If-None-Match`` with the ``ETag`` they hold,
  the forecasts unchanged: ``304``, no body), as a browser or a polling dashboard does;
- ``POST /predict`` for all 500 tickers, one request at a time: p50/p99, measured four times —
  with a new minute of 500 bars landing in the store right before each request (the served
  window reads it, computes that bar's features and forecasts it: the work a live minute costs,
  on the request's clock), first with minutes landing 0.2 s apart (faster than the service's
  0.5 s poll loop gets ahead between bars: the whole window is run, as after a start or when
  bars come faster than the loop), then 0.8 s apart (the loop has got ahead for the next bar, as
  it has in the minute between two live bars); with a new minute landing 1 s before each request
  (the poll loop has made that minute's answer meanwhile); and with no new bar in between
  (requests between two bars share the forecast).

Targets (issue #17): ``/predictions`` p99 < 10 ms at 200 requests/s; ``/predict`` p99 < 50 ms.

    .venv/bin/python benchmarks/service.py [--rate 200] [--seconds 10] [--clients 8] [--predicts 30]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx
import numpy as np

BARS = "stocks_minute_candlesticks"


def _setup(home: Path, tickers: int, hold: int) -> tuple[str, list[list[dict[str, object]]]]:
    """The workspace, with the last ``hold`` minutes held back (returned as rows, oldest first) to land later."""
    from sqlalchemy import text

    from tftrade.data.ingest import ingest_synthetic
    from tftrade.data.synthetic import SyntheticConfig, generate_market
    from tftrade.forecast import workflows
    from tftrade.service.keys import Scope, create_key
    from tftrade.store.engine import make_engine
    from tftrade.store.migrate import upgrade

    eng = make_engine(f"sqlite:///{home / 'tftrade.db'}")
    upgrade(eng)
    ingest_synthetic(eng, generate_market(SyntheticConfig(n_tickers=tickers, days=1, seed=7, comments_per_bar=0)))
    with eng.begin() as conn:
        stamps = [r[0] for r in conn.execute(text(f"select distinct window_start from {BARS} order by 1 desc limit "
                                                  f"{hold}"))][::-1]
        held = [[dict(r) for r in conn.execute(text(f"select * from {BARS} where window_start = :w"), {"w": w})
                 .mappings()] for w in stamps]
        conn.execute(text(f"delete from {BARS} where window_start >= :w"), {"w": stamps[0]})
    workflows.train(eng, home, None, "1min", "default", epochs=1, max_samples=2048)
    key = create_key(eng, "bench", Scope.READ)[0]
    eng.dispose()
    return key, held


def _land(home: Path, rows: list[dict[str, object]]) -> None:
    """A held-back minute of bars lands in the store (as the ingest worker would write it)."""
    from sqlalchemy import text

    from tftrade.store.engine import make_engine

    eng = make_engine(f"sqlite:///{home / 'tftrade.db'}")
    with eng.begin() as conn:
        conn.execute(text(f"insert into {BARS} ({', '.join(rows[0])}) values ({', '.join(':' + k for k in rows[0])})"),
                     rows)
    eng.dispose()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _start(home: Path, port: int) -> subprocess.Popen[bytes]:
    # one benchmark key sends far more than a client's default budget (1,200/min): lift it for this server only
    env = {**os.environ, "TFTRADE_HOME": str(home), "TFTRADE_SERVICE__RATE_LIMIT_PER_MINUTE": "10000000"}
    proc = subprocess.Popen([str(Path(sys.executable).with_name("tftrade")), "serve", "--port", str(port)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            time.sleep(0.25)
    proc.kill()
    raise SystemExit(f"tftrade serve did not start: {proc.stderr.read().decode() if proc.stderr else ''}")


def _pcts(ms: list[float]) -> dict[str, float]:
    a = np.array(ms)
    return {"n": len(a), "p50_ms": round(float(np.percentile(a, 50)), 3),
            "p99_ms": round(float(np.percentile(a, 99)), 3), "max_ms": round(float(a.max()), 3)}


class _Connection:
    """One HTTP/1.1 keep-alive connection on asyncio streams: a GET, the whole answer read by Content-Length."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, url: str) -> _Connection:
        host, port = url.removeprefix("http://").split(":")
        return cls(*await asyncio.open_connection(host, int(port)))

    async def get(self, path: str, headers: dict[str, str]) -> tuple[int, bytes]:
        """Status and body of ``GET path``; raises on anything but a Content-Length answer."""
        lines = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        self.writer.write(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{lines}\r\n".encode())
        head = (await self.reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
        status = int(head[0].split()[1])
        fields = dict(h.split(": ", 1) for h in head[1:] if h)
        length = {k.lower(): v for k, v in fields.items()}.get("content-length")
        if length is None and status != 304:
            raise RuntimeError(f"answer without Content-Length: {head[:8]}")
        return status, await self.reader.readexactly(int(length or 0))

    def close(self) -> None:
        self.writer.close()


async def _load(url: str, key: str, rate: float | None, seconds: float, clients: int,
                revalidate: bool = False, lean: bool = True) -> dict[str, float]:
    """``clients`` workers share a schedule of ``rate`` requests/s (``None``: back to back) for ``seconds``;
    ``revalidate``: each request sends ``If-None-Match`` with the answer's ``ETag`` (expects 304);
    ``lean``: :class:`_Connection` clients (else httpx)."""
    latencies: list[float] = []
    errors = 0
    headers = {"X-API-Key": key}
    if revalidate:
        tag = httpx.get(f"{url}/predictions", headers=headers).headers.get("etag")
        if tag is None:  # a server without ETags (code before they were added)
            return {"skipped": 1.0}
        headers["If-None-Match"] = tag
    ok = 304 if revalidate else 200
    start = time.perf_counter()
    total = int(rate * seconds) if rate else 10**9
    next_slot = iter(range(total))

    async def worker(get: Callable[[], Awaitable[int]]) -> None:
        nonlocal errors
        for i in next_slot:
            if rate:
                delay = start + i / rate - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
            if time.perf_counter() - start > seconds:
                return
            t0 = time.perf_counter()
            status = await get()
            latencies.append((time.perf_counter() - t0) * 1e3)
            errors += status != ok

    if lean:
        conns = [await _Connection.open(url) for _ in range(clients)]

        def lean_get(c: _Connection) -> Callable[[], Awaitable[int]]:
            async def get() -> int:
                return (await c.get("/predictions", headers))[0]
            return get

        start = time.perf_counter()
        await asyncio.gather(*(worker(lean_get(c)) for c in conns))
        for c in conns:
            c.close()
    else:
        limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
        async with httpx.AsyncClient(limits=limits, timeout=10) as client:
            async def httpx_get() -> int:
                return (await client.get(f"{url}/predictions", headers=headers)).status_code
            await asyncio.gather(*(worker(httpx_get) for _ in range(clients)))
    elapsed = time.perf_counter() - start
    return {**_pcts(latencies), "requests_per_s": round(len(latencies) / elapsed, 1), "errors": errors}


async def _one_get(url: str, key: str) -> bytes:
    """The body of one ``GET /predictions`` through a lean connection (checked before the load)."""
    c = await _Connection.open(url)
    try:
        status, body = await c.get("/predictions", {"X-API-Key": key})
    finally:
        c.close()
    if status != 200:
        raise RuntimeError(f"GET /predictions answered {status}: {body[:200]!r}")
    return body


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tickers", type=int, default=500)
    ap.add_argument("--rate", type=float, default=200.0)
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--predicts", type=int, default=30)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        t0 = time.perf_counter()
        key, held = _setup(home, args.tickers, 3 * args.predicts)
        print(f"setup: {args.tickers} tickers, model trained, {time.perf_counter() - t0:.0f} s", file=sys.stderr)
        port = _free_port()
        proc = _start(home, port)
        url = f"http://127.0.0.1:{port}"
        try:
            h = {"X-API-Key": key}
            first = httpx.post(f"{url}/predict", headers=h, json={}, timeout=120)  # loads the model, fills the book
            count, size = first.json()["count"], len(first.content)
            new_bar_ms: list[float] = []
            prepared_ms: list[float] = []
            settled_ms: list[float] = []
            predict_ms: list[float] = []
            with httpx.Client(timeout=60) as client:
                for i, minute in enumerate(held):
                    phase = i // args.predicts  # right before: 0.2 s apart, then 0.8 s apart; then 1 s before
                    _land(home, minute)
                    if phase == 2:
                        time.sleep(1.0)
                    t = time.perf_counter()
                    r = client.post(f"{url}/predict", headers=h, json={})
                    (new_bar_ms, prepared_ms, settled_ms)[phase].append((time.perf_counter() - t) * 1e3)
                    assert r.status_code == 200 and r.json()["count"] == count, r.text
                    time.sleep(0.8 if phase == 1 else 0.2)  # the book takes the new forecasts after the answer
                for _ in range(args.predicts):  # no new bar in between
                    t = time.perf_counter()
                    r = client.post(f"{url}/predict", headers=h, json={})
                    predict_ms.append((time.perf_counter() - t) * 1e3)
                    assert r.status_code == 200, r.text
            body = asyncio.run(_one_get(url, key))
            assert json.loads(body)["count"] == count, "GET /predictions does not serve every forecast"
            paced = asyncio.run(_load(url, key, args.rate, args.seconds, args.clients))
            paced_httpx = asyncio.run(_load(url, key, args.rate, args.seconds, args.clients, lean=False))
            revalidated = asyncio.run(_load(url, key, args.rate, args.seconds, args.clients, revalidate=True))
            flat_out = asyncio.run(_load(url, key, None, args.seconds / 2, args.clients))
        finally:
            proc.terminate()
            proc.wait(10)
    print(json.dumps({
        "tickers": args.tickers, "forecasts_served": count, "answer_bytes": size, "cores": os.cpu_count(),
        "get_predictions_paced": {"target_rate": args.rate, "clients": args.clients, **paced},
        "get_predictions_paced_httpx": {"target_rate": args.rate, "clients": args.clients, **paced_httpx},
        "get_predictions_paced_revalidated_304": {"target_rate": args.rate, "clients": args.clients, **revalidated},
        "get_predictions_max": {"clients": args.clients, **flat_out},
        "post_predict_all_tickers_new_bar_each": _pcts(new_bar_ms),
        "post_predict_all_tickers_new_bar_each_prepared": _pcts(prepared_ms),
        "post_predict_all_tickers_new_bar_1s_before_each": _pcts(settled_ms),
        "post_predict_all_tickers": _pcts(predict_ms),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "targets": {"get_predictions_p99_ms": 10, "post_predict_p99_ms": 50},
    }, indent=2))


if __name__ == "__main__":
    main()
