"""A loopback Reddit fake for PRAW/prawcore: the OAuth token endpoint and subreddit comment listings.

- ``POST /api/v1/access_token`` (HTTP basic auth with the client id and secret,
  ``grant_type=client_credentials``) answers ``{"access_token", "token_type", "expires_in", "scope"}``,
  or 401 for a wrong secret.
- ``GET /r/{a+b+c}/comments/?before=t1_x&limit=100&raw_json=1`` with ``Authorization: bearer TOKEN``
  answers a ``Listing`` of ``t1`` children, newest first, newer than ``before``, with
  ``x-ratelimit-remaining/used/reset`` headers as Reddit sends them.
- :meth:`FakeReddit.fail_next` queues error answers (429 with rate-limit headers, 5xx, a body that is
  not JSON) for the next listing requests.
"""

from __future__ import annotations

import base64
import json
import threading
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

_TOKEN = "fake-access-token"


@dataclass
class FakeReddit:
    """Both endpoints on one loopback port."""

    client_id: str = "cid"
    client_secret: str = "secret"
    comments: list[dict[str, Any]] = field(default_factory=list)
    token_requests: int = 0
    listing_requests: list[str] = field(default_factory=list)
    _failures: deque[tuple[int, dict[str, str], str]] = field(default_factory=deque)
    _http: ThreadingHTTPServer | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self) -> FakeReddit:
        self._http = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        threading.Thread(target=self._http.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._http is not None:
            self._http.shutdown()
            self._http.server_close()

    @property
    def url(self) -> str:
        assert self._http is not None
        return f"http://127.0.0.1:{self._http.server_address[1]}"

    def post(self, cid: str, body: str, created_utc: float, *, subreddit: str = "stocks", author: str = "amy",
             score: int = 1) -> None:
        """Add a comment (it becomes the newest)."""
        with self._lock:
            self.comments.append({"id": cid, "name": f"t1_{cid}", "body": body, "created_utc": created_utc,
                                  "subreddit": subreddit, "subreddit_id": "t5_2qjfk", "author": author,
                                  "link_id": "t3_post1", "parent_id": "t3_post1", "score": score, "ups": score,
                                  "permalink": f"/r/{subreddit}/comments/post1/x/{cid}/"})

    def fail_next(self, status: int, *, headers: dict[str, str] | None = None, body: str | None = None) -> None:
        """Answer the next listing request with ``status`` and ``body``."""
        self._failures.append((status, headers or {}, body if body is not None else json.dumps(
            {"message": "error", "error": status})))


def _handler(fake: FakeReddit) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: Any) -> None:
            pass

        def _reply(self, status: int, body: str, headers: dict[str, str] | None = None) -> None:
            data = body.encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=UTF-8")
            self.send_header("Content-Length", str(len(data)))
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(data)

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            form = parse_qs(self.rfile.read(length).decode())
            fake.token_requests += 1
            expected = base64.b64encode(f"{fake.client_id}:{fake.client_secret}".encode()).decode()
            if urlparse(self.path).path != "/api/v1/access_token":
                self._reply(404, "{}")
            elif self.headers.get("Authorization") != f"Basic {expected}":
                self._reply(401, json.dumps({"message": "Unauthorized", "error": 401}))
            elif form.get("grant_type") != ["client_credentials"]:
                self._reply(200, json.dumps({"error": "unsupported_grant_type"}))
            else:
                self._reply(200, json.dumps({"access_token": _TOKEN, "token_type": "bearer", "expires_in": 86400,
                                             "scope": "*"}))

        def do_GET(self) -> None:
            fake.listing_requests.append(self.path)
            if fake._failures:
                status, headers, body = fake._failures.popleft()
                self._reply(status, body, headers)
                return
            if self.headers.get("Authorization") != f"bearer {_TOKEN}":
                self._reply(401, json.dumps({"message": "Unauthorized", "error": 401}))
                return
            url = urlparse(self.path)
            if not (url.path.startswith("/r/") and url.path.rstrip("/").endswith("/comments")):
                self._reply(404, json.dumps({"message": "Not Found", "error": 404}))
                return
            subs = set(url.path.split("/")[2].lower().split("+"))
            q = parse_qs(url.query)
            before, limit = q.get("before", [""])[0], int(q.get("limit", ["100"])[0])
            with fake._lock:
                rows = [c for c in fake.comments if c["subreddit"].lower() in subs]
            names = [c["name"] for c in rows]
            if before and before in names:
                rows = rows[names.index(before) + 1:]
            page = list(reversed(rows))[:limit]
            listing = {"kind": "Listing", "data": {"after": None, "before": None, "dist": len(page), "modhash": "",
                                                   "children": [{"kind": "t1", "data": c} for c in page]}}
            self._reply(200, json.dumps(listing), {"x-ratelimit-remaining": "599.0", "x-ratelimit-used": "1",
                                                   "x-ratelimit-reset": "300"})

    return Handler
