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
                                          [--predict-only] [--workspace DIR] [--predict-threads N]

Each ``POST /predict`` answer carries the server's own stage times (``Server-Timing``, see
:mod:`tftrade.service.timing`): ``server_stages_ms_p50_p99`` gives their p50 / p99 per phase, and
``outside_server`` what the client waited beyond the server's total; ``server_stages_cpu_ms_p50_p99``
the CPU time of the stages that ran on one thread (steadier than wall time on a shared machine).
``--predict-only`` skips the ``GET /predictions`` loads; ``--predict-threads`` sets the server's
``service.predict_threads`` (torch threads of the forward; default: the server's setting, 1);
``--workspace DIR`` keeps the set-up workspace (market, trained model, key) in ``DIR`` and starts
each later run from a copy of it (variants compared on the same model).
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

from tftrade.service.timing import parse_header

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
    days = max(1, -(-(hold + 300) // 390))  # training needs ~300 bars besides the held-back minutes (390 a day)
    ingest_synthetic(eng, generate_market(SyntheticConfig(n_tickers=tickers, days=days, seed=7, comments_per_bar=0)))
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


def _workspace(home: Path, keep: Path | None, tickers: int, hold: int) -> tuple[str, list[list[dict[str, object]]]]:
    """Set the workspace up in ``home`` (``keep``: once, in ``keep``, then copied to ``home`` each run)."""
    import pickle
    import shutil

    if keep is None:
        home.mkdir()
        return _setup(home, tickers, hold)
    saved = keep / "bench.pickle"
    if saved.exists():
        key, held, made_for = pickle.loads(saved.read_bytes())
        if made_for != (tickers, hold):
            raise SystemExit(f"{keep} was set up for (tickers, held minutes) {made_for}, not {(tickers, hold)}")
    else:
        (keep / "home").mkdir(parents=True, exist_ok=True)
        key, held = _setup(keep / "home", tickers, hold)
        saved.write_bytes(pickle.dumps((key, held, (tickers, hold))))
    shutil.copytree(keep / "home", home)
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


def _start(home: Path, port: int, threads: int | None) -> subprocess.Popen[bytes]:
    # one benchmark key sends far more than a client's default budget (1,200/min): lift it for this server only
    env = {**os.environ, "TFTRADE_HOME": str(home), "TFTRADE_SERVICE__RATE_LIMIT_PER_MINUTE": "10000000"}
    if threads is not None:
        env["TFTRADE_SERVICE__PREDICT_THREADS"] = str(threads)
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


def _stages(timings: list[dict[str, float]], wall_ms: list[float] | None) -> dict[str, str]:
    """Per stage of the server's ``Server-Timing`` answers: ``"p50 / p99"`` ms over the requests (0 where a
    request had no such stage); ``outside_server``: the client's wall time less the server's total (the
    network both ways, the 1 MB body's sending and reading, the client's own work)."""
    if not timings or not all(timings):
        return {}
    names = list(dict.fromkeys(n for t in timings for n in t))
    cols = {n: [t.get(n, 0.0) for t in timings] for n in names}
    if wall_ms is not None:
        cols["outside_server"] = [w - t.get("total", 0.0) for w, t in zip(wall_ms, timings, strict=True)]
    return {n: f"{np.percentile(v, 50):.2f} / {np.percentile(v, 99):.2f}" for n, v in cols.items()}


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
    ap.add_argument("--predict-only", action="store_true", help="skip the GET /predictions loads")
    ap.add_argument("--predict-threads", type=int, help="the server's service.predict_threads (default: its own)")
    ap.add_argument("--workspace", type=Path, help="set up once in this directory, then run from copies of it")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp) / "home"
        t0 = time.perf_counter()
        key, held = _workspace(home, args.workspace, args.tickers, 3 * args.predicts)
        print(f"setup: {args.tickers} tickers, model trained, {time.perf_counter() - t0:.0f} s", file=sys.stderr)
        port = _free_port()
        proc = _start(home, port, args.predict_threads)
        url = f"http://127.0.0.1:{port}"
        try:
            h = {"X-API-Key": key}
            first = httpx.post(f"{url}/predict", headers=h, json={}, timeout=120)  # loads the model, fills the book
            count, size = first.json()["count"], len(first.content)
            new_bar_ms: list[float] = []
            prepared_ms: list[float] = []
            settled_ms: list[float] = []
            predict_ms: list[float] = []
            stages: tuple[list[dict[str, float]], ...] = ([], [], [], [])  # Server-Timing, per phase as above
            cpu: tuple[list[dict[str, float]], ...] = ([], [], [], [])  # their CPU times

            with httpx.Client(timeout=60) as client:
                for i, minute in enumerate(held):
                    phase = i // args.predicts  # right before: 0.2 s apart, then 0.8 s apart; then 1 s before
                    _land(home, minute)
                    if phase == 2:
                        time.sleep(1.0)
                    t = time.perf_counter()
                    r = client.post(f"{url}/predict", headers=h, json={})
                    (new_bar_ms, prepared_ms, settled_ms)[phase].append((time.perf_counter() - t) * 1e3)
                    stages[phase].append(parse_header(r.headers.get("server-timing", "")))
                    cpu[phase].append(parse_header(r.headers.get("server-timing", ""), "cpu"))
                    assert r.status_code == 200 and r.json()["count"] == count, r.text
                    time.sleep(0.8 if phase == 1 else 0.2)  # the book takes the new forecasts after the answer
                for _ in range(args.predicts):  # no new bar in between
                    t = time.perf_counter()
                    r = client.post(f"{url}/predict", headers=h, json={})
                    predict_ms.append((time.perf_counter() - t) * 1e3)
                    stages[3].append(parse_header(r.headers.get("server-timing", "")))
                    cpu[3].append(parse_header(r.headers.get("server-timing", ""), "cpu"))
                    assert r.status_code == 200, r.text
            body = asyncio.run(_one_get(url, key))
            assert json.loads(body)["count"] == count, "GET /predictions does not serve every forecast"
            gets: dict[str, dict[str, float]] = {}
            if not args.predict_only:
                paced = asyncio.run(_load(url, key, args.rate, args.seconds, args.clients))
                paced_httpx = asyncio.run(_load(url, key, args.rate, args.seconds, args.clients, lean=False))
                revalidated = asyncio.run(_load(url, key, args.rate, args.seconds, args.clients, revalidate=True))
                flat_out = asyncio.run(_load(url, key, None, args.seconds / 2, args.clients))
                paced_at = {"target_rate": args.rate, "clients": args.clients}
                gets = {"get_predictions_paced": {**paced_at, **paced},
                        "get_predictions_paced_httpx": {**paced_at, **paced_httpx},
                        "get_predictions_paced_revalidated_304": {**paced_at, **revalidated},
                        "get_predictions_max": {"clients": args.clients, **flat_out}}
        finally:
            proc.terminate()
            proc.wait(10)
    print(json.dumps({
        "tickers": args.tickers, "predict_threads": args.predict_threads,
        "forecasts_served": count, "answer_bytes": size, "cores": os.cpu_count(),
        **gets,
        "post_predict_all_tickers_new_bar_each": _pcts(new_bar_ms),
        "post_predict_all_tickers_new_bar_each_prepared": _pcts(prepared_ms),
        "post_predict_all_tickers_new_bar_1s_before_each": _pcts(settled_ms),
        "post_predict_all_tickers": _pcts(predict_ms),
        "server_stages_ms_p50_p99": {
            name: _stages(t, w) for name, t, w in zip(
                ("new_bar_each", "new_bar_each_prepared", "new_bar_1s_before_each", "no_new_bar"), stages,
                (new_bar_ms, prepared_ms, settled_ms, predict_ms), strict=True)},
        "server_stages_cpu_ms_p50_p99": {
            name: _stages(t, None) for name, t in zip(
                ("new_bar_each", "new_bar_each_prepared", "new_bar_1s_before_each", "no_new_bar"), cpu, strict=True)},
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "targets": {"get_predictions_p99_ms": 10, "post_predict_p99_ms": 50},
    }, indent=2))


if __name__ == "__main__":
    main()
