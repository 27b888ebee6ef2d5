#!/usr/bin/env python3
"""Serves the upload page on 127.0.0.1 and forwards its API calls to the API, same-origin.

The API answers no CORS preflight (API Gateway's HttpApi has no CORS configuration, nor has
`cargo lambda watch` here), so the page calls it through this server: `/v1/…` and
`/openapi.json` are forwarded to --api as they come. Presigned PUTs go from the browser
straight to S3 (cross-origin, allowed by the bucket's CORS rule). Also served: the page
(index.html, app.js, style.css beside this file), Uppy's prebuilt bundle from --uppy-dist,
and /config.json with the bucket, namespace and API key the page starts with.

    python3 tools/upload-page/serve.py --api http://127.0.0.1:9000 \
        --uppy-dist .local/upload-page/node_modules/uppy/dist [--port 0] [--port-file F]

--bucket, --namespace and --api-key default to $UPLOADS_BUCKET, $UPLOADS_NAMESPACE and
$UPLOADS_API_KEY (the names .local/dev.env holds). Prints the page's address on stdout.
"""

import argparse
import http.client
import http.server
import json
import os
import sys
import urllib.parse
from pathlib import Path

HERE = Path(__file__).resolve().parent
PAGE_FILES = {
    "/": ("index.html", "text/html; charset=utf-8"),
    "/index.html": ("index.html", "text/html; charset=utf-8"),
    "/app.js": ("app.js", "text/javascript; charset=utf-8"),
    "/style.css": ("style.css", "text/css; charset=utf-8"),
}
UPPY_FILES = {
    "/uppy/uppy.min.mjs": "text/javascript; charset=utf-8",
    "/uppy/uppy.min.css": "text/css; charset=utf-8",
    "/uppy/uppy.min.mjs.map": "application/json",
}
# Not forwarded either way: they describe one connection, not the request.
HOP_BY_HOP = {
    "connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailer",
    "transfer-encoding", "upgrade", "host", "content-length",
}


def handler(args):
    api = urllib.parse.urlsplit(args.api)
    connection_class = http.client.HTTPSConnection if api.scheme == "https" else http.client.HTTPConnection
    config = json.dumps({"bucket": args.bucket, "namespace": args.namespace, "apiKey": args.api_key}).encode()

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self):
            path = urllib.parse.urlsplit(self.path).path
            if self.is_api(path):
                return self.forward()
            if path in PAGE_FILES:
                name, content_type = PAGE_FILES[path]
                return self.send(200, content_type, (HERE / name).read_bytes())
            if path in UPPY_FILES:
                return self.send(200, UPPY_FILES[path], (Path(args.uppy_dist) / path[len("/uppy/"):]).read_bytes())
            if path == "/config.json":
                return self.send(200, "application/json", config)
            self.send(404, "text/plain", b"not found\n")

        def do_POST(self):
            self.forward_or_404()

        def do_PUT(self):
            self.forward_or_404()

        def do_DELETE(self):
            self.forward_or_404()

        def do_PATCH(self):
            self.forward_or_404()

        @staticmethod
        def is_api(path):
            return path.startswith("/v1/") or path == "/openapi.json"

        def forward_or_404(self):
            if self.is_api(urllib.parse.urlsplit(self.path).path):
                return self.forward()
            self.send(404, "text/plain", b"not found\n")

        def forward(self):
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else None
            headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
            connection = connection_class(api.hostname, api.port, timeout=args.timeout)
            try:
                connection.request(self.command, api.path.rstrip("/") + self.path, body=body, headers=headers)
                response = connection.getresponse()
                payload = response.read()
            except OSError as err:
                return self.send(502, "text/plain", f"the API at {args.api} did not answer: {err}\n".encode())
            finally:
                connection.close()
            self.send_response(response.status)
            for name, value in response.getheaders():
                if name.lower() not in HOP_BY_HOP:
                    self.send_header(name, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def send(self, status, content_type, payload):
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(payload)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format, *log_args):
            sys.stderr.write(f"{self.address_string()} {format % log_args}\n")

    return Handler


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--api", default=os.environ.get("UPLOADS_API_URL"), help="the API's address (default $UPLOADS_API_URL)")
    parser.add_argument("--uppy-dist", required=True, help="the uppy package's dist/ directory")
    parser.add_argument("--port", type=int, default=0, help="0 (the default) picks a free one")
    parser.add_argument("--port-file", help="where to write the port once listening")
    parser.add_argument("--bucket", default=os.environ.get("UPLOADS_BUCKET", ""))
    parser.add_argument("--namespace", default=os.environ.get("UPLOADS_NAMESPACE", ""))
    parser.add_argument("--api-key", default=os.environ.get("UPLOADS_API_KEY", ""))
    parser.add_argument("--timeout", type=float, default=120, help="seconds to wait for the API")
    args = parser.parse_args()
    if not args.api:
        parser.error("--api (or $UPLOADS_API_URL) is required")
    if not (Path(args.uppy_dist) / "uppy.min.mjs").is_file():
        parser.error(f"no uppy.min.mjs in {args.uppy_dist}")

    server = http.server.ThreadingHTTPServer(("127.0.0.1", args.port), handler(args))
    port = server.server_address[1]
    if args.port_file:
        Path(args.port_file).write_text(f"{port}\n")
    print(f"upload page: http://127.0.0.1:{port}/ (API {args.api})", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
