"""A stand-in for the front door of an Amazon OpenSearch Service domain with IAM access
control, for the integration tests (tests/opensearch.rs).

Every request must carry an AWS Signature Version 4 for service `es` and the proxy's region,
made with credentials it knows. The proxy recomputes the signature with botocore's own SigV4
implementation (botocore.auth.SigV4Auth) over the method, path, query, the signed headers and
the body exactly as received (gzip bodies included), and checks X-Amz-Content-Sha256 against
the body. A request that is unsigned, signed with a wrong secret, for another region or
service, with a missing or wrong session token, with expired credentials or with a clock off
by more than five minutes is refused with 403 and a JSON message, as AWS does. Accepted
requests are forwarded to the upstream node without the signing headers.

It can also stand in for the ECS/Lambda container credentials endpoint (GET /credentials),
handing out fresh temporary credentials that expire after --lifetime seconds; those are
accepted until they expire, so a client that never refreshes is refused once they do.

Usage:
  python sigv4_proxy.py --upstream http://127.0.0.1:9200 --region us-east-1 \
      --key AKID:SECRET[:SESSION_TOKEN] ... [--lifetime SECONDS] [--bulk-delay SECONDS] \
      --log requests.jsonl
It prints `listening PORT` on stdout when ready. Each request is logged as one JSON line:
method, path, key id, verdict ("ok" or the reason), status, content-encoding, body length.
"""

import argparse
import datetime
import hashlib
import hmac
import http.client
import http.server
import itertools
import json
import re
import secrets
import sys
import threading
import time
import urllib.parse

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

AUTH_RE = re.compile(
    r"^AWS4-HMAC-SHA256 Credential=(?P<key>[^/]+)/(?P<date>\d{8})/(?P<region>[^/]+)/"
    r"(?P<service>[^/]+)/aws4_request, ?SignedHeaders=(?P<signed>[a-z0-9;-]+), ?"
    r"Signature=(?P<signature>[0-9a-f]{64})$"
)
MAX_SKEW = datetime.timedelta(minutes=5)
HOP_HEADERS = {"connection", "keep-alive", "transfer-encoding", "host", "content-length"}


class Keys:
    """The credentials the proxy accepts: fixed ones and those it issued (until expiry)."""

    def __init__(self, fixed):
        self.lock = threading.Lock()
        self.known = {}  # key id -> (secret, token or None, expiry datetime or None)
        for spec in fixed:
            parts = spec.split(":")
            self.known[parts[0]] = (parts[1], parts[2] if len(parts) > 2 else None, None)
        self.serial = itertools.count()

    def issue(self, lifetime, accepted_for=0):
        """Temporary credentials advertised to expire after `lifetime` seconds; refused after
        `accepted_for` seconds when that is set (a compressed clock: a client that keeps
        them past its own refresh point is refused within the test's time)."""
        now = datetime.datetime.now(datetime.timezone.utc)
        expiry = now + datetime.timedelta(seconds=lifetime)
        refused_from = now + datetime.timedelta(seconds=accepted_for) if accepted_for else expiry
        key = f"ASIATEMP{next(self.serial):08d}"
        secret = secrets.token_hex(20)
        token = secrets.token_hex(32)
        with self.lock:
            self.known[key] = (secret, token, refused_from)
        return {
            "AccessKeyId": key,
            "SecretAccessKey": secret,
            "Token": token,
            "Expiration": expiry.strftime("%Y-%m-%dT%H:%M:%SZ"),
        }

    def get(self, key):
        with self.lock:
            return self.known.get(key)


