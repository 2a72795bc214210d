"""A local stand-in for Twilio's REST API, answering like Twilio at the HTTP boundary, so the real `twilio` client
(pointed here with TWILIO_API_BASE_URL) is exercised end to end. Used by tests (in a thread) and by bench/ (as a
process: `python -m tests.fake_twilio --port 8765 --delay-ms 20`).

Behaviour is scripted per request: "ok", ("error", http_status, code), ("hang", seconds) to provoke a read
timeout, ("accept_then_hang", seconds) to accept the message and then not answer in time. Message creates and
call creates (`Calls.json`, for call backs) share the script. Run as a process, it is scripted over HTTP:
`POST /_fake/script` with `{"behaviours": ["ok", ["error", 429, 20429], ["hang", 5]]}` appends to the script and
`POST /_fake/reset` forgets every request, message, call and scripted behaviour.
"""

import argparse
import base64
import contextlib
import json
import secrets
import threading
import time
from collections import deque
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

PNG_1PX = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
)


class FakeTwilio:
    def __init__(self, host: str = "127.0.0.1", port: int = 0, delay: float = 0.0):
        self.delay = delay
        self.lock = threading.Lock()
        self.requests: list[dict] = []  # every accepted or refused message create, in arrival order
        self.accepted: list[dict] = []  # messages Twilio "has"
        self.calls: list[dict] = []  # every call create (a call back ringing a member's phone), in arrival order
        self.script: deque = deque()
        self.server = ThreadingHTTPServer((host, port), self._handler())
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> "FakeTwilio":
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def then(self, *behaviours) -> None:
        with self.lock:
            self.script.extend(behaviours)

    def reset(self) -> None:
        with self.lock:
            self.requests.clear()
            self.accepted.clear()
            self.calls.clear()
            self.script.clear()

    def _next(self):
        with self.lock:
            return self.script.popleft() if self.script else "ok"

    def _handler(self):
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # quiet
                pass

            def _json(self, status: int, payload: dict) -> None:
                body = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _account(self) -> str | None:
                header = self.headers.get("Authorization", "")
                if not header.startswith("Basic "):
                    return None
                user, _, _ = base64.b64decode(header[6:]).decode().partition(":")
                return user

            def _control(self, path: str, raw: bytes) -> None:
                """The test-only control endpoints, for a fake running in another process."""
                if path == "/_fake/reset":
                    fake.reset()
                else:
                    # JSON has no tuples: ["error", 500, 20500] is the behaviour ("error", 500, 20500)
                    behaviours = json.loads(raw or b"{}").get("behaviours", [])
                    fake.then(*(tuple(b) if isinstance(b, list) else b for b in behaviours))
                self.send_response(204)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def do_POST(self):
                received = time.time()
                parts = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                if parts.path in ("/_fake/script", "/_fake/reset"):
                    return self._control(parts.path, self.rfile.read(length))
                form = parse_qs(self.rfile.read(length).decode(), keep_blank_values=True)
                segments = parts.path.strip("/").split("/")
                if len(segments) == 4 and segments[3] == "Calls.json" and segments[2] == self._account():
                    return self._create_call(segments[2], parts.path, form)
                if len(segments) != 4 or segments[3] != "Messages.json" or segments[2] != self._account():
                    return self._json(401, {"code": 20003, "message": "Authenticate", "status": 401})
                record = {
                    "account_sid": segments[2],
                    "To": form.get("To", [""])[0],
                    "From": form.get("From", [""])[0],
                    "Body": form.get("Body", [""])[0],
                    "StatusCallback": form.get("StatusCallback", [""])[0],
                    "ValidityPeriod": form.get("ValidityPeriod", [""])[0],
                    "MediaUrl": form.get("MediaUrl", []),
                    "received_at": received,
                }
                behaviour = fake._next()
                with fake.lock:
                    fake.requests.append(record)
                if fake.delay:
                    time.sleep(fake.delay)
                if isinstance(behaviour, tuple) and behaviour[0] == "error":
                    _, status, code = behaviour
                    return self._json(status, {"code": code, "message": f"Fake error {code}", "status": status})
                if isinstance(behaviour, tuple) and behaviour[0] == "hang":
                    time.sleep(behaviour[1])
                    return self._json(503, {"code": 20500, "message": "late", "status": 503})
                sid = "SM" + secrets.token_hex(16)
                now = formatdate(usegmt=True)
                message = {
                    "sid": sid,
                    "account_sid": segments[2],
                    "to": record["To"],
                    "from": record["From"],
                    "body": record["Body"],
                    "status": "queued",
                    "num_segments": "1",
                    "direction": "outbound-api",
                    "date_created": now,
                    "date_updated": now,
                    "date_sent": None,
                    "error_code": None,
                    "error_message": None,
                    "api_version": "2010-04-01",
                    "price": None,
                    "uri": f"{parts.path}/{sid}",
                }
                with fake.lock:
                    record["sid"] = sid
                    fake.accepted.append(message)
                if isinstance(behaviour, tuple) and behaviour[0] == "accept_then_hang":
                    time.sleep(behaviour[1])
                return self._json(201, message)

            def _create_call(self, account_sid: str, path: str, form: dict) -> None:
                """POST /2010-04-01/Accounts/{AccountSid}/Calls.json: answers 201 with a queued call, or a scripted
                error. Only records the request: no status callbacks are sent (tests replay those themselves)."""
                record = {
                    "account_sid": account_sid,
                    **{
                        name: form.get(name, [""])[0]
                        for name in ("To", "From", "Url", "Method", "StatusCallback", "StatusCallbackMethod", "Timeout")
                    },
                    "StatusCallbackEvent": form.get("StatusCallbackEvent", []),
                }
                behaviour = fake._next()
                with fake.lock:
                    fake.calls.append(record)
                if isinstance(behaviour, tuple) and behaviour[0] == "error":
                    _, status, code = behaviour
                    return self._json(status, {"code": code, "message": f"Fake error {code}", "status": status})
                if isinstance(behaviour, tuple) and behaviour[0] == "hang":
                    time.sleep(behaviour[1])
                    return self._json(503, {"code": 20500, "message": "late", "status": 503})
                sid = "CA" + secrets.token_hex(16)
                with fake.lock:
                    record["sid"] = sid
                now = formatdate(usegmt=True)
                return self._json(
                    201,
                    {
                        "sid": sid,
                        "account_sid": account_sid,
                        "to": record["To"],
                        "from": record["From"],
                        "status": "queued",
                        "direction": "outbound-api",
                        "api_version": "2010-04-01",
                        "date_created": now,
                        "date_updated": now,
                        "start_time": None,
                        "end_time": None,
                        "duration": None,
                        "price": None,
                        "uri": f"{path[: -len('.json')]}/{sid}.json",
                    },
                )

            def do_GET(self):
                parts = urlsplit(self.path)
                query = parse_qs(parts.query)
                if parts.path == "/_fake/requests":
                    with fake.lock:
                        return self._json(200, {"requests": fake.requests})
                if "/Media/" in parts.path:
                    self.send_response(200)
                    self.send_header("Content-Type", "image/png")
                    self.send_header("Content-Length", str(len(PNG_1PX)))
                    self.end_headers()
                    self.wfile.write(PNG_1PX)
                    return None
                if parts.path.endswith("/Messages.json"):
                    to, from_ = query.get("To", [None])[0], query.get("From", [None])[0]
                    with fake.lock:
                        found = [
                            m
                            for m in fake.accepted
                            if (to is None or m["to"] == to) and (from_ is None or m["from"] == from_)
                        ]
                    return self._json(
                        200,
                        {
                            "messages": found,
                            "end": len(found),
                            "first_page_uri": parts.path,
                            "next_page_uri": None,
                            "page": 0,
                            "page_size": 50,
                            "previous_page_uri": None,
                            "start": 0,
                            "uri": parts.path,
                        },
                    )
                return self._json(404, {"code": 20404, "message": "Not found", "status": 404})

        return Handler


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--delay-ms", type=float, default=0.0)
    args = parser.parse_args()
    fake = FakeTwilio(args.host, args.port, delay=args.delay_ms / 1000)
    print(f"fake Twilio API on {fake.base_url}", flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        fake.server.serve_forever()


if __name__ == "__main__":
    main()
