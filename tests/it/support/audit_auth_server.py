"""Test servers that demand a sign-in, for the audit tests.

  smtp     a real aiosmtpd (Controller) with an authenticator: STARTTLS
           required before AUTH when --cert/--key are given, AUTH over plain
           loopback otherwise. Prints one JSON line per AUTH attempt and per
           message received (never a password).
  esproxy  a loopback HTTP front for an OpenSearch-compatible server: every
           request needs `Authorization: Basic` with --user/--password or
           `Authorization: ApiKey` with --api-key; others get 401 with an
           Elasticsearch-shaped error. Accepted requests are forwarded to
           --upstream. Prints one JSON line per refused request.

Both print `READY` once they listen, then run until killed.
"""

import argparse
import base64
import hmac
import http.client
import json
import ssl
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

LOCK = threading.Lock()


def say(obj):
    with LOCK:
        sys.stdout.write(json.dumps(obj) + "\n")
        sys.stdout.flush()


def smtp(args):
    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import AuthResult, LoginPassword

    user = args.user.encode()
    password = args.password.encode()

    def authenticator(server, session, envelope, mechanism, auth_data):
        ok = (
            isinstance(auth_data, LoginPassword)
            and hmac.compare_digest(auth_data.login, user)
            and hmac.compare_digest(auth_data.password, password)
        )
        login = auth_data.login.decode(errors="replace") if isinstance(auth_data, LoginPassword) else None
        say({"event": "auth", "mechanism": mechanism, "login": login, "ok": ok,
             "tls": session.ssl is not None})
        # handled=False: aiosmtpd answers 535 itself on failure.
        return AuthResult(success=ok, handled=False, auth_data=login if ok else None)

    class Recorder:
        async def handle_DATA(self, server, session, envelope):
            say({
                "event": "message",
                "login": session.auth_data if session.authenticated else None,
                "tls": session.ssl is not None,
                "from": envelope.mail_from,
                "to": envelope.rcpt_tos,
                "data": envelope.content.decode("utf-8", errors="replace"),
            })
            return "250 OK"

    tls = None
    if args.cert:
        tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        tls.load_cert_chain(args.cert, args.key)
    controller = Controller(
        Recorder(),
        hostname="127.0.0.1",
        port=args.port,
        authenticator=authenticator,
        auth_required=True,
        auth_require_tls=tls is not None,
        tls_context=tls,
        require_starttls=tls is not None,
    )
    controller.start()
    print("READY", flush=True)
    while True:
        time.sleep(3600)


def esproxy(args):
    upstream = args.upstream
    accepted = []
    if args.user is not None:
        pair = f"{args.user}:{args.password}".encode()
        accepted.append("Basic " + base64.b64encode(pair).decode())
    if args.api_key is not None:
        accepted.append("ApiKey " + args.api_key)

    class Front(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *a):
            pass

        def body(self):
            if self.headers.get("transfer-encoding", "").lower() == "chunked":
                out = b""
                while True:
                    size = int(self.rfile.readline().strip().split(b";")[0], 16)
                    if size == 0:
                        self.rfile.readline()
                        return out
                    out += self.rfile.read(size)
                    self.rfile.readline()
            return self.rfile.read(int(self.headers.get("content-length") or 0))

        def reply(self, status, headers, data):
            self.send_response(status)
            for k, v in headers:
                if k.lower() not in ("content-length", "transfer-encoding", "connection"):
                    self.send_header(k, v)
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)

        def handle_any(self):
            data = self.body()
            given = self.headers.get("authorization")
            read_only = args.read_only_key is not None and given is not None and \
                hmac.compare_digest(given, "ApiKey " + args.read_only_key)
            searching = self.command in ("GET", "HEAD") or any(
                part in self.path for part in ("/_search", "/_count"))
            if read_only and not searching:
                say({"event": "forbidden", "method": self.command, "path": self.path})
                reason = ("action [indices:data/write/bulk] is unauthorized for API key "
                          "id [read-only] of user [windflow-reader]")
                err = {
                    "error": {
                        "root_cause": [{"type": "security_exception", "reason": reason}],
                        "type": "security_exception",
                        "reason": reason,
                    },
                    "status": 403,
                }
                self.reply(403, [("content-type", "application/json")], json.dumps(err).encode())
                return
            if not read_only and (given is None or not any(hmac.compare_digest(given, a) for a in accepted)):
                scheme = given.split(" ", 1)[0] if given else None
                say({"event": "refused", "method": self.command, "path": self.path, "scheme": scheme})
                reason = (
                    "missing authentication credentials for REST request [%s]" % self.path
                    if given is None
                    else "unable to authenticate with provided credentials for REST request [%s]" % self.path
                )
                err = {
                    "error": {
                        "root_cause": [{"type": "security_exception", "reason": reason}],
                        "type": "security_exception",
                        "reason": reason,
                    },
                    "status": 401,
                }
                self.reply(401, [("content-type", "application/json"),
                                 ("www-authenticate", 'Basic realm="security", charset="UTF-8"'),
                                 ("www-authenticate", "ApiKey")],
                           json.dumps(err).encode())
                return
            headers = {k: v for k, v in self.headers.items()
                       if k.lower() not in ("authorization", "host", "connection", "transfer-encoding")}
            headers["content-length"] = str(len(data))
            conn = http.client.HTTPConnection(upstream, timeout=30)
            try:
                conn.request(self.command, self.path, body=data, headers=headers)
                resp = conn.getresponse()
                self.reply(resp.status, resp.getheaders(), resp.read())
            finally:
                conn.close()

        do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = handle_any

    server = ThreadingHTTPServer(("127.0.0.1", args.port), Front)
    server.daemon_threads = True
    print("READY", flush=True)
    server.serve_forever()


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="mode", required=True)
    s = sub.add_parser("smtp")
    s.add_argument("--port", type=int, required=True)
    s.add_argument("--user", required=True)
    s.add_argument("--password", required=True)
    s.add_argument("--cert")
    s.add_argument("--key")
    e = sub.add_parser("esproxy")
    e.add_argument("--port", type=int, required=True)
    e.add_argument("--upstream", required=True, help="host:port of the real server")
    e.add_argument("--user")
    e.add_argument("--password", default="")
    e.add_argument("--api-key")
    e.add_argument("--read-only-key", help="an API key that may search but not write (403)")
    args = p.parse_args()
    {"smtp": smtp, "esproxy": esproxy}[args.mode](args)


if __name__ == "__main__":
    main()
