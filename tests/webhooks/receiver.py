#!/usr/bin/env python3
"""A webhook receiver that verifies every delivery with the reference `standardwebhooks`
package, as an integrator's would; driven by tests/api/webhooks.rs over stdin and stdout.

stdout, one line each:
    LISTENING <url>                  once, when it accepts deliveries
    OK                               after each command below was applied
    DELIVERY <json>                  per request: {"webhookId", "signatures" (how many the
                                     header has), "verified": [one per secret: true, or the
                                     library's error], "status" (the answer), "body"}
stdin, one command a line:
    SECRETS <whsec_…> [<whsec_…> …]  verify each delivery with each of these, separately:
                                     during a rotation both must verify
    FAIL <n>                         answer the next n deliveries 500 (they are sent again)
A delivery is answered 204 when every secret verifies it (400 otherwise). stdin closing ends it.
"""

from __future__ import annotations

import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from standardwebhooks import Webhook

LOCK = threading.Lock()
SECRETS: list[str] = []
FAILS = [0]


def say(line: str) -> None:
    with LOCK:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()


class Handler(BaseHTTPRequestHandler):
    def do_POST(self) -> None:  # noqa: N802 (the standard library's name)
        body = self.rfile.read(int(self.headers.get("content-length", "0")))
        headers = {k: v for k, v in self.headers.items()}
        with LOCK:
            secrets = list(SECRETS)
        verified: list[object] = []
        for secret in secrets:
            try:
                Webhook(secret).verify(body, headers)
                verified.append(True)
            except Exception as e:  # the library's verdict, reported as is
                verified.append(f"{type(e).__name__}: {e}")
        ok = bool(secrets) and all(v is True for v in verified)
        with LOCK:
            status = 204 if ok else 400
            if FAILS[0] > 0:
                FAILS[0] -= 1
                status = 500
        report = {
            "webhookId": headers.get("webhook-id"),
            "signatures": len(headers.get("webhook-signature", "").split()),
            "verified": verified,
            "status": status,
            "body": body.decode("utf-8", "replace"),
        }
        say("DELIVERY " + json.dumps(report))
        self.send_response(status)
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass  # stdout is the protocol; nothing else goes there


def main() -> int:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    say(f"LISTENING http://127.0.0.1:{server.server_address[1]}/hooks")
    for line in sys.stdin:
        words = line.split()
        if not words:
            continue
        with LOCK:
            if words[0] == "SECRETS":
                SECRETS[:] = words[1:]
            elif words[0] == "FAIL":
                FAILS[0] += int(words[1])
            else:
                print(f"receiver: unknown command {words[0]!r}", file=sys.stderr, flush=True)
                return 2
        say("OK")
    server.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
