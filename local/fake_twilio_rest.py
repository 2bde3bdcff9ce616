"""A small local stand-in for Twilio's REST API (Calls resource only), over real HTTP.

It records every request (method, path, form fields with repeats, basic-auth user) and answers
with Twilio-shaped JSON, or with a Twilio error document when ``fail_with`` is set. The one Twilio
REST fake of the tests (control plane and stream host alike); the local stack's full emulator is
`local.twilio_emulator`.
"""

from __future__ import annotations

import base64
import itertools
import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs


@dataclass
class RecordedRequest:
    method: str
    path: str
    form: dict[str, list[str]]
    account: str


__all__ = ["FakeTwilioRest", "RecordedRequest"]


@dataclass
class FakeTwilioRest:
    requests: list[RecordedRequest] = field(default_factory=list)
    fail_with: tuple[int, int, str] | None = None  # (http status, twilio code, message)
    # What an update of an existing call (POST /Calls/{Sid}.json) reports as the call's status.
    updated_call_status: str = "completed"
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    server: ThreadingHTTPServer | None = None

    @property
    def base_url(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    @property
    def calls_created(self) -> list[RecordedRequest]:
        return [r for r in self.requests if r.method == "POST" and r.path.endswith("/Calls.json")]

    def start(self) -> FakeTwilioRest:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                form = parse_qs(self.rfile.read(length).decode(), keep_blank_values=True)
                auth = self.headers.get("Authorization", "")
                account = (
                    base64.b64decode(auth.split(" ", 1)[1]).decode().split(":")[0] if " " in auth else ""
                )
                fake.requests.append(RecordedRequest("POST", self.path, form, account))
                if fake.fail_with is not None:
                    status, code, message = fake.fail_with
                    body = {
                        "code": code,
                        "message": message,
                        "more_info": f"https://www.twilio.com/docs/errors/{code}",
                        "status": status,
                    }
                    return self._send(status, body)
                updating = not self.path.endswith("/Calls.json")
                sid = (
                    self.path.rsplit("/", 1)[1].removesuffix(".json")
                    if updating
                    else f"CA{next(fake._ids):032x}"
                )
                account_sid = self.path.split("/")[3]
                body = {
                    "sid": sid,
                    "account_sid": account_sid,
                    "to": form.get("To", [""])[0],
                    "from": form.get("From", [""])[0],
                    "status": fake.updated_call_status if updating else "queued",
                    "direction": "outbound-api",
                    "api_version": "2010-04-01",
                    "uri": f"/2010-04-01/Accounts/{account_sid}/Calls/{sid}.json",
                }
                self._send(201, body)

            def _send(self, status: int, body: dict[str, Any]) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