def verify(method, raw_path, headers, body, keys, region, service):
    """Returns (key id, None) when the request's signature holds, else (key id, reason)."""
    auth = headers.get("authorization")
    if not auth:
        return None, "Missing Authentication Token"
    match = AUTH_RE.match(auth)
    if not match:
        return None, "Authorization header is not AWS4-HMAC-SHA256"
    key = match["key"]
    known = keys.get(key)
    if known is None:
        return key, "The security token included in the request is invalid (unknown key)"
    secret, token, expiry = known
    if match["region"] != region or match["service"] != service:
        return key, f"Credential should be scoped to {region}/{service}"
    if token is not None and headers.get("x-amz-security-token") != token:
        return key, "The security token included in the request is invalid (session token)"
    now = datetime.datetime.now(datetime.timezone.utc)
    if expiry is not None and now >= expiry:
        return key, "The security token included in the request is expired"
    stamp = headers.get("x-amz-date", "")
    try:
        signed_at = datetime.datetime.strptime(stamp, "%Y%m%dT%H%M%SZ").replace(
            tzinfo=datetime.timezone.utc
        )
    except ValueError:
        return key, "X-Amz-Date is missing or malformed"
    if abs(now - signed_at) > MAX_SKEW or stamp[:8] != match["date"]:
        return key, "Signature expired or not yet current"
    signed = match["signed"].split(";")
    for required in ("host", "x-amz-date"):
        if required not in signed:
            return key, f"{required} is not signed"
    if token is not None and "x-amz-security-token" not in signed:
        return key, "x-amz-security-token is not signed"
    declared = headers.get("x-amz-content-sha256")
    if declared is not None and declared != hashlib.sha256(body).hexdigest():
        return key, "X-Amz-Content-Sha256 does not match the body"
    missing = [name for name in signed if name not in headers]
    if missing:
        return key, f"signed headers missing from the request: {missing}"

    # As the service does: the query's names and values are decoded, then encoded again the
    # canonical way (botocore does that for `params`; a query left in the URL it would take
    # as already canonical, which is the client's job, not the server's).
    path, _, query = raw_path.partition("?")
    request = AWSRequest(
        method=method,
        url=f"http://{headers['host']}{path}",
        data=body,
        headers={name: headers[name] for name in signed},
        params=urllib.parse.parse_qsl(query, keep_blank_values=True),
    )
    request.context["timestamp"] = stamp
    signer = SigV4Auth(Credentials(key, secret, token), service, region)
    canonical = signer.canonical_request(request)
    expected = signer.signature(signer.string_to_sign(request, canonical), request)
    if not hmac.compare_digest(expected, match["signature"]):
        return key, "The request signature we calculated does not match the signature you provided"
    return key, None


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--upstream", required=True)
    parser.add_argument("--region", required=True)
    parser.add_argument("--service", default="es")
    parser.add_argument("--key", action="append", default=[])
    parser.add_argument("--lifetime", type=float, default=0)
    parser.add_argument("--accepted-for", type=float, default=0)
    parser.add_argument("--bulk-delay", type=float, default=0)
    parser.add_argument("--log", required=True)
    args = parser.parse_args()

    upstream = urllib.parse.urlsplit(args.upstream)
    keys = Keys(args.key)
    log_lock = threading.Lock()

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *_):
            pass

        def record(self, **entry):
            with log_lock, open(args.log, "a", encoding="utf-8") as out:
                out.write(json.dumps(entry) + "\n")

        def answer(self, status, body, content_type="application/json", extra=()):
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            for name, value in extra:
                self.send_header(name, value)
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def handle_any(self):
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            if self.path == "/credentials" and args.lifetime > 0:
                issued = keys.issue(args.lifetime, args.accepted_for)
                self.record(method=self.command, path=self.path, key=issued["AccessKeyId"],
                            verdict="issued", status=200)
                self.answer(200, json.dumps(issued).encode())
                return
            headers = {name.lower(): value for name, value in self.headers.items()}
            key, refused = verify(self.command, self.path, headers, body, keys,
                                  args.region, args.service)
            entry = dict(method=self.command, path=self.path, key=key,
                         encoding=headers.get("content-encoding"), body_bytes=len(body),
                         signed_sha256="x-amz-content-sha256" in headers)
            if refused:
                self.record(verdict=refused, status=403, **entry)
                self.answer(403, json.dumps({"message": refused}).encode())
                return
            if args.bulk_delay and "/_bulk" in self.path:
                time.sleep(args.bulk_delay)
            forward = {name: value for name, value in self.headers.items()
                       if name.lower() not in HOP_HEADERS
                       and not name.lower().startswith("x-amz-")
                       and name.lower() != "authorization"}
            connection = http.client.HTTPConnection(upstream.hostname, upstream.port, timeout=120)
            try:
                connection.request(self.command, self.path, body=body or None, headers=forward)
                reply = connection.getresponse()
                data = reply.read()
                passed = [(n, v) for n, v in reply.getheaders()
                          if n.lower() in ("content-encoding", "x-opensearch-version")]
                self.record(verdict="ok", status=reply.status, **entry)
                self.answer(reply.status, data,
                            reply.getheader("Content-Type", "application/json"), passed)
            finally:
                connection.close()

        do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = handle_any

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    print(f"listening {server.server_address[1]}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    sys.exit(main())
