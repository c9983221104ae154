#!/usr/bin/env python3
"""RFC 9111 conformance runner for MiniCache as a shared (reverse-proxy) cache.

The runner starts its own origin on 127.0.0.1:0, starts `minicache serve` on a fresh SHFS volume in
front of it (or uses --base for a cache that is already running), and drives every test through the
cache: the test's configuration is sent with `PUT /config/<uuid>` (the origin answers 201), the test
requests go to `/test/<uuid>[/<file>][?<query>]`, and what the origin saw is read back with
`GET /state/<uuid>`. The origin picks its answer by the request's `Req-Num` header, counts requests,
stamps every answer with `Server-Request-Count`, `Client-Request-Count`, `Server-Now` and
`Request-Numbers`, and answers a conditional request with 304 only where the test expects the cache
to revalidate (999 "304 Not Generated" otherwise).

A response counts as *stored* when its `Server-Request-Count` is lower than the request's number,
as *from the origin* when it equals it. Kinds: R = required, R* = required (no kind given, so
required by default), O = optimal (a failure is only "not-optimal"), C = check (informational
yes / no). Flags: S = shared caches only, CDN = reverse proxies / CDNs only.

Results: pass, FAIL, not-optimal, yes / no (checks), setup-failure (a step the test relies on did
not work, so the behaviour could not be judged), dependency-failure (a test this one builds on did
not pass), retry (the origin saw one request number twice: review by hand).
Exit status: 0 when no required test failed, 1 when one did (FAIL or setup-failure; --accept lists
documented deviations that do not count), 2 when the runner could not start.

Python 3 standard library only.
"""

import argparse
import concurrent.futures
import email.utils
import fnmatch
import http.client
import http.server
import json
import os
import random
import shlex
import shutil
import socket
import string
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import uuid as uuidlib

PAUSE = 3.0
CLIENT_TIMEOUT = 10.0
HARNESS_HEADERS = ("server-base-url", "server-request-count", "client-request-count", "server-now", "request-numbers")
REASONS = {999: "304 Not Generated", 299: "Whatever", 499: "Whatever", 599: "Whatever"}


def http_date(ts):
    return email.utils.formatdate(int(ts), usegmt=True)


def rfc850_date(ts):
    return time.strftime("%A, %d-%b-%y %H:%M:%S GMT", time.gmtime(int(ts)))


def die(message):
    print("cache-conformance: " + message, file=sys.stderr)
    sys.exit(2)


def rand_token(n=15):
    return "".join(random.choice(string.ascii_lowercase) for _ in range(n))


# ---------------------------------------------------------------------------------------------
# Origin


class OriginState:
    """Test configurations and what the origin saw, per uuid."""

    def __init__(self):
        self.lock = threading.Lock()
        self.configs = {}
        self.seen = {}

    def add_config(self, uid, config):
        with self.lock:
            if uid in self.configs:
                return False
            self.configs[uid] = config
            return True

    def state_of(self, uid):
        with self.lock:
            return json.loads(json.dumps(self.seen.get(uid, [])))


class OriginHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "conformance-origin"
    sys_version = ""

    def log_message(self, *args):
        pass

    def __getattr__(self, name):
        # Every method (PUT, DELETE, M-SEARCH, ...) reaches the same dispatcher.
        if name.startswith("do_"):
            return self.dispatch
        raise AttributeError(name)

    def read_body(self):
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            data = b""
            while True:
                line = self.rfile.readline()
                size = int(line.split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return data
                data += self.rfile.read(size)
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def simple(self, status, body, content_type="text/plain"):
        data = body.encode()
        self.send_response(status, REASONS.get(status))
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def dispatch(self):
        state = self.server.state
        body = self.read_body()
        parts = urllib.parse.urlsplit(self.path)
        segments = parts.path.split("/")
        if len(segments) >= 3 and segments[1] == "config":
            uid = segments[2]
            if self.command != "PUT":
                return self.simple(405, "config takes PUT")
            try:
                config = json.loads(body)
            except ValueError:
                return self.simple(400, "config is not JSON")
            if not state.add_config(uid, config):
                return self.simple(409, "config exists")
            return self.simple(201, "OK")
        if len(segments) >= 3 and segments[1] == "state":
            seen = state.state_of(segments[2])
            if not seen:
                return self.simple(404, "nothing seen")
            return self.simple(200, json.dumps(seen))
        if len(segments) >= 3 and segments[1] == "test":
            return self.test_request(segments[2], parts.path)
        return self.simple(404, "not found")

    def test_request(self, uid, path):
        state = self.server.state
        with state.lock:
            config = state.configs.get(uid)
            if config is None:
                record = None
            else:
                seen = state.seen.setdefault(uid, [])
                count = len(seen) + 1
                try:
                    req_num = int(self.headers.get("Req-Num"))
                except (TypeError, ValueError):
                    req_num = count
                requests = config["requests"]
                entry = requests[min(max(req_num, 1), len(requests)) - 1]
                previous = [r for r in seen]
                record = {
                    "request_num": req_num,
                    "request_method": self.command,
                    "request_path": path,
                    "request_headers": [[k, v] for k, v in self.headers.items()],
                    "response_status": None,
                    "response_headers": [],
                }
                seen.append(record)
                numbers = " ".join(str(r["request_num"]) for r in seen)
        if config is None:
            return self.simple(404, "no config for this test")
        if entry.get("disconnect"):
            with state.lock:
                record["response_status"] = "disconnect"
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            return
        if entry.get("response_pause"):
            time.sleep(entry["response_pause"])
        now = time.time()
        device = "no-device-token"
        capability = self.headers.get("Surrogate-Capability")
        if capability:
            device = capability.split("=")[0].strip()
        headers = []
        for h in entry.get("response_headers", []):
            name, value = h[0], h[1]
            if isinstance(value, int) and not isinstance(value, bool):
                value = http_date(now + value)
            elif entry.get("magic_locations") and name.lower() in ("location", "content-location"):
                value = path + "/" + value if value else path
            value = value.replace("<device-token>", device)
            headers.append([name, value])
        names = {h[0].lower() for h in headers}
        status = entry.get("response_status", [200, "OK"])
        if isinstance(status, int):
            status = [status, REASONS.get(status) or http.client.responses.get(status, "Whatever")]
        expected = entry.get("expected_type")
        if expected in ("lm_validated", "etag_validated"):
            field, validator = ("If-Modified-Since", "last-modified") if expected == "lm_validated" else ("If-None-Match", "etag")
            stored = None
            for r in previous:
                for k, v in r["response_headers"]:
                    if k.lower() == validator:
                        stored = v
            sent = self.headers.get(field)
            status = [304, "Not Modified"] if sent is not None and sent == stored else [999, "304 Not Generated"]
        code = status[0]
        payload = b""
        if code not in (204, 304) and not (100 <= code < 200):
            payload = entry.get("response_body", uid).encode("latin-1")
        if "content-length" in names:
            declared = int([v for k, v in headers if k.lower() == "content-length"][0])
            payload = (payload + b"x" * declared)[:declared] if code not in (204, 304) else b""
        elif code not in (204, 304):
            headers.append(["Content-Length", str(len(payload))])
        if "date" not in names:
            headers.append(["Date", http_date(now)])
        if "content-type" not in names and code not in (204, 304):
            headers.append(["Content-Type", "text/plain"])
        harness = [
            ["Server-Base-Url", path],
            ["Server-Request-Count", str(count)],
            ["Client-Request-Count", str(req_num)],
            ["Server-Now", str(int(now * 1000))],
            ["Request-Numbers", numbers],
        ]
        with state.lock:
            record["response_status"] = code
            record["response_headers"] = [list(h) for h in headers]
        out = b""
        for interim_status, interim_headers in entry.get("interim_responses", []):
            out += b"HTTP/1.1 %d %s\r\n" % (interim_status, http.client.responses.get(interim_status, "Interim").encode())
            for k, v in interim_headers:
                out += ("%s: %s\r\n" % (k, v)).encode("latin-1")
            out += b"\r\n"
        out += ("HTTP/1.1 %d %s\r\n" % (code, status[1])).encode("latin-1")
        for k, v in headers + harness:
            out += ("%s: %s\r\n" % (k, v)).encode("latin-1")
        if "transfer-encoding" in names or self.headers.get("Connection", "").lower() == "close":
            self.close_connection = True
        out += b"\r\n"
        if self.command != "HEAD":
            out += payload
        self.wfile.write(out)
        self.wfile.flush()


class Origin(http.server.ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128

    def __init__(self, port=0):
        super().__init__(("127.0.0.1", port), OriginHandler)
        self.state = OriginState()
        threading.Thread(target=self.serve_forever, daemon=True).start()

    @property
    def port(self):
        return self.server_address[1]


# ---------------------------------------------------------------------------------------------
# Client


class Response(http.client.HTTPResponse):
    """An HTTP response that keeps the interim (1xx) responses before it."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.interim = []

    def _read_status(self):
        while True:
            version, status, reason = super()._read_status()
            if 100 < status < 200 and status != 101:
                self.interim.append((status, http.client.parse_headers(self.fp)))
                continue
            return version, status, reason


class Exchange:
    def __init__(self, status, headers, body, interim):
        self.status = status
        self.headers = headers  # list of (name, value) in order
        self.body = body
        self.interim = interim

    def get(self, name):
        values = [v for k, v in self.headers if k.lower() == name.lower()]
        return ", ".join(values) if values else None


def send(base, method, path, headers, body=None):
    """One request on a new connection; returns an Exchange or raises OSError / HTTPException."""
    url = urllib.parse.urlsplit(base)
    conn = http.client.HTTPConnection(url.hostname, url.port or 80, timeout=CLIENT_TIMEOUT)
    conn.response_class = Response
    try:
        conn.putrequest(method, path, skip_accept_encoding=True)
        for k, v in headers:
            conn.putheader(k, v.encode("latin-1") if isinstance(v, str) else v)
        if body is not None:
            data = body.encode() if isinstance(body, str) else body
            conn.putheader("Content-Length", str(len(data)))
            conn.endheaders(data)
        else:
            conn.endheaders()
        resp = conn.getresponse()
        data = resp.read()
        interim = [(s, [(k, v) for k, v in h.items()]) for s, h in resp.interim]
        return Exchange(resp.status, list(resp.getheaders()), data, interim)
    finally:
        conn.close()


class Failure(Exception):
    def __init__(self, message, setup=False):
        super().__init__(message)
        self.setup = setup


def config_for(test):
    keys = ("response_status", "response_headers", "response_body", "disconnect", "response_pause",
            "magic_locations", "interim_responses", "expected_type")
    return {"id": test["id"], "requests": [{k: r[k] for k in keys if k in r} for r in test["requests"]]}


def request_value(value, previous):
    if isinstance(value, tuple):
        kind, offset = value
        if previous is None or previous.get("Server-Now") is None:
            raise Failure("the previous response has no Server-Now to compute a request date from (the cache dropped the origin's fields)", setup=True)
        now = int(previous.get("Server-Now")) / 1000
        return rfc850_date(now + offset) if kind == "prev-date-rfc850" else http_date(now + offset)
    return value


def run_test(test, base, origin, direct):
    """Runs one test; returns (result, reason)."""
    uid = str(uuidlib.uuid4())
    config = config_for(test)
    if direct:
        origin.state.add_config(uid, config)
    else:
        try:
            put = send(base, "PUT", "/config/" + uid, [("Content-Type", "application/json")], json.dumps(config))
        except (OSError, http.client.HTTPException) as error:
            raise Failure("PUT /config/<uuid>: %s" % describe_error(error), setup=True)
        if put.status != 201:
            raise Failure("PUT /config/<uuid> answered %d, expected 201 (the cache must relay PUT)" % put.status, setup=True)
    query = rand_token()
    exchanges = []
    previous = None
    for index, req in enumerate(test["requests"]):
        num = index + 1
        path = "/test/" + uid
        if req.get("filename"):
            path += "/" + req["filename"]
        if req.get("query_arg"):
            path += "?" + req["query_arg"].replace("<random>", query)
        headers = [("Test-ID", test["id"]), ("Test-Name", test.get("name", test["id"])), ("Req-Num", str(num)),
                   ("Pragma", "foo"), ("Cache-Control", "nothing-to-see-here")]
        for h in req.get("request_headers", []):
            headers.append((h[0], request_value(h[1], previous)))
        try:
            exchange = send(base, req.get("method", "GET"), path, headers, req.get("request_body"))
        except (OSError, http.client.HTTPException) as error:
            exchange = describe_error(error)
        exchanges.append(exchange)
        if isinstance(exchange, str):
            break
        previous = exchange
        if req.get("pause_after"):
            time.sleep(PAUSE)
    if direct:
        seen = origin.state.state_of(uid)
    else:
        try:
            st = send(base, "GET", "/state/" + uid, [])
        except (OSError, http.client.HTTPException) as error:
            raise Failure("GET /state/<uuid>: %s" % describe_error(error), setup=True)
        if st.status == 404:
            seen = []
        elif st.status != 200:
            raise Failure("GET /state/<uuid> answered %d" % st.status, setup=True)
        else:
            try:
                seen = json.loads(st.body)
            except ValueError:
                raise Failure("GET /state/<uuid> did not return the origin's JSON", setup=True)
    for index, exchange in enumerate(exchanges):
        check_request(test, index, test["requests"][index], exchange, seen, uid)
    numbers = [r["request_num"] for r in seen]
    duplicates = sorted({n for n in numbers if numbers.count(n) > 1})
    if duplicates:
        return "retry", "the origin saw request %s more than once (Request-Numbers %s)" % (
            ", ".join(map(str, duplicates)), " ".join(map(str, numbers)))
    return "pass", ""


def describe_error(error):
    if isinstance(error, http.client.RemoteDisconnected):
        return "the cache closed the connection without a response"
    if isinstance(error, socket.timeout):
        return "no response within %.0f s" % CLIENT_TIMEOUT
    return "%s: %s" % (type(error).__name__, error)


def check_request(test, index, req, exchange, seen, uid):
    num = index + 1
    setup_checks = set(req.get("setup_checks", []))
    is_setup = req.get("setup", index == 0 and test.get("first_setup", True))

    def fail(check, message):
        raise Failure("request %d: %s" % (num, message), setup=is_setup or check in setup_checks)

    if isinstance(exchange, str):
        fail("expected_type", exchange)
    records = [r for r in seen if r["request_num"] == num]
    record = records[-1] if records else None
    src = exchange.get("Server-Request-Count")
    client_num = exchange.get("Client-Request-Count")
    etype = req.get("expected_type")
    if etype == "cached":
        if src is None and exchange.status != 304:
            fail("expected_type", "expected a stored response, got status %d without Server-Request-Count (made by the cache, or the origin's fields were dropped)" % exchange.status)
        if src is not None and int(src.split(",")[0]) >= num:
            fail("expected_type", "expected a stored response, got the origin's answer to this request (Server-Request-Count %s)" % src)
    elif etype == "not_cached":
        if src is None:
            fail("expected_type", "expected the origin's answer, got status %d without Server-Request-Count (made by the cache, or the origin's fields were dropped)" % exchange.status)
        if int(src.split(",")[0]) != num or len(seen) < num or seen[num - 1]["request_num"] != num:
            fail("expected_type", "expected the origin's answer to this request, got a stored response (Server-Request-Count %s)" % src)
    elif etype in ("lm_validated", "etag_validated"):
        field = "If-Modified-Since" if etype == "lm_validated" else "If-None-Match"
        if record is None:
            fail("expected_type", "expected a conditional request (%s) at the origin, the origin did not see this request" % field)
        sent = header_of(record["request_headers"], field)
        if sent is None:
            fail("expected_type", "expected the cache to revalidate with %s, the origin got an unconditional request" % field)
        if record["response_status"] != 304:
            fail("expected_type", "%s %r did not match the stored validator (origin answered %s)" % (field, sent, record["response_status"]))
    if "expected_status" in req:
        want = req["expected_status"]
    elif etype in ("lm_validated", "etag_validated"):
        want = 200
    else:
        configured = req.get("response_status", 200)
        want = configured[0] if isinstance(configured, list) else configured
    if want is not None and exchange.status != want:
        fail("expected_status", "expected status %d, got %d" % (want, exchange.status))
    method = req.get("method", "GET")
    if req.get("check_body", True) and method != "HEAD" and exchange.status not in (204, 304):
        want_body = req.get("expected_response_text", req.get("response_body", uid))
        got = exchange.body.decode("latin-1")
        if want_body is not None and got != want_body:
            fail("expected_response_text", "expected body %r, got %r" % (short(want_body), short(got)))
    # Every configured header of an origin answer to this request reaches the client verbatim.
    if record is not None and client_num == str(num) and src is not None and record["response_status"] not in (304, 999, "disconnect"):
        unchecked = {h[0].lower() for h in req.get("response_headers", []) if len(h) > 2 and h[2] is False}
        for name in dict.fromkeys(k.lower() for k, _ in record["response_headers"]):
            configured = {h[0].lower() for h in req.get("response_headers", [])}
            if name not in configured or name == "date" or name in unchecked:
                continue
            sent = header_of(record["response_headers"], name)
            got = exchange.get(name)
            if got != sent:
                fail("response_headers", "origin sent %s: %r, the client got %r" % (name, sent, got))
    for name, want in req.get("expected_response_headers", []):
        got = exchange.get(name)
        if want is True:
            if got is None:
                fail("expected_response_headers", "expected a %s header, there is none" % name)
        elif isinstance(want, list) and want[0] == ">":
            try:
                ok = got is not None and int(got) > want[1]
            except ValueError:
                ok = False
            if not ok:
                fail("expected_response_headers", "expected %s > %d, got %r" % (name, want[1], got))
        else:
            if isinstance(want, int) and not isinstance(want, bool):
                now = exchange.get("Server-Now")
                if now is None:
                    fail("expected_response_headers", "no Server-Now to compute the expected %s from" % name)
                want = http_date(int(now) / 1000 + want)
            if got != want:
                fail("expected_response_headers", "expected %s: %r, got %r" % (name, want, got))
    for missing in req.get("expected_response_headers_missing", []):
        # [name, value]: the field may be there (e.g. the cache's own Connection) but not with this value.
        name, value = (missing, None) if isinstance(missing, str) else missing
        got = exchange.get(name)
        if got is not None and (value is None or value in got):
            fail("expected_response_headers_missing", "expected no %s header%s, got %r" % (name, "" if value is None else " with %r" % value, got))
    if "expected_request_headers" in req or "expected_method" in req:
        if record is None:
            fail("expected_request_headers", "the origin did not see this request")
        for name, want in req.get("expected_request_headers", []):
            got = header_of(record["request_headers"], name)
            if want is True:
                if got is None:
                    fail("expected_request_headers", "expected the origin to get a %s header, it got none" % name)
            elif got != want:
                fail("expected_request_headers", "expected the origin to get %s: %r, it got %r" % (name, want, got))
        if "expected_method" in req and record["request_method"] != req["expected_method"]:
            fail("expected_method", "expected the origin to get %s, it got %s" % (req["expected_method"], record["request_method"]))
    if "expected_interim" in req:
        got = [s for s, _ in exchange.interim]
        want = [i[0] for i in req["expected_interim"]]
        if got != want:
            fail("expected_interim", "expected interim responses %s, got %s" % (want or "none", got or "none"))
        for (status, hs), (_, wanted) in zip(exchange.interim, req["expected_interim"]):
            for name, value in wanted:
                got_value = header_of(hs, name)
                if got_value != value:
                    fail("expected_interim", "interim %d: expected %s: %r, got %r" % (status, name, value, got_value))


def header_of(pairs, name):
    values = [v for k, v in pairs if k.lower() == name.lower()]
    return ", ".join(values) if values else None


def short(text, n=60):
    return text if len(text) <= n else text[:n] + "..."


# ---------------------------------------------------------------------------------------------
# Test definitions. A test is a dict: id, kind (R, R*, O, C), file, flags ("S", "CDN"),
# depends_on, name, requests. A request is a dict:
#   client side: method, request_headers [[name, value]] (a value ("prev-date", N) is the previous
#     response's Server-Now + N s as an HTTP-date; "prev-date-rfc850" the same in RFC 850 form),
#     request_body, filename, query_arg ("<random>" = a random 15-letter token per test),
#     pause_after (sleep 3 s after the response), setup (all checks of this request are setup;
#     default for the first request), setup_checks (names of checks that are setup)
#   origin side: response_status, response_headers [[name, value(, False = not compared)]] (an
#     integer value is an HTTP-date: origin now + N s), response_body, disconnect, response_pause,
#     magic_locations, interim_responses [[status, [[name, value]]]]
#   checks: expected_type (cached, not_cached, lm_validated, etag_validated), expected_status
#     (None = not checked), expected_response_text, check_body, expected_response_headers
#     [[name, value | True | [">", n] | int date offset]], expected_response_headers_missing (names, or
#     [name, value]: absent or without that value),
#     expected_request_headers [[name, value | True]], expected_method, expected_interim.

TESTS = []
DAY = 86400


def add(test_id, kind, file, requests, flags="", depends_on=(), name=None, first_setup=True):
    TESTS.append({"id": test_id, "kind": kind, "file": file, "flags": flags, "depends_on": list(depends_on),
                  "name": name or "`%s` (%s)" % (test_id, file), "requests": requests, "first_setup": first_setup})


def h(name, value, check=True):
    return [name, value] if check else [name, value, False]


def cc(*values, check=True):
    return [h("Cache-Control", v, check) for v in values]


def reuse(test_id, kind, file, headers, expect, pause=True, flags="", depends_on=(), first=None, second=None, name=None):
    """The common shape: request 1 stores (setup), request 2 is expected `cached` or `not_cached`."""
    r1 = {"response_headers": headers, "pause_after": pause}
    r1.update(first or {})
    r2 = {"expected_type": expect}
    r2.update(second or {})
    add(test_id, kind, file, [r1, r2], flags, depends_on, name)


def fresh(*extra):
    return cc("max-age=100000") + [h("Date", 0)] + list(extra)


NOT = "not_cached"
HIT = "cached"

# freshness -----------------------------------------------------------------------------------
F = "freshness"
FMA = ["freshness-max-age"]
reuse("freshness-none", "C", F, [], NOT, name="no explicit freshness and no validator: not reused")
reuse("freshness-max-age", "O", F, cc("max-age=3600"), HIT, depends_on=["freshness-none"])
reuse("freshness-max-age-stale", "R", F, cc("max-age=2"), NOT, depends_on=FMA)
reuse("freshness-max-age-0", "R", F, cc("max-age=0"), NOT, depends_on=FMA)
for suffix, value in (("max-minus-1", "2147483647"), ("max", "2147483648"), ("max-plus-1", "2147483649"), ("max-plus", "99999999999")):
    reuse("freshness-max-age-" + suffix, "O", F, cc("max-age=" + value), HIT, depends_on=["freshness-none"])
reuse("freshness-max-age-age", "R", F, [h("Date", 0)] + cc("max-age=3600") + [h("Age", "7200")], NOT, depends_on=FMA)
reuse("freshness-max-age-date", "C", F, [h("Date", -7200)] + cc("max-age=3600"), NOT, depends_on=FMA)
reuse("freshness-max-age-expires", "O", F, cc("max-age=3600") + [h("Expires", -7200)], HIT, depends_on=FMA)
reuse("freshness-max-age-expires-invalid", "O", F, cc("max-age=3600") + [h("Expires", "0")], HIT, depends_on=FMA)
reuse("freshness-max-age-0-expires", "R", F, cc("max-age=0") + [h("Expires", 3600)], NOT, depends_on=FMA)
reuse("freshness-max-age-extension", "O", F, cc("foobar, max-age=3600"), HIT, depends_on=FMA)
reuse("freshness-max-age-case-insenstive", "O", F, cc("MaX-aGe=3600"), HIT, depends_on=FMA)
reuse("freshness-max-age-negative", "R", F, cc("max-age=-3600"), NOT, depends_on=FMA)
reuse("freshness-s-maxage-shared", "R*", F, cc("s-maxage=3600"), HIT, flags="S")
reuse("freshness-max-age-s-maxage-shared-longer", "R", F, cc("max-age=3600, s-maxage=1"), NOT, flags="S", depends_on=FMA)
reuse("freshness-max-age-s-maxage-shared-longer-reversed", "R", F, cc("s-maxage=1, max-age=3600"), NOT, flags="S", depends_on=FMA)
reuse("freshness-max-age-s-maxage-shared-longer-multiple", "R", F, cc("max-age=3600", "s-maxage=1"), NOT, flags="S", depends_on=FMA)
reuse("freshness-max-age-s-maxage-shared-shorter", "O", F, cc("max-age=1, s-maxage=3600"), HIT, flags="S", depends_on=FMA)
reuse("freshness-max-age-s-maxage-shared-shorter-expires", "O", F, [h("Expires", -10)] + cc("max-age=0, s-maxage=3600"), HIT, flags="S", depends_on=FMA)

# cc-parse ------------------------------------------------------------------------------------
F = "cc-parse"
for test_id, kind, values, expect in (
    ("freshness-max-age-two-fresh-stale-sameline", "C", ["max-age=1800, max-age=1"], HIT),
    ("freshness-max-age-two-fresh-stale-sepline", "C", ["max-age=1800", "max-age=1"], HIT),
    ("freshness-max-age-two-stale-fresh-sameline", "C", ["max-age=1, max-age=1800"], HIT),
    ("freshness-max-age-two-stale-fresh-sepline", "C", ["max-age=1", "max-age=1800"], HIT),
    ("freshness-max-age-quoted", "C", ['max-age="3600"'], HIT),
    ("freshness-max-age-ignore-quoted", "R", ['extension="max-age=3600", max-age=1'], NOT),
    ("freshness-max-age-ignore-quoted-rev", "R", ['max-age=1, extension="max-age=3600"'], NOT),
    ("freshness-max-age-space-before-equals", "C", ["max-age =3600"], NOT),
    ("freshness-max-age-space-after-equals", "C", ["max-age= 3600"], NOT),
    ("freshness-max-age-leading-zero", "R*", ["max-age=003600"], HIT),
    ("freshness-max-age-single-quoted", "R", ["max-age='3600'"], NOT),
    ("freshness-max-age-decimal-zero", "C", ["max-age=3600.0"], HIT),
    ("freshness-max-age-decimal-five", "C", ["max-age=3600.5"], HIT),
    ("freshness-max-age-a100", "C", ["max-age=a3600"], HIT),
    ("freshness-max-age-100a", "C", ["max-age=3600a"], HIT),
):
    reuse(test_id, kind, F, cc(*values, check=False), expect, depends_on=FMA)

# age-parse -----------------------------------------------------------------------------------
F = "age-parse"
for test_id, kind, ages, expect in (
    ("age-parse-nonnumeric", "R*", ["abc"], HIT),
    ("age-parse-negative", "R*", ["-7200"], HIT),
    ("age-parse-float", "R*", ["7200.0"], HIT),
    ("age-parse-large-minus-one", "R*", ["2147483647"], NOT),
    ("age-parse-large", "R*", ["2147483648"], NOT),
    ("age-parse-larger", "R*", ["2147483649"], NOT),
    ("age-parse-suffix", "R*", ["7200, 0"], NOT),
    ("age-parse-prefix", "R*", ["0, 7200"], HIT),
    ("age-parse-suffix-twoline", "R*", ["7200", "0"], NOT),
    ("age-parse-prefix-twoline", "R*", ["0", "7200"], HIT),
    ("age-parse-dup-0", "R*", ["0, 0"], HIT),
    ("age-parse-dup-0-twoline", "R*", ["0", "0"], HIT),
    ("age-parse-dup-old", "R*", ["3600", "3600"], HIT),
    ("age-parse-parameter", "C", ["7200;foo=bar"], NOT),
    ("age-parse-numeric-parameter", "C", ["7200;foo=111"], NOT),
):
    max_age = "max-age=10000" if test_id == "age-parse-dup-old" else "max-age=3600"
    reuse(test_id, kind, F, [h("Date", 0)] + cc(max_age) + [h("Age", a, False) for a in ages], expect, depends_on=FMA)

# expires-parse -------------------------------------------------------------------------------
F = "expires-parse"
FEF = ["freshness-expires-future"]
for test_id, kind, values, expect, pause in (
    ("freshness-expires-32bit", "O", ["Tue, 19 Jan 2038 14:14:08 GMT"], HIT, True),
    ("freshness-expires-far-future", "O", ["Sun, 21 Nov 2286 04:46:39 GMT"], HIT, True),
    ("freshness-expires-rfc850", "O", ["Thursday, 18-Aug-50 02:01:18 GMT"], HIT, True),
    ("freshness-expires-ansi-c", "O", ["Thu Aug  8 02:01:18 2050"], HIT, True),
    ("freshness-expires-wrong-case-weekday", "O", ["THU, 18 Aug 2050 02:01:18 GMT"], HIT, True),
    ("freshness-expires-wrong-case-month", "O", ["Thu, 18 AUG 2050 02:01:18 GMT"], HIT, True),
    ("freshness-expires-wrong-case-tz", "O", ["Thu, 18 Aug 2050 02:01:18 gMT"], HIT, True),
    ("freshness-expires-invalid-utc", "R", ["Thu, 18 Aug 2050 02:01:18 UTC"], NOT, True),
    ("freshness-expires-invalid-aest", "R", ["Thu, 18 Aug 2050 02:01:18 AEST"], NOT, True),
    ("freshness-expires-invalid-2-digit-year", "R", ["Thu, 18 Aug 50 02:01:18 GMT"], NOT, True),
    ("freshness-expires-invalid-no-comma", "R", ["Thu 18 Aug 2050 02:01:18 GMT"], NOT, True),
    ("freshness-expires-invalid-multiple-spaces", "R", ["Thu, 18  Aug  2050 02:01:18 GMT"], NOT, False),
    ("freshness-expires-invalid-date-dashes", "R", ["Thu, 18-Aug-2050 02:01:18 GMT"], NOT, False),
    ("freshness-expires-invalid-time-periods", "R", ["Thu, 18 Aug 2050 02.01.18 GMT"], NOT, True),
    ("freshness-expires-invalid-1-digit-hour", "R", ["Thu, 18 Aug 2050 2:01:18 GMT"], NOT, True),
    ("freshness-expires-invalid-multiple-lines", "R", ["Thu, 18 Aug 2050 2:01:18 GMT", "Thu, 18 Aug 2050 2:01:19 GMT"], NOT, True),
):
    reuse(test_id, kind, F, [h("Date", 0)] + [h("Expires", v, False) for v in values], expect, pause,
          depends_on=FEF if expect == NOT else ["freshness-none"])

# expires -------------------------------------------------------------------------------------
F = "expires"
reuse("freshness-expires-future", "O", F, [h("Expires", 30 * DAY), h("Date", 0)], HIT, depends_on=["freshness-none"])
reuse("freshness-expires-past", "R", F, [h("Expires", -30 * DAY), h("Date", 0)], NOT, depends_on=FEF)
reuse("freshness-expires-present", "R", F, [h("Expires", 0), h("Date", 0)], NOT, pause=False, depends_on=FEF)
reuse("freshness-expires-old-date", "R", F, [h("Date", 400), h("Expires", 300)], NOT, depends_on=FEF)
reuse("freshness-expires-invalid", "R", F, [h("Expires", "0"), h("Date", 0)], NOT, depends_on=FEF)
reuse("freshness-expires-invalid-date", "O", F, [h("Date", "foo", False), h("Expires", 10)], HIT, pause=False, depends_on=FEF)
reuse("freshness-expires-age-slow-date", "R", F, [h("Date", -10), h("Expires", 10), h("Age", "25")], NOT, depends_on=FEF)
reuse("freshness-expires-age-fast-date", "R", F, [h("Date", 10), h("Expires", 20), h("Age", "15")], NOT, depends_on=FEF)

# heuristic -----------------------------------------------------------------------------------
F = "heuristic"
BODY15 = "heuristic body."
for code, kind, expect, extra in (
    (200, "O", HIT, []), (203, "O", HIT, []), (204, "O", HIT, []), (404, "O", HIT, []), (405, "O", HIT, []),
    (410, "O", HIT, []), (414, "O", HIT, []), (501, "O", HIT, []), (599, "O", HIT, cc("public")),
    (201, "R", NOT, []), (202, "R", NOT, []), (403, "R", NOT, []), (502, "R", NOT, []), (503, "R", NOT, []),
    (504, "R", NOT, []), (599, "R", NOT, []),
):
    resp = {"response_status": code, "response_headers": [h("Last-Modified", -DAY), h("Date", 0)] + extra}
    if code != 204:
        resp["response_body"] = BODY15
    test_id = "heuristic-%d-%s" % (code, "cached" if expect == HIT else "not_cached")
    add(test_id, kind, F, [dict(resp), dict(resp, expected_type=expect)],
        depends_on=["freshness-none"] if test_id == "heuristic-200-cached" else ["heuristic-200-cached"] if expect == NOT else ["freshness-none"])
for delta in (5, 10, 30, 60, 300, 600, 1200, 1800, 3600, 43200, 86400):
    reuse("heuristic-delta-%d" % delta, "C", F, [h("Last-Modified", -delta), h("Date", 0)], HIT, depends_on=["heuristic-200-cached"])

# cc-request ----------------------------------------------------------------------------------
F = "cc-request"


def ccreq(test_id, stored, request_cc, expect, pause=True, second=None):
    s = {"request_headers": [h("Cache-Control", request_cc)]}
    s.update(second or {})
    reuse(test_id, "C", F, stored, expect, pause, depends_on=FMA, second=s)


ccreq("ccreq-ma0", fresh(), "max-age=0", NOT)
ccreq("ccreq-ma1", fresh(), "max-age=1", NOT)
ccreq("ccreq-magreaterage", cc("max-age=3600") + [h("Age", "1800")], "max-age=600", NOT, pause=False)
ccreq("ccreq-max-stale", cc("max-age=1"), "max-stale=1000", HIT)
ccreq("ccreq-max-stale-age", cc("max-age=1500") + [h("Age", "2000")], "max-stale=1000", HIT, pause=False)
ccreq("ccreq-min-fresh", cc("max-age=1500"), "min-fresh=2000", NOT, pause=False)
ccreq("ccreq-min-fresh-age", cc("max-age=1500") + [h("Age", "1000")], "min-fresh=1000", NOT, pause=False)
ccreq("ccreq-no-cache", cc("max-age=3600"), "no-cache", NOT, pause=False)
ccreq("ccreq-no-cache-lm", cc("max-age=3600") + [h("Last-Modified", -10000), h("Date", 0)], "no-cache", "lm_validated", pause=False)
ccreq("ccreq-no-cache-etag", cc("max-age=3600") + [h("ETag", '"abcdef"'), h("Date", 0)], "no-cache", "etag_validated", pause=False)
ccreq("ccreq-no-store", cc("max-age=3600"), "no-store", NOT, pause=False)
add("ccreq-oic", "C", F, [{"request_headers": [h("Cache-Control", "only-if-cached")], "expected_status": 504, "check_body": False,
                           "setup": False}])

# cc-response ---------------------------------------------------------------------------------
F = "cc-response"
reuse("cc-resp-private-shared", "R", F, cc("private, max-age=3600"), NOT, flags="S", depends_on=FMA)
reuse("cc-resp-no-store", "R", F, cc("no-store"), NOT, depends_on=FMA)
reuse("cc-resp-no-store-case-insensitive", "R", F, cc("No-StOrE"), NOT, depends_on=FMA)
reuse("cc-resp-no-store-fresh", "R", F, cc("max-age=10000, no-store") + [h("Expires", 10000), h("Date", 0)], NOT, depends_on=FMA)
for test_id, newer in (("cc-resp-no-store-old-new", "no-store"), ("cc-resp-no-store-old-max-age", "no-store, max-age=0")):
    add(test_id, "R*", F, [
        {"response_headers": cc("max-age=10000") + [h("A", "1"), h("Date", 0)], "pause_after": True},
        {"request_headers": [h("Cache-Control", "no-cache")], "response_headers": cc(newer) + [h("A", "2"), h("Date", 0)],
         "pause_after": True, "setup": True},
        {"expected_type": HIT, "expected_response_headers": [["A", "1"]]},
    ], depends_on=FMA)
reuse("cc-resp-no-cache", "R", F, cc("max-age=10000, no-cache") + [h("Expires", 10000), h("Date", 0)], NOT, depends_on=FMA)
reuse("cc-resp-no-cache-case-insensitive", "R", F, cc("max-age=10000, No-CaChE") + [h("Expires", 10000), h("Date", 0)], NOT, depends_on=FMA)
reuse("cc-resp-no-cache-revalidate", "O", F, cc("no-cache") + [h("ETag", '"abcd"')], "etag_validated", depends_on=FMA)
reuse("cc-resp-no-cache-revalidate-fresh", "O", F, cc("max-age=10000, no-cache") + [h("Expires", 10000), h("Date", 0), h("ETag", '"abcd"')],
      "etag_validated", depends_on=FMA)
reuse("headers-omit-headers-listed-in-Cache-Control-no-cache-single", "C", F,
      cc('no-cache="a"', "max-age=3600") + [h("a", "1"), h("b", "2")], HIT, depends_on=FMA,
      second={"expected_response_headers": [["b", "2"]], "expected_response_headers_missing": ["a"]})
reuse("headers-omit-headers-listed-in-Cache-Control-no-cache", "C", F,
      cc('no-cache="a, b"', "max-age=3600") + [h("a", "1"), h("b", "2"), h("c", "3")], HIT, depends_on=FMA,
      second={"expected_response_headers": [["c", "3"]], "expected_response_headers_missing": ["a", "b"]})
reuse("cc-resp-must-revalidate-fresh", "O", F, cc("max-age=10000, must-revalidate") + [h("ETag", '"abcd"')], HIT, depends_on=FMA)
add("cc-resp-must-revalidate-stale", "R", F, [
    {"response_headers": cc("max-age=2, must-revalidate") + [h("ETag", '"abcd"'), h("Date", 0)]},
    {"expected_type": HIT, "setup": True, "pause_after": True},
    {"expected_type": "etag_validated"},
], depends_on=FMA)

# stale ---------------------------------------------------------------------------------------
F = "stale"
BECOME_STALE = cc("max-age=2") + [h("Date", 0), h("Template-A", "1")]
reuse("stale-close", "C", F, BECOME_STALE, HIT, second={"disconnect": True}, depends_on=FMA)
reuse("stale-503", "C", F, BECOME_STALE, HIT, second={"response_status": 503, "expected_status": 200}, depends_on=FMA)
reuse("stale-while-revalidate", "O", F, cc("max-age=1, stale-while-revalidate=3600") + [h("ETag", '"abc"'), h("Date", 0)], HIT, depends_on=FMA)
add("stale-while-revalidate-window", "R", F, [
    {"response_headers": cc("max-age=1, stale-while-revalidate=4") + [h("ETag", '"abc"'), h("Date", 0)], "pause_after": True},
    {"expected_type": HIT, "setup": True, "pause_after": True, "response_headers": cc("no-cache") + [h("ETag", '"def"'), h("Date", 0)]},
    {"expected_response_headers": [["Client-Request-Count", "3"]]},
], depends_on=FMA)
for test_id in ("stale-sie-close", "stale-sie-503"):
    reuse(test_id, "C", F, cc("max-age=2, stale-if-error=60") + [h("Date", 0)], HIT, second={"disconnect": True}, depends_on=FMA)
for test_id, value, flags in (("stale-close-must-revalidate", "max-age=2, must-revalidate", ""),
                              ("stale-close-proxy-revalidate", "max-age=2, proxy-revalidate", "S"),
                              ("stale-close-no-cache", "max-age=2, no-cache", ""),
                              ("stale-close-s-maxage=2", "max-age=2, s-maxage=2", "S")):
    reuse(test_id, "R", F, cc(value) + [h("Date", 0)], None, flags=flags, depends_on=["stale-close"],
          second={"disconnect": True, "expected_status": None, "check_body": False,
                  "expected_response_headers_missing": ["Server-Request-Count"]})
reuse("stale-warning-stored", "C", F, [h("Expires", -5000), h("Last-Modified", -100000), h("Date", 0)], HIT, pause=False,
      depends_on=["stale-close"], second={"disconnect": True, "expected_response_headers": [["Warning", True]]})
reuse("stale-warning-become", "C", F, BECOME_STALE, HIT, depends_on=["stale-close"],
      second={"disconnect": True, "expected_response_headers": [["Warning", True]]})

# conditional ---------------------------------------------------------------------------------
F = "conditional"


def cond(test_id, kind, stored, request_headers, flags="S", second=None, depends_on=FMA):
    s = {"request_headers": request_headers, "expected_type": HIT, "expected_status": 304}
    s.update(second or {})
    reuse(test_id, kind, F, stored, s.pop("expected_type"), flags=flags, depends_on=depends_on, second=s)


def inm(value):
    return [h("If-None-Match", value)]


cond("conditional-etag-strong-respond", "O", fresh(h("ETag", '"abcdef"')), inm('"abcdef"'))
cond("conditional-304-etag", "R", fresh(h("ETag", '"abcdef"')), inm('"abcdef"'),
     second={"setup_checks": ["expected_type", "expected_status"], "expected_response_headers": [["ETag", '"abcdef"']]})
cond("conditional-etag-precedence", "R", fresh(h("ETag", '"abcdef"'), h("Last-Modified", -5000)),
     inm('"abcdef"') + [h("If-Modified-Since", ("prev-date", -5001))])
for test_id, kind, stored, sent in (
    ("conditional-etag-strong-respond-obs-text", "C", '"abcdef\u00fc"', '"abcdef\u00fc"'),
    ("conditional-etag-quoted-respond-unquoted", "C", '"abcdef"', "abcdef"),
    ("conditional-etag-unquoted-respond-unquoted", "C", "abcdef", "abcdef"),
    ("conditional-etag-unquoted-respond-quoted", "C", "abcdef", '"abcdef"'),
    ("conditional-etag-weak-respond", "O", 'W/"abcdef"', 'W/"abcdef"'),
    ("conditional-etag-weak-respond-lowercase", "C", 'w/"abcdef"', 'w/"abcdef"'),
    ("conditional-etag-weak-respond-backslash", "C", 'W\\"abcdef"', 'W\\"abcdef"'),
    ("conditional-etag-weak-respond-omit-slash", "C", 'W"abcdef"', 'W"abcdef"'),
    ("conditional-etag-strong-respond-multiple-first", "O", '"abcdef"', '"abcdef", "1234", "5678"'),
    ("conditional-etag-strong-respond-multiple-second", "O", '"abcdef"', '"1234", "abcdef", "5678"'),
    ("conditional-etag-strong-respond-multiple-last", "O", '"abcdef"', '"1234", "5678", "abcdef"'),
):
    cond(test_id, kind, fresh(h("ETag", stored)), inm(sent))
add("conditional-etag-vary-headers", "R", F, [
    {"request_headers": [h("Abc", "123")], "pause_after": True,
     "response_headers": [h("Expires", 1), h("ETag", '"abcdef"'), h("Date", 0), h("Vary", "Abc")]},
    {"request_headers": [h("Abc", "123")], "expected_type": "etag_validated", "setup_checks": ["expected_type", "expected_status"],
     "expected_request_headers": [["Abc", "123"]]},
], depends_on=FMA)
add("conditional-etag-vary-headers-mismatch", "C", F, [
    {"request_headers": [h("Abc", "123")], "pause_after": True,
     "response_headers": [h("Expires", 1), h("ETag", '"abcdef"'), h("Date", 0), h("Vary", "Abc")]},
    {"request_headers": [h("Abc", "456")], "expected_request_headers": [["If-None-Match", '"abcdef"']]},
], depends_on=FMA)
for test_id, kind, etag, expect in (("conditional-etag-strong-generate", "O", '"abcdef"', "etag_validated"),
                                    ("conditional-etag-weak-generate-weak", "O", 'W/"abcdef"', "etag_validated"),
                                    ("conditional-etag-strong-generate-unquoted", "C", "abcdef", None)):
    reuse(test_id, kind, F, cc("max-age=2") + [h("ETag", etag), h("Date", 0)], expect, depends_on=FMA,
          second={"expected_request_headers": [["If-None-Match", etag if expect else '"abcdef"']]})
add("conditional-etag-forward", "C", F, [{"request_headers": inm('"abcdef"'), "setup": False,
                                          "expected_request_headers": [["If-None-Match", '"abcdef"']]}])
add("conditional-etag-forward-unquoted", "C", F, [{"request_headers": inm("abcdef"), "setup": False,
                                                   "expected_request_headers": [["If-None-Match", '"abcdef"']]}])
cond("conditional-lm-fresh", "O", fresh(h("Last-Modified", -3000)), [h("If-Modified-Since", ("prev-date", -3000))])
cond("conditional-lm-fresh-earlier", "O", fresh(h("Last-Modified", -3000)), [h("If-Modified-Since", ("prev-date", -2000))])
cond("conditional-lm-stale", "O", cc("max-age=2") + [h("Last-Modified", -3000), h("Date", 0)],
     [h("If-Modified-Since", ("prev-date", -3000))], second={"expected_type": "lm_validated"})
cond("conditional-lm-fresh-no-lm", "O", fresh(), [h("If-Modified-Since", ("prev-date", -3000))],
     second={"setup_checks": ["expected_type"]})
cond("conditional-lm-fresh-rfc850", "O", fresh(h("Last-Modified", -3000)), [h("If-Modified-Since", ("prev-date-rfc850", -3000))])

# update304 -----------------------------------------------------------------------------------
F = "update304"
LM304 = ["304-lm-use-stored-Test-Header"]
add("304-lm-use-stored-Test-Header", "R", F, [
    {"response_headers": cc("max-age=2") + [h("Last-Modified", "Wed, 01 Jan 2020 00:00:00 GMT"), h("Test-Header", "stored-value"), h("Date", 0)],
     "pause_after": True},
    {"expected_type": "lm_validated", "expected_response_headers": [["Test-Header", "stored-value"]]},
], depends_on=FMA)
for header, kind, old, new, update in (
    ("Test-Header", "R", rand_token(8), rand_token(8), True),
    ("X-Test-Header", "R", rand_token(8), rand_token(8), True),
    ("Content-Foo", "R", rand_token(8), rand_token(8), True),
    ("X-Content-Foo", "R", rand_token(8), rand_token(8), True),
    ("Cache-Control", "R", "max-age=1", "max-age=3600", True),
    ("Content-Length", "R", "5", "10", False),
    ("Content-Encoding", "C", rand_token(8), rand_token(8), True),
    ("Content-Location", "C", "/foo", "/bar", True),
    ("Content-MD5", "C", "rL0Y20zC+Fzt72VPzMSk2A==", "N7UdGUp1E+RbVvZSTy1R8g==", True),
    ("Content-Range", "C", rand_token(8), rand_token(8), True),
    ("Content-Security-Policy", "C", "default-src 'self'", "default-src 'self' cdn.example.com", True),
    ("Content-Type", "C", "text/plain", "text/plain;charset=utf-8", True),
    ("Clear-Site-Data", "C", "cache", "cookies", True),
    ("ETag", "C", '"abcdef"', '"ghijkl"', True),
    ("Expires", "C", "Fri, 01 Jan 2038 01:01:01 GMT", "Mon, 11 Jan 2038 11:11:11 GMT", True),
    ("Public-Key-Pins", "C", rand_token(8), rand_token(8), True),
    ("Set-Cookie", "C", "a=b", "a=c", True),
    ("Set-Cookie2", "C", "a=b", "a=c", True),
    ("X-Frame-Options", "C", "deny", "sameorigin", True),
    ("X-XSS-Protection", "C", "1", "1; mode=block", True),
):
    def with_header(value, max_age):
        base = [] if header == "Cache-Control" else cc(max_age)
        etag = [] if header == "ETag" else [h("ETag", '"abcdef"')]
        return base + etag + [h("Date", 0), h(header, value)]
    want = new if update else old
    check = [[header, want]]
    extra = {"check_body": False} if header == "Content-Length" else {}
    add("304-etag-update-response-" + header, kind, F, [
        dict({"response_headers": with_header(old, "max-age=2"), "pause_after": True}, **extra),
        dict({"response_headers": with_header(new, "max-age=2"), "expected_type": "etag_validated", "expected_response_headers": check}, **extra),
        dict({"expected_type": HIT, "expected_response_headers": check}, **extra),
    ], depends_on=LM304)

# update-head ---------------------------------------------------------------------------------
F = "update-head"
HW = ["head-writethrough"]
add("head-writethrough", "C", F, [{"response_headers": BECOME_STALE, "pause_after": True},
                                  {"method": "HEAD", "response_headers": BECOME_STALE, "expected_method": "HEAD"}], depends_on=FMA)
add("head-200-retain", "C", F, [{"response_headers": BECOME_STALE, "pause_after": True},
                                {"method": "HEAD", "response_headers": cc("max-age=2") + [h("Date", 0)],
                                 "expected_response_headers": [["Template-A", "1"]]}], depends_on=HW)
add("head-200-freshness-update", "C", F, [{"response_headers": BECOME_STALE, "pause_after": True},
                                          {"method": "HEAD", "response_headers": cc("max-age=1000") + [h("Date", 0)]},
                                          {"expected_type": HIT}], depends_on=HW)
add("head-200-update", "C", F, [{"response_headers": BECOME_STALE, "pause_after": True},
                                {"method": "HEAD", "response_headers": cc("max-age=1000") + [h("Date", 0), h("Template-A", "2")]},
                                {"expected_type": HIT, "expected_response_headers": [["Template-A", "2"]]}], depends_on=HW)
add("head-410-update", "C", F, [{"response_headers": BECOME_STALE, "pause_after": True},
                                {"method": "HEAD", "response_status": 410,
                                 "response_headers": cc("max-age=1000") + [h("Date", 0), h("Template-A", "2")]},
                                {"expected_type": HIT, "expected_response_headers": [["Template-A", "2"]]}], depends_on=HW)

# headers -------------------------------------------------------------------------------------
F = "headers"
reuse("headers-omit-headers-listed-in-Connection", "R", F,
      fresh(h("Connection", "a, b", False), h("a", "1", False), h("b", "2", False), h("c", "3")), HIT, depends_on=FMA,
      second={"setup_checks": ["expected_type"], "expected_response_headers": [["c", "3"]], "expected_response_headers_missing": ["a", "b"]})
for header, value in (
    ("Test-Header", rand_token(10)), ("X-Test-Header", rand_token(10)), ("Content-Foo", rand_token(10)),
    ("X-Content-Foo", rand_token(10)), ("Cache-Control", "max-age=3600"), ("Content-Encoding", rand_token(10)),
    ("Content-Length", "10"), ("Content-Location", "/bar"), ("Content-MD5", "N7UdGUp1E+RbVvZSTy1R8g=="),
    ("Content-Range", rand_token(10)), ("Content-Security-Policy", "default-src 'self' cdn.example.com"),
    ("Content-Type", "text/plain;charset=utf-8"), ("Clear-Site-Data", "cookies"), ("ETag", '"ghijkl"'),
    ("Expires", "Mon, 11 Jan 2038 11:11:11 GMT"), ("Public-Key-Pins", rand_token(10)), ("Set-Cookie", "a=c"),
    ("Set-Cookie2", "a=c"), ("X-Frame-Options", "sameorigin"), ("X-XSS-Protection", "1; mode=block"),
):
    base = [] if header == "Cache-Control" else cc("max-age=3600")
    extra = {"check_body": False} if header == "Content-Length" else {}
    reuse("headers-store-" + header, "R", F, [h("Date", 0)] + base + [h(header, value)], HIT, depends_on=FMA, first=dict(extra),
          second=dict(extra, setup_checks=["expected_type"], expected_response_headers=[[header, value]]))
for header in ("Connection", "Keep-Alive", "Proxy-Authenticate", "Proxy-Authentication-Info", "Proxy-Authorization",
               "Proxy-Connection", "TE", "Transfer-Encoding", "Upgrade"):
    token = rand_token(10)
    reuse("headers-store-" + header, "R", F, [h("Date", 0)] + cc("max-age=3600") + [h(header, token, False)], HIT,
          depends_on=FMA, first={"check_body": False},
          second={"setup_checks": ["expected_type"], "check_body": False, "expected_response_headers_missing": [[header, token]]})

# status --------------------------------------------------------------------------------------
F = "status"
for code in (200, 203, 204, 299, 301, 302, 303, 307, 308, 400, 404, 410, 499, 500, 502, 503, 504, 599):
    flags = "S" if 300 <= code < 400 else ""
    fresh_resp = {"response_status": code, "response_headers": fresh()}
    add("status-%d-fresh" % code, "O", F, [dict(fresh_resp, pause_after=True), dict(fresh_resp, expected_type=HIT)],
        flags, depends_on=FMA)
    stale_resp = {"response_status": code, "response_headers": [h("Expires", -5000), h("Last-Modified", -100000), h("Date", 0)]}
    add("status-%d-stale" % code, "R", F, [dict(stale_resp), dict(stale_resp, expected_type=NOT)], flags, depends_on=FMA)

# vary ----------------------------------------------------------------------------------------
F = "vary"
VM = ["vary-match"]


def vary(test_id, kind, vary_value, first_headers, second_headers, expect, depends_on=VM, check=True, file="vary"):
    requests = [
        {"request_headers": first_headers,
         "response_headers": cc("max-age=5000") + [h("Last-Modified", -3000), h("Date", 0)] + [h("Vary", v, check) for v in vary_value]},
        {"request_headers": second_headers, "expected_type": expect},
    ]
    add(test_id, kind, file, requests, depends_on=depends_on)


vary("vary-match", "O", ["Foo"], [h("Foo", "1")], [h("Foo", "1")], HIT, depends_on=FMA)
vary("vary-no-match", "R", ["Foo"], [h("Foo", "1")], [h("Foo", "2")], NOT)
vary("vary-omit-stored", "R", ["Foo"], [], [h("Foo", "1")], NOT)
vary("vary-omit", "R", ["Foo"], [h("Foo", "1")], [], NOT)
add("vary-invalidate", "O", F, [
    {"request_headers": [h("Foo", "1")], "response_body": "foo_1",
     "response_headers": cc("max-age=5000") + [h("Last-Modified", -3000), h("Date", 0), h("Vary", "Foo")]},
    {"request_headers": [h("Foo", "2")], "response_body": "foo_2", "expected_type": NOT,
     "response_headers": cc("max-age=5000") + [h("Last-Modified", -3000), h("Date", 0), h("Vary", "Foo")]},
    {"request_headers": [h("Foo", "1")], "expected_type": HIT, "expected_response_text": "foo_1"},
], depends_on=VM)
vary("vary-cache-key", "O", ["Foo"], [h("Foo", "1"), h("Other", "2")], [h("Foo", "1"), h("Other", "3")], HIT)
FB = [h("Foo", "1"), h("Bar", "abc")]
vary("vary-2-match", "O", ["Foo, Bar"], FB, FB, HIT, check=False)
vary("vary-2-no-match", "R", ["Foo, Bar"], FB, [h("Foo", "2"), h("Bar", "abc")], NOT, check=False)
vary("vary-2-match-omit", "R", ["Foo, Bar"], FB, [], NOT, check=False)
FBB = [h("Foo", "1"), h("Bar", "abc"), h("Baz", "789")]
vary("vary-3-match", "O", ["Foo, Bar, Baz"], FBB, FBB, HIT, check=False)
vary("vary-3-no-match", "R", ["Foo, Bar, Baz"], FBB, [h("Foo", "2"), h("Bar", "abc"), h("Baz", "789")], NOT, check=False)
vary("vary-3-order", "R", ["Foo, Bar, Baz"], FBB, [h("Baz", "789"), h("Bar", "abcde"), h("Foo", "1")], NOT, check=False)
vary("vary-3-omit", "O", ["Foo, Bar, Baz"], [h("Foo", "1"), h("Baz", "789")], [h("Foo", "1"), h("Baz", "789")], HIT, check=False)
vary("vary-star", "R", ["*"], [h("Foo", "1")], [h("Foo", "1")], NOT)
vary("vary-normalise-combine", "O", ["Foo"], [h("Foo", "1, 2")], [h("Foo", "1"), h("Foo", "2")], HIT)
AL = "Accept-Language"
vary("vary-normalise-lang-order", "O", [AL], [h(AL, "en, de")], [h(AL, "de, en")], HIT)
vary("vary-normalise-lang-case", "O", [AL], [h(AL, "en, de")], [h(AL, "eN, De")], HIT)
vary("vary-normalise-lang-space", "O", [AL], [h(AL, "en, de")], [h(AL, " en ,   de")], HIT)
add("vary-normalise-lang-select", "O", F, [
    {"request_headers": [h(AL, "en, de")],
     "response_headers": cc("max-age=5000") + [h("Last-Modified", -3000), h("Date", 0), h("Vary", AL), h("Content-Language", "de")]},
    {"request_headers": [h(AL, "fr;q=0.5, de;q=1.0")], "expected_type": HIT},
], depends_on=VM)
vary("vary-normalise-space", "O", ["Foo"], [h("Foo", "1,2")], [h("Foo", "  1, 2 ")], HIT)

# vary-parse ----------------------------------------------------------------------------------
F = "vary-parse"
FZ = [h("Foo", "1"), h("Baz", "789")]
for test_id, values in (("vary-syntax-star", ["*"]), ("vary-syntax-star-star", ["*, *"]), ("vary-syntax-star-star-lines", ["*", "*"]),
                        ("vary-syntax-empty-star", [", *"]), ("vary-syntax-empty-star-lines", ["", "*"]),
                        ("vary-syntax-star-foo", ["*, Foo"]), ("vary-syntax-foo-star", ["Foo, *"])):
    vary(test_id, "R", values, FZ, FZ, NOT, check=False, file=F)

# invalidation --------------------------------------------------------------------------------
F = "invalidation"
for method in ("POST", "PUT", "DELETE", "M-SEARCH"):
    unsafe = {"method": method, "request_body": "abc"}
    add("invalidate-" + method, "R", F, [
        {"response_headers": fresh(), "pause_after": True},
        dict(unsafe, expected_type=NOT),
        {"expected_type": NOT},
    ], depends_on=FMA)
    add("invalidate-%s-failed" % method, "O", F, [
        {"response_headers": fresh(), "pause_after": True},
        dict(unsafe, response_status=500, expected_type=NOT),
        {"expected_type": HIT},
    ], depends_on=FMA)
    for suffix, field, target in (("location", "Location", "location_target"), ("cl", "Content-Location", "content_location_target")):
        add("invalidate-%s-%s" % (method, suffix), "C", F, [
            {"filename": target, "response_headers": fresh(), "pause_after": True},
            dict(unsafe, magic_locations=True, response_headers=[h(field, target)], expected_type=NOT),
            {"filename": target, "expected_type": NOT},
        ], depends_on=FMA)

# partial -------------------------------------------------------------------------------------
F = "partial"


def partial_206(extra_second):
    return [
        {"request_headers": [h("Range", "bytes=-5")], "expected_request_headers": [["Range", "bytes=-5"]],
         "response_status": [206, "Partial Content"], "response_body": "01234",
         "response_headers": cc("max-age=3600") + [h("Content-Range", "bytes 4-9/10"), h("Date", 0)]},
        dict({"expected_type": HIT, "expected_status": 206}, **extra_second),
    ]


add("partial-store-partial-reuse-partial", "O", F, partial_206({"request_headers": [h("Range", "bytes=-5")], "expected_response_text": "01234"}), depends_on=FMA)
for test_id, body, rng, want in (("partial-store-complete-reuse-partial", "01234567890", "bytes=0-1", "01"),
                                 ("partial-store-complete-reuse-partial-no-last", "01234567890", "bytes=1-", "1234567890"),
                                 ("partial-store-complete-reuse-partial-suffix", "0123456789A", "bytes=-1", "A")):
    add(test_id, "O", F, [{"response_body": body, "response_headers": cc("max-age=3600") + [h("Date", 0)]},
                          {"request_headers": [h("Range", rng)], "expected_type": HIT, "expected_status": 206,
                           "expected_response_text": want}], depends_on=FMA)
for test_id, rng, want in (("partial-store-partial-reuse-partial-byterange", "bytes=6-8", "234"),
                           ("partial-store-partial-reuse-partial-absent", "bytes=6-", "234"),
                           ("partial-store-partial-reuse-partial-suffix", "bytes=-1", "4")):
    add(test_id, "O", F, partial_206({"request_headers": [h("Range", rng)], "expected_response_text": want}), depends_on=FMA)
add("partial-store-partial-complete", "O", F, [
    {"request_headers": [h("Range", "bytes=0-4")], "response_status": [206, "Partial Content"], "response_body": "01234",
     "response_headers": cc("max-age=3600") + [h("Content-Range", "bytes 0-4/10"), h("Date", 0)]},
    {"response_status": [206, "Partial Content"], "response_body": "56789",
     "response_headers": cc("max-age=3600") + [h("Content-Range", "bytes 5-9/10"), h("Date", 0)],
     "expected_request_headers": [["Range", "bytes=5-"]], "expected_status": None, "check_body": False},
], depends_on=FMA)
for test_id, extra in (("partial-use-headers", {}), ("partial-use-stored-headers", {"expected_response_headers": [["A", "1"]]})):
    add(test_id, "R", F, [
        {"response_body": "01234567890", "response_headers": cc("max-age=3600") + [h("Date", 0), h("A", "1")]},
        dict({"request_headers": [h("Range", "bytes=0-1")], "expected_type": HIT, "expected_status": 206, "expected_response_text": "01",
              "setup_checks": ["expected_type", "expected_status", "expected_response_text"]}, **extra),
    ], depends_on=FMA)

# method --------------------------------------------------------------------------------------
add("method-POST", "O", "method", [
    {"method": "POST", "request_body": "12345", "request_headers": [h("Content-Type", "text/plain")], "magic_locations": True,
     "response_headers": [h("Expires", 30 * DAY), h("Date", 0), h("Content-Location", "")], "pause_after": True},
    {"expected_type": HIT},
], depends_on=FMA)

# pragma --------------------------------------------------------------------------------------
F = "pragma"
reuse("pragma-request-no-cache", "C", F, cc("max-age=3600"), HIT, pause=False, depends_on=FMA,
      second={"request_headers": [h("Pragma", "no-cache")]})
reuse("pragma-request-extension", "C", F, cc("max-age=3600"), HIT, pause=False, depends_on=FMA,
      second={"request_headers": [h("Pragma", "unrecognised-extension")]})
reuse("pragma-response-no-cache", "C", F, cc("max-age=3600") + [h("Pragma", "no-cache")], HIT, pause=False, depends_on=FMA)
reuse("pragma-response-no-cache-heuristic", "C", F, [h("Last-Modified", -10000), h("Date", 0), h("Pragma", "no-cache")], HIT,
      pause=False, depends_on=["heuristic-200-cached"])
reuse("pragma-response-extension", "C", F, cc("max-age=3600") + [h("Pragma", "unrecognised-extension")], HIT, pause=False, depends_on=FMA)

# authorization -------------------------------------------------------------------------------
F = "authorization"
AUTH = {"request_headers": [h("Authorization", "FOO")], "expected_request_headers": [["Authorization", "FOO"]]}
reuse("other-authorization", "R", F, fresh(), NOT, flags="S", first=AUTH, depends_on=FMA)
reuse("other-authorization-public", "O", F, cc("max-age=3600, public"), HIT, flags="S", first=AUTH, depends_on=FMA)
reuse("other-authorization-must-revalidate", "O", F, cc("max-age=3600, must-revalidate"), HIT, flags="S", first=AUTH, depends_on=FMA)
reuse("other-authorization-smaxage", "O", F, cc("s-maxage=3600"), HIT, flags="S", first=AUTH, depends_on=FMA)

# interim -------------------------------------------------------------------------------------
F = "interim"
EARLY = [103, [["Link", "</styles.css>; rel=preload; as=style"], ["x-my-header", "test"]]]
add("interim-102", "O", F, [{"response_headers": fresh(), "interim_responses": [[102, []]], "pause_after": True,
                             "expected_interim": [[102, []]]},
                            {"expected_type": HIT}], flags="S", first_setup=False)
add("interim-103", "O", F, [{"response_headers": fresh(), "interim_responses": [EARLY], "pause_after": True,
                             "expected_interim": [[103, [["Link", "</styles.css>; rel=preload; as=style"], ["x-my-header", "test"]]]]},
                            {"expected_type": HIT}], flags="S", first_setup=False)
add("interim-not-cached", "R", F, [{"response_headers": fresh(), "interim_responses": [EARLY], "pause_after": True},
                                   {"expected_type": HIT, "setup_checks": ["expected_type"], "expected_interim": []}],
    flags="S", first_setup=False)
add("interim-no-header-reuse", "O", F, [{"response_headers": fresh(), "interim_responses": [EARLY], "pause_after": True,
                                         "expected_response_headers_missing": ["x-my-header"]},
                                        {"expected_type": HIT, "expected_response_headers_missing": ["x-my-header"]}],
    flags="S", first_setup=False)

# other ---------------------------------------------------------------------------------------
F = "other"
reuse("other-age-gen", "R", F, fresh(), HIT, depends_on=FMA,
      second={"setup_checks": ["expected_type"], "expected_response_headers": [["Age", [">", 2]]]})
add("other-age-delay", "C", F, [{"setup": False, "response_pause": 5, "response_headers": cc("max-age=3600") + [h("Date", 0)],
                                 "expected_response_headers": [["Age", [">", 0]]]}])
reuse("other-age-update-expires", "R", F, [h("Expires", 30 * DAY), h("Date", 0), h("Age", "30")], HIT, depends_on=FMA,
      second={"setup_checks": ["expected_type"], "expected_response_headers": [["Age", [">", 32]]]})
reuse("other-age-update-max-age", "R", F, fresh(h("Age", "30")), HIT, depends_on=FMA,
      second={"setup_checks": ["expected_type"], "expected_response_headers": [["Age", [">", 32]]]})
reuse("other-date-update", "R", F, fresh(), HIT, depends_on=FMA,
      second={"setup_checks": ["expected_type"], "expected_response_headers": [["Date", 0]]})
reuse("other-date-update-expires", "R", F, [h("Expires", 30 * DAY), h("Date", 0)], HIT, depends_on=FMA,
      second={"setup_checks": ["expected_type"], "expected_response_headers": [["Date", 0]]})
reuse("other-date-update-expires-update", "C", F, [h("Expires", 30 * DAY), h("Date", 0)], HIT, depends_on=FMA,
      second={"setup_checks": ["expected_type"], "expected_response_headers": [["Expires", 30 * DAY]]})
reuse("query-args-different", "R", F, fresh(), NOT, depends_on=FMA, first={"query_arg": "test=<random>"},
      second={"query_arg": "test=" + "z" * 15})
reuse("query-args-same", "O", F, fresh(), HIT, depends_on=FMA, first={"query_arg": "test=<random>"},
      second={"query_arg": "test=<random>"})
CD = h("Content-Disposition", "attachment; filename=example.txt")
reuse("other-heuristic-content-disposition-attachment", "C", F, [h("Last-Modified", -100000), h("Date", 0), CD], HIT, pause=False,
      depends_on=["heuristic-200-cached"])
reuse("other-fresh-content-disposition-attachment", "C", F, fresh(CD), HIT, depends_on=FMA)
reuse("other-set-cookie", "O", F, fresh(h("Set-Cookie", "a=b")), HIT, depends_on=FMA,
      second={"expected_response_headers": [["Set-Cookie", "a=b"]]})
reuse("other-cookie", "O", F, fresh(), HIT, depends_on=FMA, second={"request_headers": [h("Cookie", "a=b")]})


# cdn-cache-control and surrogate-control -----------------------------------------------------
def targeted(prefix, field, file, flags, token_suffix=""):
    root = [prefix + "-max-age"]

    def t(test_id, kind, headers, expect, depends_on=root, pause=True, second=None):
        reuse(test_id, kind, file, headers, expect, pause, flags=flags, depends_on=depends_on, second=second)

    def f(value, check=False):
        return h(field, value, check)

    t(prefix + "-max-age", "O", [f("max-age=3600")], HIT, depends_on=["freshness-none"])
    t(prefix + "-max-age-max", "O", [f("max-age=2147483648")], HIT, depends_on=["freshness-none"])
    t(prefix + "-max-age-max-plus", "O", [f("max-age=99999999999")], HIT, depends_on=["freshness-none"])
    t(prefix + "-max-age-age", "R", [h("Date", 0), f("max-age=3600"), h("Age", "7200")], NOT)
    t(prefix + "-max-age-space-before-equals", "C", cc("max-age=1") + [f("max-age =100")], NOT)
    t(prefix + "-max-age-space-after-equals", "C", cc("max-age=1") + [f("max-age= 100")], NOT)
    t(prefix + "-max-age-0", "R", [f("max-age=0")], NOT)
    t(prefix + "-max-age-extension", "O", [f("foobar, max-age=3600")], HIT)
    t(prefix + "-max-age-case-insensitive", "C" if prefix == "cdn" else "O", [f("MaX-aGe=3600")], HIT)
    t(prefix + "-max-age-expires", "O", [f("max-age=3600"), h("Expires", -10000), h("Date", 0)], HIT)
    t(prefix + "-max-age-cc-max-age-invalid-expires", "O", [f("max-age=3600"), h("Expires", "0", False), h("Date", 0)], HIT)
    t(prefix + "-max-age-0-expires", "R", [f("max-age=0"), h("Expires", 10000), h("Date", 0)], NOT)
    t(prefix + "-max-age-short-cc-max-age", "O", cc("max-age=1") + [f("max-age=3600")], HIT)
    t(prefix + "-max-age-long-cc-max-age", "R", cc("max-age=3600") + [f("max-age=1")], NOT)
    # The public suite's dependencies: these two build on `freshness-none` only, not on the
    # optional `-max-age` root, so a cache that ignores the field fails them instead of hiding.
    t(prefix + "-no-store-cc-fresh", "R", cc("max-age=10000") + [f("no-store"), h("Expires", 10000), h("Date", 0)], NOT,
      depends_on=["freshness-none"])
    t(prefix + "-fresh-cc-nostore", "R*", cc("no-store") + [f("max-age=10000" + token_suffix)], HIT, depends_on=["freshness-none"])
    return t, f


t, f = targeted("cdn", "CDN-Cache-Control", "cdn-cache-control", "CDN")
# No dependencies, no pause, as in the public suite. The field itself is not compared: RFC 9213
# lets a CDN keep it to itself, and minicache does not forward the fields it obeys.
t("cdn-private", "R", [f("private")] + cc("max-age=10000") + [h("Expires", 10000), h("Date", 0)], NOT, depends_on=[], pause=False)
t("cdn-no-cache", "R", [f("no-cache")] + cc("max-age=10000") + [h("Expires", 10000), h("Date", 0)], NOT, depends_on=[], pause=False)
t("cdn-cc-invalid-sh-type-unknown", "R*", [f("max-age=10000, &&&&&")] + cc("no-store"), NOT)
t("cdn-cc-invalid-sh-type-wrong", "R*", [f('max-age="10000"')] + cc("no-store"), NOT)
add("cdn-remove-header", "C", "cdn-cache-control",
    [{"response_headers": cc("max-age=10000") + [f("foo"), h("Expires", 10000), h("Date", 0)],
      "expected_response_headers": [["CDN-Cache-Control", "foo"]]}], flags="CDN", first_setup=False)
t("cdn-remove-age-exceed", "C", cc("max-age=1") + [f("max-age=10000")], HIT, second={"expected_response_headers": [["Age", True]]})
t("cdn-date-update-exceed", "C", cc("max-age=1") + [f("max-age=10000"), h("Date", 0)], HIT,
  second={"expected_response_headers": [["Date", 0]]})
t("cdn-expires-update-exceed", "C", cc("max-age=1") + [f("max-age=10000"), h("Date", 0), h("Expires", 1)], HIT,
  second={"expected_response_headers": [["Expires", 1]]})

t, f = targeted("surrogate", "Surrogate-Control", "surrogate-control", "S", token_suffix=";<device-token>")
t("surrogate-max-age-me-target", "O", [f("max-age=3600;<device-token>")], HIT)
t("surrogate-max-age-other-target", "R", [f("max-age=3600;not-for-you"), h("Age", "7200")], NOT)
t("surrogate-no-store", "R", [f("no-store")], NOT)
t("surrogate-remove-header", "C", cc("max-age=3600") + [f("foo")], HIT, second={"expected_response_headers": [["Surrogate-Control", True]]})
add("surrogate-append-capabilities", "C", "surrogate-control",
    [{"setup": False, "expected_request_headers": [["Surrogate-Capability", True]]}], flags="S")


# ---------------------------------------------------------------------------------------------
# Running


FAILING = {"FAIL", "setup-failure"}


def outcome(test, result, reason):
    """Maps a raw result (pass / fail / setup / retry) to what the table shows for the test's kind."""
    kind = test["kind"]
    if result == "fail":
        return ("no" if kind == "C" else "not-optimal" if kind == "O" else "FAIL"), reason
    if result == "pass":
        return ("yes" if kind == "C" else "pass"), reason
    return result, reason


def execute(test, base, origin, direct, done, results, ignore_dependencies=False):
    for dep in [] if ignore_dependencies else test["depends_on"]:
        done[dep].wait()
        dep_result = results[dep][0]
        if dep_result not in ("pass", "yes"):
            return "dependency-failure", "%s: %s" % (dep, dep_result)
    try:
        result, reason = run_test(test, base, origin, direct)
    except Failure as failure:
        result, reason = ("setup-failure" if failure.setup else "fail"), str(failure)
    except Exception as error:  # a runner bug must not hide the other results
        result, reason = "setup-failure", "runner error: %s: %s" % (type(error).__name__, error)
    return outcome(test, result, reason)


def ordered(tests):
    """Tests in an order where every dependency comes before the tests that wait for it."""
    by_id = {t["id"]: t for t in tests}
    seen, out = set(), []

    def visit(t):
        if t["id"] in seen:
            return
        seen.add(t["id"])
        for dep in t["depends_on"]:
            visit(by_id[dep])
        out.append(t)

    for t in tests:
        visit(t)
    return out


def select(pattern):
    if not pattern:
        return TESTS
    by_id = {t["id"]: t for t in TESTS}
    chosen = {t["id"] for t in TESTS if any(fnmatch.fnmatch(t["id"], p) or fnmatch.fnmatch(t["file"], p) for p in pattern.split(","))}
    # Dependencies run too (they decide whether a test is judged at all) but are reported as such.
    stack = list(chosen)
    while stack:
        for dep in by_id[stack.pop()]["depends_on"]:
            if dep not in chosen:
                chosen.add(dep)
                stack.append(dep)
    return [t for t in TESTS if t["id"] in chosen]


def self_test(jobs):
    """Checks the runner itself: every test against the origin alone (a 'cache' that stores nothing).

    There, a test that expects a stored response must not pass, and a test that only expects origin
    answers must pass; any other verdict is a bug in the runner's origin, client or judging."""
    origin = Origin()
    base = "http://127.0.0.1:%d" % origin.port
    done = {t["id"]: threading.Event() for t in TESTS}
    results = {}

    def job(t):
        results[t["id"]] = execute(t, base, origin, False, done, results, ignore_dependencies=True)
        done[t["id"]].set()

    with concurrent.futures.ThreadPoolExecutor(max_workers=jobs) as pool:
        list(pool.map(job, TESTS))
    judged = {"expected_response_headers", "expected_response_headers_missing", "expected_request_headers",
              "expected_interim", "expected_method", "expected_status"}
    wrong, constrained = [], 0
    for t in TESTS:
        result, reason = results[t["id"]]
        types = [r.get("expected_type") for r in t["requests"]]
        if "cached" in types and result in ("pass", "yes"):
            wrong.append("%s: passed without a cache" % t["id"])
        only_origin = all(ty in (None, "not_cached") for ty in types) and not any(judged & set(r) for r in t["requests"])
        constrained += "cached" in types or only_origin
        if only_origin and result not in ("pass", "yes"):
            wrong.append("%s: %s without a cache (%s)" % (t["id"], result, reason))
    for line in wrong:
        print("self-test: " + line)
    print("self-test: %d tests run against the origin alone, %d with a known verdict, %d verdicts wrong" % (
        len(TESTS), constrained, len(wrong)))
    return 1 if wrong else 0


def start_cache(args, origin_port, workdir):
    """Starts `minicache serve` on a fresh volume; returns (process, base URL)."""
    volume = os.path.join(workdir, "cache.shfs")
    ready = os.path.join(workdir, "ready")
    mkfs = subprocess.run([args.shfs, "mkfs", volume, "--size", args.volume_size, "--name", "conformance"],
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if mkfs.returncode != 0:
        die("`%s mkfs` failed:\n%s" % (args.shfs, mkfs.stdout))
    log = open(os.path.join(workdir, "minicache.log"), "w")
    command = [args.minicache, "serve", volume, "--origin", "http://127.0.0.1:%d" % origin_port,
               "--listen", "127.0.0.1:0", "--admin", "off", "--ready-file", ready, "--surrogate-control"]
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.time() + 30
    while time.time() < deadline:
        if process.poll() is not None:
            die("minicache exited with %d; its log: %s" % (process.returncode, log.name))
        if os.path.exists(ready) and open(ready).read().strip():
            return process, open(ready).read().strip().rstrip("/")
        time.sleep(0.05)
    process.terminate()
    die("minicache did not write its ready file within 30 s; its log: %s" % log.name)


def find_binary(given, name):
    if given:
        return given
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    for scratch in (".build-shfs", ".build"):
        candidate = os.path.join(here, scratch, "debug", name)
        if os.access(candidate, os.X_OK):
            return candidate
    return shutil.which(name) or name


def main():
    parser = argparse.ArgumentParser(
        description="Run the RFC 9111 shared-cache conformance tests against minicache (or any reverse-proxy cache). "
                    "The runner starts its own origin on 127.0.0.1:0 and, unless --base is given, starts "
                    "`minicache serve` on a fresh SHFS volume with --origin pointing at it.",
        epilog="Results: pass / FAIL (required), not-optimal (optimal), yes / no (checks), setup-failure, "
               "dependency-failure, retry. Exit status 1 when a required test is FAIL or setup-failure. "
               "Example: scripts/cache-conformance.py --only 'vary*,stale' --jobs 16")
    parser.add_argument("--minicache", help="the minicache binary (default: .build-shfs/debug/minicache, then PATH)")
    parser.add_argument("--shfs", help="the shfs binary used to create the volume (default: next to minicache)")
    parser.add_argument("--base", help="URL of an already running cache whose origin is this runner's origin "
                                       "(use with --origin-port so the cache can be pointed at it first)")
    parser.add_argument("--origin-port", type=int, default=0, help="port for the runner's origin (default: any free port)")
    parser.add_argument("--only", help="comma-separated glob patterns of test ids or file names, e.g. 'vary*,stale'")
    parser.add_argument("--jobs", type=int, default=8, help="tests run at once (default 8)")
    parser.add_argument("--json", metavar="OUT", help="also write the results as JSON to this file")
    parser.add_argument("--markdown", metavar="OUT", help="also write the totals and every test that did not pass as Markdown")
    parser.add_argument("--label", default="", help="what was tested (e.g. a branch and commit), for --json and --markdown")
    parser.add_argument("--volume-size", default="512M", help="size of the fresh cache volume (default 512M)")
    parser.add_argument("--direct-config", action="store_true",
                        help="debugging aid: give test configurations to the origin directly and read its state "
                             "directly instead of through the cache (for a cache that refuses PUT); such a run is "
                             "not a conformance result")
    parser.add_argument("--ignore-dependencies", action="store_true",
                        help="debugging aid: judge every test even when a test it builds on did not pass")
    parser.add_argument("--self-test", action="store_true",
                        help="check the runner itself: run every test against its origin with no cache in between")
    parser.add_argument("--accept", default="", metavar="IDS",
                        help="comma-separated ids of required tests whose failure is a documented deviation "
                             "(docs/conformance.md): reported, but not counted in the exit status")
    parser.add_argument("--list", action="store_true", help="list the tests and exit")
    parser.add_argument("--quiet", action="store_true", help="print only failures and the totals")
    args = parser.parse_args()

    if args.self_test:
        return self_test(max(args.jobs, 32))
    tests = select(args.only)
    if args.list:
        for t in tests:
            print("%-60s %-3s %-4s %s" % (t["id"], t["kind"], t["flags"], t["file"]))
        return 0
    if not tests:
        die("no test matches %r (see --list)" % args.only)
    origin = Origin(args.origin_port)
    workdir = tempfile.mkdtemp(prefix="cache-conformance.")
    process = None
    if args.base:
        base = args.base.rstrip("/")
        target = base
    else:
        args.minicache = find_binary(args.minicache, "minicache")
        args.shfs = args.shfs or os.path.join(os.path.dirname(args.minicache), "shfs")
        for path, product in ((args.minicache, "minicache"), (args.shfs, "shfs")):
            if not (os.path.isfile(path) and os.access(path, os.X_OK)):
                die("no %s binary at %s: build it with `swift build --scratch-path .build-shfs --product %s`, "
                    "or pass --%s PATH (or --base URL for a cache that is already running)" % (product, path, product, product))
        process, base = start_cache(args, origin.port, workdir)
        target = "%s (%s)" % (base, args.minicache)
    print("origin http://127.0.0.1:%d, cache %s, %d tests, %d at a time%s" % (
        origin.port, target, len(tests), args.jobs, ", configuration given directly (not a conformance run)" if args.direct_config else ""),
        file=sys.stderr)
    started = time.time()
    results = {}
    done = {t["id"]: threading.Event() for t in tests}
    order = ordered(tests)
    finished = [0]
    lock = threading.Lock()

    def job(t):
        try:
            results[t["id"]] = execute(t, base, origin, args.direct_config, done, results, args.ignore_dependencies)
        finally:
            done[t["id"]].set()
            with lock:
                finished[0] += 1
                if sys.stderr.isatty():
                    print("\r%d/%d tests, %.0f s" % (finished[0], len(order), time.time() - started), end="", file=sys.stderr)

    try:
        with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
            list(pool.map(job, order))
    finally:
        if process is not None:
            if process.poll() is not None:
                print("cache-conformance: minicache exited with status %d during the run; later tests could not "
                      "reach it (log: %s)" % (process.returncode, os.path.join(workdir, "minicache.log")), file=sys.stderr)
            process.terminate()
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
    elapsed = time.time() - started
    if sys.stderr.isatty():
        print(file=sys.stderr)
    return report(tests, results, args, elapsed, workdir if process else None, target)


def report(tests, results, args, elapsed, workdir, target):
    width = max(len(t["id"]) for t in tests)
    current = None
    for t in tests:
        result, reason = results[t["id"]]
        if args.quiet and result in ("pass", "yes"):
            continue
        if t["file"] != current:
            current = t["file"]
            print("\n## %s" % current)
        kind = t["kind"] + (" " + t["flags"] if t["flags"] else "")
        print("%-*s  %-6s  %-18s  %s" % (width, t["id"], kind, result, reason))
    outcomes = ["pass", "FAIL", "not-optimal", "yes", "no", "setup-failure", "dependency-failure", "retry"]
    print("\nTotals (%d tests, %.0f s)" % (len(tests), elapsed))
    totals = {}
    for kind in ("R", "R*", "O", "C"):
        counts = {o: 0 for o in outcomes}
        for t in tests:
            if t["kind"] == kind:
                counts[results[t["id"]][0]] += 1
        totals[kind] = {o: n for o, n in counts.items() if n}
        if totals[kind]:
            print("  %-3s %4d  %s" % (kind, sum(counts.values()), ", ".join("%s %d" % (o, n) for o, n in totals[kind].items())))
    if workdir:
        os.remove(os.path.join(workdir, "cache.shfs"))
        print("cache log: %s" % os.path.join(workdir, "minicache.log"))
    if args.json:
        with open(args.json, "w") as out:
            json.dump({"date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "seconds": round(elapsed), "tested": args.label or target,
                       "direct_config": args.direct_config, "totals": totals,
                       "tests": [{"id": t["id"], "file": t["file"], "kind": t["kind"], "flags": t["flags"],
                                  "result": results[t["id"]][0], "reason": results[t["id"]][1]} for t in tests]}, out, indent=1)
    if args.markdown:
        write_markdown(args.markdown, tests, results, totals, args, elapsed, target)
    accepted = set(filter(None, args.accept.split(",")))
    failed = [t["id"] for t in tests if t["kind"] in ("R", "R*") and results[t["id"]][0] in FAILING]
    for test_id in failed:
        print("required test failed: %s%s" % (test_id, " (accepted deviation)" if test_id in accepted else ""))
    return 1 if set(failed) - accepted else 0


def write_markdown(path, tests, results, totals, args, elapsed, target):
    lines = ["# Cache conformance results", "",
             "- date: %s" % time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
             "- tested: %s" % (args.label or target),
             "- command: `scripts/cache-conformance.py %s`" % shlex.join(sys.argv[1:]),
             "- %d tests in %.0f s%s" % (len(tests), elapsed, "; configuration given directly (not a conformance run)" if args.direct_config else ""),
             "", "| kind | tests | results |", "| --- | ---: | --- |"]
    for kind, counts in totals.items():
        if counts:
            lines.append("| %s | %d | %s |" % (kind, sum(counts.values()), ", ".join("%s %d" % (o, n) for o, n in counts.items())))
    for title, wanted in (("Required tests that failed (FAIL, setup-failure)", lambda t, r: t["kind"] in ("R", "R*") and r in FAILING),
                          ("Required tests not judged (dependency-failure) or to review (retry)",
                           lambda t, r: t["kind"] in ("R", "R*") and r in ("dependency-failure", "retry")),
                          ("Optimal tests not met", lambda t, r: t["kind"] == "O" and r not in ("pass",)),
                          ("Checks answered no (informational)", lambda t, r: t["kind"] == "C" and r not in ("yes",))):
        rows = [t for t in tests if wanted(t, results[t["id"]][0])]
        lines += ["", "## %s: %d" % (title, len(rows)), ""]
        if rows:
            lines += ["| test | kind | result | reason |", "| --- | --- | --- | --- |"]
            for t in rows:
                result, reason = results[t["id"]]
                kind = t["kind"] + (" " + t["flags"] if t["flags"] else "")
                lines.append("| `%s` | %s | %s | %s |" % (t["id"], kind, result, reason.replace("|", "\\|")))
    with open(path, "w") as out:
        out.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    sys.exit(main())
