#!/usr/bin/env python3
"""A pass-through front for `cargo lambda watch`, as the fuzz run uses it.

API Gateway hands a function a body it cannot pass as text base64-encoded
(`isBase64Encoded`), whatever its Content-Type. cargo lambda watch (1.9.x) instead answers
500 before any function runs when a text/* or application/json body is not UTF-8. This
front relabels exactly those bodies `application/octet-stream`, which the watch delivers
base64-encoded, so they reach the function as they would in AWS (the functions never read
Content-Type).

The watch can also lose a function's response and answer its own problem+json 500 instead
(tests/src/lib.rs, send_idempotent; much rarer since the watch is pinned at 1.9.1, README,
Testing). The front sends such a request once more, and
only then: a function that really fails answers the same way the second time, and that
answer is returned. Everything else passes unchanged.

Upstream answers slower than SLOW_SECS, upstream failures and resends are written to stderr
with the request; fuzz-api.sh prints them after the run.

The watch also, now and then (1.9.2: about once in 1400 requests; 1.9.1: rarer), holds a
request for 10-80 s although the function answered it in milliseconds (its `elapsed_ms`),
until the next request to the same function arrives (our reading: the watch acknowledges a
function's response before reading it, and the rest of it waits until the function next
writes on that connection; README, Testing). So a
request still unanswered after SLOW_SECS gets such a next request, every POKE_SECS until it
is answered: a request that changes nothing (GET, HEAD, List) is sent once more (the first
answer wins); any other is "poked" with the same method and path without credentials, which
its function refuses with 401 at once, changing nothing. The functions' own log lines still
show any slowness of theirs.

usage: api-front.py LISTEN_PORT UPSTREAM_PORT
"""

import http.client
import sys
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

UPSTREAM_PORT = 0
SLOW_SECS = 10
POKE_SECS = 5
WATCH_OWN_500 = b'"type":"https://httpstatuses.com/500"'
HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "upgrade", "proxy-connection"}


def is_text(content_type: str) -> bool:
    return content_type.startswith("text/") or content_type.startswith("application/json")


def send(method: str, path: str, body: bytes, headers: dict) -> tuple:
    upstream = http.client.HTTPConnection("127.0.0.1", UPSTREAM_PORT, timeout=120)
    started = time.monotonic()
    # Said while still waiting: a fuzz run that gives up on this request stops the front.
    waiting = threading.Timer(SLOW_SECS, note, [f"{method} {path}: no answer yet after {SLOW_SECS} s, body {body[:200]!r}"])
    waiting.start()
    try:
        upstream.request(method, path, body=body or None, headers=headers)
        response = upstream.getresponse()
        answer = response.status, response.reason, response.getheaders(), response.read()
    except Exception as err:
        note(f"{method} {path}: no answer after {time.monotonic() - started:.1f} s: {err!r}")
        raise
    finally:
        waiting.cancel()
        upstream.close()
    if time.monotonic() - started > SLOW_SECS:
        note(f"{method} {path}: {answer[0]} after {time.monotonic() - started:.1f} s, body {body[:200]!r}")
    return answer


def changes_nothing(method: str, path: str) -> bool:
    return method in ("GET", "HEAD") or (method == "POST" and path.split("?")[0].endswith("/uploads/list"))


def poke(method: str, path: str) -> None:
    """The same route without credentials: its function answers 401 at once, changing nothing."""
    upstream = http.client.HTTPConnection("127.0.0.1", UPSTREAM_PORT, timeout=30)
    try:
        upstream.request(method, path, headers={"Content-Length": "0"})
        upstream.getresponse().read()
    except Exception as err:
        note(f"{method} {path}: the poke had no answer: {err!r}")
    finally:
        upstream.close()


HEDGES = ThreadPoolExecutor(max_workers=16)


def send_hedged(method: str, path: str, body: bytes, headers: dict) -> tuple:
    pending = [HEDGES.submit(send, method, path, body, headers)]
    timeout = SLOW_SECS
    while True:
        done, _ = wait(pending, timeout=timeout, return_when=FIRST_COMPLETED)
        if done:
            return next(iter(done)).result()
        if changes_nothing(method, path) and len(pending) == 1:
            note(f"{method} {path}: sending it again")
            pending.append(HEDGES.submit(send, method, path, body, headers))
        else:
            note(f"{method} {path}: poking its function (the same route, without credentials)")
            HEDGES.submit(poke, method, path)
        timeout = POKE_SECS


def note(line: str) -> None:
    sys.stderr.write(f"{time.strftime('%H:%M:%S')} {line}\n")
    sys.stderr.flush()


class Front(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def forward(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        body = self.rfile.read(length) if length else b""
        headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
        content_type = self.headers.get("content-type", "")
        if body and is_text(content_type):
            try:
                body.decode("utf-8")
            except UnicodeDecodeError:
                headers = {k: v for k, v in headers.items() if k.lower() != "content-type"}
                headers["Content-Type"] = "application/octet-stream"
        status, reason, response_headers, payload = send_hedged(self.command, self.path, body, headers)
        if status == 500 and WATCH_OWN_500 in payload:
            note(f"watch answered its own 500 to {self.command} {self.path}: {payload[:300]!r}; sending it again")
            status, reason, response_headers, payload = send(self.command, self.path, body, headers)
        self.send_response_only(status, reason)
        for name, value in response_headers:
            if name.lower() not in HOP_BY_HOP and name.lower() != "content-length":
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = do_TRACE = do_QUERY = forward

    def log_message(self, format: str, *args) -> None:  # noqa: A002 - the base class's name
        pass


def main() -> None:
    global UPSTREAM_PORT
    listen, UPSTREAM_PORT = int(sys.argv[1]), int(sys.argv[2])
    ThreadingHTTPServer(("127.0.0.1", listen), Front).serve_forever()


if __name__ == "__main__":
    main()
