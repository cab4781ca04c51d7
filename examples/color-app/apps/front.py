"""front: the walkthrough's front service.

Listens on 0.0.0.0:8080. GET /ping answers 200. Any other GET calls http://$COLOR_HOST/, forwarding
only the `color_header` request header, and answers with that call's status and body (an error
status from the color service, or from the mesh, is passed through).
"""
import http.client
import os
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

COLOR_HOST = os.environ.get("COLOR_HOST", "color.howto-k8s-mtls-sds-based.svc.cluster.local:8080")
PORT = int(os.environ.get("PORT", "8080"))


class Front(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def _answer(self, status, body):
        self.send_response(status)
        self.send_header("content-type", "text/plain")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        if self.path == "/ping":
            return self._answer(200, b"pong\n")
        headers = {}
        if self.headers.get("color_header") is not None:
            headers["color_header"] = self.headers["color_header"]
        host, _, port = COLOR_HOST.partition(":")
        conn = http.client.HTTPConnection(host, int(port or 80), timeout=15)
        try:
            conn.request("GET", "/", headers=headers)
            res = conn.getresponse()
            self._answer(res.status, res.read())
        except OSError as err:
            self._answer(502, f"front: calling {COLOR_HOST}: {err}\n".encode())
        finally:
            conn.close()

    def log_message(self, fmt, *args):
        print(f"{self.address_string()} {fmt % args}", flush=True)


if __name__ == "__main__":
    print(f"front listening on :{PORT}, color at {COLOR_HOST}", flush=True)
    ThreadingHTTPServer(("0.0.0.0", PORT), Front).serve_forever()
