"""color: the walkthrough's colour service.

Listens on 0.0.0.0:8080. GET /ping answers 200; any other GET answers 200 with the body $COLOR.
"""
import os
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

COLOR = os.environ.get("COLOR", "no color!")
PORT = int(os.environ.get("PORT", "8080"))


class Color(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        body = b"pong\n" if self.path == "/ping" else COLOR.encode()
        self.send_response(200)
        self.send_header("content-type", "text/plain")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, fmt, *args):
        print(f"{self.address_string()} {fmt % args}", flush=True)


if __name__ == "__main__":
    print(f"color {COLOR} listening on :{PORT}", flush=True)
    ThreadingHTTPServer(("0.0.0.0", PORT), Color).serve_forever()
