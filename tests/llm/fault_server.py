"""A small OpenAI-compatible chat server on 127.0.0.1 that misbehaves on purpose.

Each chat request takes the next fault from a script (then ``default``):

* ``ok``: a chat.completion — a canned reply, or the ``upstream`` server's reply (a proxy);
* ``429:<s>``: Too Many Requests with ``Retry-After: <s>``;
* ``500``, ``503``, ``400``: that status with an OpenAI-style error body;
* ``echo:<status>``: that status with an error body that quotes the request's Authorization
  header, as careless servers and proxies do (the key must not travel further);
* ``slow:<s>``: waits ``s`` seconds, then ``ok``;
* ``truncated``: status 200, ``application/json``, but the body is cut in half;
* ``reset``: closes the connection without answering.

It records every request (path, time, headers, parsed body) and the most requests it held at
once. Run it as a process (``python tests/llm/fault_server.py --port P``) to kill it for real.
"""

from __future__ import annotations

import argparse
import base64
import json
import socket
import threading
import time
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

CANNED = ("The photograph shows a calm scene in soft daylight, with muted colours and a plain "
          "background; the main subject stands near the middle of the frame.")


class FaultServer:
    def __init__(self, faults=(), default: str = "ok", model: str = "canned-model",
                 reply: str = CANNED, upstream: str | None = None, models_route: bool = True,
                 port: int = 0):
        self.script = list(faults)
        self.default = default
        self.model = model
        self.reply = reply
        self.upstream = upstream.rstrip("/") if upstream else None
        self.models_route = models_route
        self.requests: list[dict] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self.lock = threading.Lock()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", port), _handler(self))
        self.httpd.daemon_threads = True
        self.thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return self.httpd.server_address[1]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def chat_requests(self) -> list[dict]:
        return [r for r in self.requests if r["path"].endswith("/chat/completions")]

    def next_fault(self) -> str:
        with self.lock:
            return self.script.pop(0) if self.script else self.default

    def __enter__(self) -> FaultServer:
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def completion(self, body: dict) -> bytes:
        if self.upstream:
            request = urllib.request.Request(
                f"{self.upstream}/chat/completions", data=json.dumps(body).encode(),
                headers={"Content-Type": "application/json"})
            with urllib.request.urlopen(request, timeout=600) as response:
                return response.read()
        words = self.reply.split()[: body.get("max_tokens") or 10**6]
        return json.dumps({
            "id": "chatcmpl-test", "object": "chat.completion", "created": 0,
            "model": body.get("model", self.model),
            "choices": [{"index": 0, "finish_reason": "stop",
                         "message": {"role": "assistant", "content": " ".join(words)}}],
            "usage": {"prompt_tokens": 10, "completion_tokens": len(words),
                      "total_tokens": 10 + len(words)},
        }).encode()


def _handler(server: FaultServer):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):  # quiet
            pass

        def _send(self, status: int, body: bytes, headers: dict | None = None,
                  length: int | None = None) -> None:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body) if length is None else length))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body)

        def _error(self, status: int, message: str, headers: dict | None = None) -> None:
            self._send(status, json.dumps({"error": {"message": message, "type": "test",
                                                     "code": status}}).encode(), headers)

        def _record(self, body) -> None:
            server.requests.append({"path": self.path, "time": time.monotonic(), "body": body,
                                    "headers": {k.lower(): v for k, v in self.headers.items()}})

        def do_GET(self):
            self._record(None)
            if self.path.rstrip("/").endswith("/models") and server.models_route:
                self._send(200, json.dumps({"object": "list", "data": [
                    {"id": server.model, "object": "model", "owned_by": "test"}]}).encode())
            else:
                self._error(404, f"no route {self.path}")

        def do_POST(self):
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            body = json.loads(raw or b"{}")
            self._record(body)
            if not self.path.rstrip("/").endswith("/chat/completions"):
                return self._error(404, f"no route {self.path}")
            if body.get("model") != server.model:
                return self._error(404, f"model {body.get('model')!r} not found")
            with server.lock:
                server.in_flight += 1
                server.max_in_flight = max(server.max_in_flight, server.in_flight)
            try:
                self._answer(server.next_fault(), body)
            finally:
                with server.lock:
                    server.in_flight -= 1

        def _answer(self, fault: str, body: dict) -> None:
            kind, _, arg = fault.partition(":")
            if kind == "429":
                return self._error(429, "rate limited", {"Retry-After": arg or "1"})
            if kind in ("400", "500", "503"):
                return self._error(int(kind), f"injected {kind}")
            if kind == "echo":
                return self._error(int(arg or 500), _echo(self.headers.get("Authorization")))
            if kind == "reset":
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)
                return None
            if kind == "slow":
                time.sleep(float(arg))
            try:
                payload = server.completion(body)
            except urllib.error.HTTPError as e:
                return self._send(e.code, e.read())
            if kind == "truncated":
                payload = payload[: len(payload) // 2]
            return self._send(200, payload)

    return Handler


def _echo(header: str | None) -> str:
    """An error message quoting the credentials every way a server might: the header, the bare
    token, and for Basic auth the decoded user:password."""
    scheme, _, token = (header or "").partition(" ")
    text = f"invalid credentials in header 'Authorization: {header}' (token {token})"
    if scheme.lower() == "basic":
        text += f" (user:password {base64.b64decode(token).decode(errors='replace')})"
    return text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--model", default="canned-model")
    parser.add_argument("--default", default="ok")
    parser.add_argument("--upstream")
    args = parser.parse_args()
    server = FaultServer(default=args.default, model=args.model, upstream=args.upstream,
                         port=args.port)
    print(f"listening on {server.url}", flush=True)
    server.httpd.serve_forever()


if __name__ == "__main__":
    main()
