"""A small real HTTP app for the sidecar tests: ``python meshapp.py NAME PORT OUTBOUND``.

``GET /anything`` answers JSON ``{"service", "path", "xfcc"}`` (what its sidecar forwarded);
``GET /call/<service>/<path>`` calls ``http://<service>/<path>`` through this app's sidecar
outbound (as ``HTTP_PROXY``) and answers ``{"status", "body"}`` of that call; a request header
``x-forge-xfcc`` is sent on as a forged ``x-forwarded-client-cert``.
"""

import json
import sys
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

NAME, PORT, OUTBOUND = sys.argv[1], int(sys.argv[2]), sys.argv[3]
OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({"http": f"http://{OUTBOUND}"}))


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def _send(self, status, doc):
        body = json.dumps(doc).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        if self.path.startswith("/call/"):
            _, _, service, rest = self.path.split("/", 3)
            req = urllib.request.Request(f"http://{service}/{rest}")
            forged = self.headers.get("x-forge-xfcc")
            if forged:
                req.add_header("x-forwarded-client-cert", forged)
            try:
                with OPENER.open(req, timeout=10) as resp:
                    status, body = resp.status, resp.read().decode("latin-1")
            except urllib.error.HTTPError as exc:
                status, body = exc.code, exc.read().decode("latin-1")
            except OSError as exc:
                status, body = 599, repr(exc)
            return self._send(200, {"status": status, "body": body})
        self._send(
            200,
            {
                "service": NAME,
                "path": self.path,
                "xfcc": self.headers.get_all("x-forwarded-client-cert"),
            },
        )


ThreadingHTTPServer.daemon_threads = True
server = ThreadingHTTPServer(("127.0.0.1", PORT), Handler)
print(f"app {NAME} on {PORT}", flush=True)
server.serve_forever()
