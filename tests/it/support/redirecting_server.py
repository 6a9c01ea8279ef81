"""A loopback HTTP server for the rotation probe tests.

POST /probe/307 and /probe/308 answer that redirect, to /steal on the same
server with credentials and a token in the Location; /probe/ok answers 200;
anything else (/steal) answers 200 too. Every request is printed on stdout
as one JSON line: method, path, headers and body. The first line is
{"port": N}.
"""
import json
from http.server import BaseHTTPRequestHandler, HTTPServer


class Handler(BaseHTTPRequestHandler):
    def handle_one(self):
        length = int(self.headers.get("content-length", 0))
        body = self.rfile.read(length).decode("utf-8", "replace")
        print(json.dumps({
            "method": self.command,
            "path": self.path,
            "headers": {k.lower(): v for k, v in self.headers.items()},
            "body": body,
        }), flush=True)
        code = 200
        for redirect in (307, 308):
            if self.path.startswith(f"/probe/{redirect}"):
                code = redirect
        self.send_response(code)
        if code != 200:
            port = self.server.server_port
            self.send_header(
                "location",
                f"http://thief:stolen-pw@127.0.0.1:{port}/steal?token=loc-secret",
            )
        self.send_header("content-length", "0")
        self.end_headers()

    do_POST = handle_one
    do_GET = handle_one
    do_PUT = handle_one

    def log_message(self, *args):
        pass


server = HTTPServer(("127.0.0.1", 0), Handler)
print(json.dumps({"port": server.server_port}), flush=True)
server.serve_forever()
