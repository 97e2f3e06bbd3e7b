#!/usr/bin/env python3
"""OpenAI-compatible chat-completion test server for llmc.

The server deliberately controls every byte it writes so tests can exercise
unusual but legal HTTP/SSE encodings as well as broken responses. It uses raw
sockets (no http.server) and supports HTTP/1.1 keep-alive and optional TLS.

Behaviour of a chat request is selected by a "scenario": a query string taken
from the request's model name after a '?' (for example
``model="t?framing=length&eol=cr"``) or, when the model carries none, from the
``--scenario`` command-line default. See SCENARIO OPTIONS below.

Endpoints
  POST .../chat/completions   chat endpoint (any path prefix)
  GET  /stats                 counters and the last request, as JSON
  POST /stats/reset           zero the counters
  POST /api/v1/auth/token     IAM token issue (Cloud.ru Evolution style)
  POST /iam/revoke            revoke every issued IAM token

/stats also holds "request_times": the server's monotonic clock (seconds,
float) when each request to the chat endpoint arrived, in order, including
requests refused for their credentials, "tls_close_notify": how many
TLS connections the client ended with a close_notify alert (read while the
server waited for the next request) rather than a bare TCP close, and
"tokens_refused": the Authorization values of chat requests whose IAM token
was not one issued and still valid.

/stats, /stats/reset and /iam/revoke are control requests: they are not
counted in "requests", do not change "last_request", and a connection whose
first request is a control request is not counted in "connections"/"open".

SCENARIO OPTIONS (all optional)
  framing=chunked|length|close   body framing (default chunked)
  eol=lf|crlf|cr                 SSE line ending (default lf)
  comments=1                     ": OPENROUTER PROCESSING" + blank line before
                                 the first event, ": keep-alive" comment lines
                                 directly before each following event
  multiline=1                    split event JSON over several data: lines
                                 (with comments=1 a comment line is also
                                 placed between the data lines of an event)
  space=0                        "data:{...}" instead of "data: {...}"
  text=STR                       answer content (default: echo last message)
  size=N                         N bytes of deterministic ASCII content
  piece=K                        K code points per content event (default 4)
  ascii=1                        \\uXXXX-escape all non-ASCII in JSON
  finish=STR                     finish_reason (default stop)
  usage=1                        send the usage event even if not requested
  usage=0                        send no usage at all, even when requested
                                 (as some OpenAI-compatible servers do)
  done=0                         omit "data: [DONE]"
  write=N                        write the response in N-byte slices, 1 ms apart
  chunk=N                        regroup the body into N-byte units regardless
                                 of event boundaries: one chunk each
                                 (chunked) or one write each (length/close);
                                 units never span a delay or reset
  status=N                       error status with an OpenAI error body
  msg=STR                        error message text
  retry_after=S                  add "Retry-After: S"
  retry_after_ms=N               add "retry-after-ms: N"
  should_retry=true|false        add "x-should-retry"
  errbody=json|text|none|detail|detail_u
                                 error body format (default json); detail:
                                 {"detail":msg} with "/" written as "\\/",
                                 as PHP's json_encode writes it; detail_u:
                                 {"detail":msg} with every byte of msg but
                                 letters and digits written \\u00XX, as
                                 .NET's System.Text.Json writes "+" and
                                 HTML-sensitive bytes
  echo_auth=1                    the error message quotes the request's
                                 Authorization header
  fail_first=N                   failure options (status, reset, hang,
                                 mid_error, big_event, empty, delay_ms) apply
                                 only to the first N chat requests
  mid_error=N                    error event after N content events
  big_event=N                    after the first content event, one content
                                 event whose JSON is exactly N bytes
  reset=headers|content          abort with RST after the head / first event
  truncate=1                     after the first content event close the
                                 connection normally (FIN, and close_notify
                                 under TLS) without finishing the body
  bad_record=1                   (TLS) after the first content event (half
                                 the body when not streamed) a record that
                                 does not decrypt, written under the TLS
                                 layer; then hold the connection until the
                                 client closes it
  hang=1                         read the request and never answer
  empty=1                        no content events
  parts=1                        content as an array of parts, as Mistral's
                                 reasoning models send it: a "thinking"
                                 part first (its own event when streamed),
                                 then the answer in "text" parts
  delay_ms=N                     sleep before the response head
  event_delay_ms=N               sleep between events
  keepalive=0                    "Connection: close" and close afterwards
  idle_close_ms=N                after this answer, close the connection
                                 (FIN) when no request follows within N ms,
                                 as servers do with idle keep-alive ones
  idle_408=1                     with idle_close_ms: send a 408 response
                                 before that close, as some servers do
  close_next=1                   after this answer, a next request on the
                                 same connection is read and the connection
                                 closed without an answer (a server that
                                 timed it out just as the request came)
  hold=1                         the body's end never comes: no last chunk
                                 (chunked), one byte short of Content-Length
                                 (length), no close (close); the connection
                                 is held until the client closes it
  close_notify=0                 (TLS) close without sending close_notify
"""

import argparse
import json
import os
import signal
import socket
import socketserver
import ssl
import struct
import sys
import threading
import time
import urllib.parse
import warnings
from http import HTTPStatus

SIZE_PATTERN = "0123456789abcdefghijklmnopqrstuvwxyz\n"
MAX_HEAD = 64 * 1024
MAX_BODY = 64 * 1024 * 1024
IDLE_TIMEOUT = 300.0
HANG_MAX = 120.0
CONTROL_PATHS = ("/stats", "/stats/reset", "/iam/revoke")
FAILURE_OPTIONS = ("status", "reset", "hang", "mid_error", "big_event",
                   "empty", "delay_ms", "truncate", "bad_record")

VERBOSE = False
# parts=1: the reasoning a Mistral reasoning model sends before its answer
THINKING_PART = {"type": "thinking",
                 "thinking": [{"type": "text", "text": "Let me think."}]}


def log(msg):
    if VERBOSE:
        sys.stderr.write("llmc_test_server: %s\n" % msg)
        sys.stderr.flush()


class ClientGone(Exception):
    """The peer closed or reset the connection."""


class Aborted(Exception):
    """The server deliberately dropped the connection."""


class BadRequest(Exception):
    pass


# ---------------------------------------------------------------------------
# Shared state

class State:
    def __init__(self, args):
        self.args = args
        self.lock = threading.Lock()
        self.connections = 0
        self.requests = 0
        self.chat_requests = 0
        self.open = 0
        self.max_open = 0
        self.tls_resumed = 0
        self.tls_close_notify = 0
        self.tokens_issued = 0
        self.token_requests = 0  # with good credentials, since the reset
        self.iam_failed = 0  # token requests seen, for --iam-fail-first
        self.accepted = 0  # connections accepted since the start
        self.token_seen = threading.Condition(self.lock)  # for --tls-hold
        self.token_seq = 0
        self.tokens = {}  # token -> expiry (monotonic); None once revoked
        self.tokens_refused = []  # Authorization values the IAM check refused
        self.fail_counter = 0
        self.last_request = None
        self.request_times = []

    def snapshot(self):
        with self.lock:
            return {
                "connections": self.connections,
                "requests": self.requests,
                "chat_requests": self.chat_requests,
                "open": self.open,
                "max_open": self.max_open,
                "tls_resumed": self.tls_resumed,
                "tls_close_notify": self.tls_close_notify,
                "tokens_issued": self.tokens_issued,
                "token_requests": self.token_requests,
                "tokens_refused": list(self.tokens_refused),
                "last_request": self.last_request,
                "request_times": list(self.request_times),
            }

    def reset(self):
        with self.lock:
            self.connections = 0
            self.requests = 0
            self.chat_requests = 0
            self.max_open = self.open
            self.tls_resumed = 0
            self.tls_close_notify = 0
            self.tokens_issued = 0
            self.token_requests = 0
            self.tokens_refused = []
            self.fail_counter = 0
            self.last_request = None
            self.request_times = []

    def issue_token(self, lifetime, pad=0, suffix=""):
        with self.lock:
            self.token_seq += 1
            self.tokens_issued += 1
            token = "iam-token-%d" % self.token_seq
            if pad:
                # each token shorter than the one before
                token = (token + "-").ljust(pad - self.token_seq, "x")
            token += suffix
            # --iam-refuse-first: the chat endpoint refuses it
            self.tokens[token] = (
                None if self.token_seq <= self.args.iam_refuse_first
                else time.monotonic() + lifetime)
            return token

    def token_valid(self, token):
        with self.lock:
            exp = self.tokens.get(token)
            return exp is not None and time.monotonic() < exp

    def revoke_tokens(self):
        with self.lock:
            for t in self.tokens:
                self.tokens[t] = None


STATE = None


# ---------------------------------------------------------------------------
# Connection I/O

class Conn:
    def __init__(self, sock):
        self.sock = sock
        self.buf = bytearray()
        self.close_notify = False  # the TLS peer ended with close_notify
        self.idle_answer = None  # sent when an idle wait times out
        self.close_next = False  # close when the next request comes

    def _fill(self):
        try:
            data = self.sock.recv(65536)
        except socket.timeout:
            if self.idle_answer and not self.buf:
                try:
                    self.sock.sendall(self.idle_answer)
                except OSError:
                    pass
            raise ClientGone("idle timeout")
        except (ConnectionError, ssl.SSLError, OSError) as e:
            raise ClientGone(str(e))
        if not data:
            # TLS sockets are wrapped with suppress_ragged_eofs=False and
            # their context has no OP_IGNORE_UNEXPECTED_EOF (see main()):
            # an empty read is the peer's close_notify, a bare TCP close
            # raises
            if isinstance(self.sock, ssl.SSLSocket):
                self.close_notify = True
            raise ClientGone("eof")
        self.buf += data

    def read_head(self):
        """Return the request head bytes (without the blank line) or None
        when the peer closed cleanly between requests."""
        while True:
            idx = self.buf.find(b"\r\n\r\n")
            if idx >= 0:
                head = bytes(self.buf[:idx])
                del self.buf[:idx + 4]
                return head
            if len(self.buf) > MAX_HEAD:
                raise BadRequest("request head too large")
            try:
                self._fill()
            except ClientGone:
                if not self.buf:
                    return None
                raise

    def read_exact(self, n):
        while len(self.buf) < n:
            self._fill()
        data = bytes(self.buf[:n])
        del self.buf[:n]
        return data

    def read_line(self):
        while True:
            idx = self.buf.find(b"\r\n")
            if idx >= 0:
                line = bytes(self.buf[:idx])
                del self.buf[:idx + 2]
                return line
            if len(self.buf) > MAX_HEAD:
                raise BadRequest("line too long")
            self._fill()

    def send(self, data, write_size=0):
        try:
            if write_size and write_size > 0:
                for i in range(0, len(data), write_size):
                    self.sock.sendall(data[i:i + write_size])
                    time.sleep(0.001)
            else:
                self.sock.sendall(data)
        except (ConnectionError, ssl.SSLError, OSError) as e:
            raise ClientGone(str(e))

    def reset(self):
        """Abort the connection with a TCP RST."""
        try:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                 struct.pack("ii", 1, 0))
        except OSError:
            pass
        try:
            self.sock.close()
        except OSError:
            pass


class Request:
    def __init__(self, method, target, version, header_list, body):
        self.method = method
        self.target = target
        self.path = urllib.parse.urlsplit(target).path or target
        self.version = version
        self.header_list = header_list
        self.headers = {}
        for name, value in header_list:
            key = name.lower()
            if key in self.headers:
                self.headers[key] += ", " + value
            else:
                self.headers[key] = value
        self.body = body
        self.json = None
        self.json_error = None
        if body:
            try:
                self.json = json.loads(body.decode("utf-8"))
            except (ValueError, UnicodeDecodeError) as e:
                self.json_error = str(e)

    def wants_close(self):
        conn = self.headers.get("connection", "").lower()
        tokens = [t.strip() for t in conn.split(",")]
        if "close" in tokens:
            return True
        if self.version == "HTTP/1.0" and "keep-alive" not in tokens:
            return True
        return False

    def record(self, tls_info):
        rec = {
            "method": self.method,
            "path": self.target,
            "version": self.version,
            "headers": dict(self.headers),
            "header_list": [[n, v] for n, v in self.header_list],
            "body": self.json,
            "body_raw": self.body.decode("utf-8", errors="replace"),
        }
        if tls_info is not None:
            rec["tls"] = tls_info
        return rec


def read_request(conn):
    head = conn.read_head()
    if head is None:
        return None
    try:
        text = head.decode("latin-1")
    except UnicodeDecodeError:
        raise BadRequest("undecodable head")
    lines = text.split("\r\n")
    # Tolerate leading empty lines between requests (RFC 9112 2.2).
    while lines and lines[0] == "":
        lines.pop(0)
    if not lines:
        raise BadRequest("empty request")
    parts = lines[0].split(" ")
    if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
        raise BadRequest("bad request line: %r" % lines[0])
    method, target, version = parts
    header_list = []
    for line in lines[1:]:
        if ":" not in line or line[:1] in (" ", "\t"):
            raise BadRequest("bad header line: %r" % line)
        name, value = line.split(":", 1)
        if not name or name != name.strip():
            raise BadRequest("bad header name: %r" % name)
        header_list.append((name, value.strip(" \t")))
    hdrs = {}
    for n, v in header_list:
        hdrs.setdefault(n.lower(), []).append(v)
    if hdrs.get("expect", [""])[0].lower() == "100-continue":
        conn.send(b"HTTP/1.1 100 Continue\r\n\r\n")
    body = b""
    te = ",".join(hdrs.get("transfer-encoding", [])).lower()
    if "chunked" in te:
        chunks = []
        total = 0
        while True:
            size_line = conn.read_line().split(b";", 1)[0].strip()
            try:
                size = int(size_line, 16)
            except ValueError:
                raise BadRequest("bad chunk size")
            if size == 0:
                while conn.read_line():
                    pass
                break
            total += size
            if total > MAX_BODY:
                raise BadRequest("body too large")
            chunks.append(conn.read_exact(size))
            if conn.read_exact(2) != b"\r\n":
                raise BadRequest("bad chunk terminator")
        body = b"".join(chunks)
    elif "content-length" in hdrs:
        vals = set(v.strip() for v in hdrs["content-length"])
        if len(vals) != 1:
            raise BadRequest("conflicting Content-Length")
        try:
            length = int(vals.pop())
        except ValueError:
            raise BadRequest("bad Content-Length")
        if length < 0 or length > MAX_BODY:
            raise BadRequest("bad Content-Length")
        body = conn.read_exact(length)
    return Request(method, target, version, header_list, body)


# ---------------------------------------------------------------------------
# Response writing

class Sleep:
    def __init__(self, seconds):
        self.seconds = seconds


RESET = object()   # abort the connection with an RST
CLOSE = object()   # close the connection normally, body unfinished
HOLD = object()    # hold the connection open, body unfinished
BAD_RECORD = object()  # a TLS record that does not decrypt, then HOLD


def close_quietly(sock):
    try:
        sock.close()
    except OSError:
        pass


def wait_for_peer_close(sock):
    """Read and drop until the peer closes (at most HANG_MAX), then close."""
    end = time.monotonic() + HANG_MAX
    try:
        while True:
            left = end - time.monotonic()
            if left <= 0:
                break
            sock.settimeout(min(left, 1.0))
            try:
                if not sock.recv(65536):
                    break
            except socket.timeout:
                continue
    except (OSError, ValueError):
        pass
    close_quietly(sock)


def reason_phrase(status):
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Status %d" % status


def regroup(pieces, size):
    """Merge consecutive byte pieces and cut them into size-byte units.
    Markers (Sleep, RESET, CLOSE) stay in place and end the current unit."""
    out = []
    buf = bytearray()

    def flush():
        for i in range(0, len(buf), size):
            out.append(bytes(buf[i:i + size]))
        buf.clear()

    for p in pieces:
        if isinstance(p, bytes):
            buf += p
        else:
            flush()
            out.append(p)
    flush()
    return out


def send_response(conn, status, headers, pieces, framing="length",
                  keep_alive=True, write_size=0, head_delay=0.0,
                  tls_notify=True, chunk_size=0):
    """Write a response. pieces is a list of bytes, Sleep, RESET or CLOSE.

    Returns True if the connection may be reused."""
    if chunk_size > 0:
        pieces = regroup(pieces, chunk_size)
    if framing == "close":
        keep_alive = False
    lines = ["HTTP/1.1 %d %s" % (status, reason_phrase(status))]
    lines.append("Server: llmc-test-server")
    lines.extend("%s: %s" % (n, v) for n, v in headers)
    if framing == "length":
        total = sum(len(p) for p in pieces if isinstance(p, bytes))
        if any(p is HOLD for p in pieces):
            total += 1  # the byte that never comes
        lines.append("Content-Length: %d" % total)
    elif framing == "chunked":
        lines.append("Transfer-Encoding: chunked")
    lines.append("Connection: %s" % ("keep-alive" if keep_alive else "close"))
    head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")

    if head_delay > 0:
        time.sleep(head_delay)
    conn.send(head, write_size)
    for p in pieces:
        if p is RESET:
            conn.reset()
            raise Aborted("reset")
        if p is CLOSE:
            close_gracefully(conn, tls_notify)
            raise Aborted("truncated")
        if p is BAD_RECORD:
            # application data of 32 bytes, written on the TCP socket
            # beneath TLS: its authentication tag cannot match
            socket.socket.sendall(conn.sock, b"\x17\x03\x03\x00\x20" + bytes(32))
        if p is HOLD or p is BAD_RECORD:
            wait_for_peer_close(conn.sock)
            raise Aborted("held")
        if isinstance(p, Sleep):
            if p.seconds > 0:
                time.sleep(p.seconds)
            continue
        if not p:
            continue
        if framing == "chunked":
            p = b"%x\r\n" % len(p) + p + b"\r\n"
        conn.send(p, write_size)
    if framing == "chunked":
        conn.send(b"0\r\n\r\n", write_size)
    if not keep_alive:
        close_gracefully(conn, tls_notify)
        raise Aborted("close")
    return True


def close_gracefully(conn, tls_notify=True):
    sock = conn.sock
    if isinstance(sock, ssl.SSLSocket) and tls_notify:
        try:
            sock.settimeout(2.0)
            sock = sock.unwrap()
        except (ssl.SSLError, OSError, ValueError):
            pass
    try:
        sock.shutdown(socket.SHUT_WR)
    except OSError:
        pass
    # Drain briefly so that a pending request from the peer does not turn
    # the close into a reset before it has read the response.
    try:
        sock.settimeout(0.5)
        end = time.monotonic() + 1.0
        while time.monotonic() < end:
            if not sock.recv(65536):
                break
    except (OSError, ValueError):
        pass
    close_quietly(sock)


def json_bytes(obj, ascii_only=False):
    return json.dumps(obj, ensure_ascii=ascii_only,
                      separators=(",", ":")).encode("utf-8")


def send_json(conn, status, obj, keep_alive=True, extra_headers=()):
    headers = [("Content-Type", "application/json")] + list(extra_headers)
    return send_response(conn, status, headers, [json_bytes(obj)],
                         framing="length", keep_alive=keep_alive)


def error_obj(message, etype="invalid_request_error", code=None):
    return {"error": {"message": message, "type": etype, "param": None,
                      "code": code}}


# ---------------------------------------------------------------------------
# Scenario handling

def parse_scenario(text):
    opts = {}
    if not text:
        return opts
    for k, v in urllib.parse.parse_qs(text, keep_blank_values=True).items():
        opts[k] = v[-1]
    return opts


def opt_int(opts, name, default=0):
    v = opts.get(name)
    if v is None or v == "":
        return default
    try:
        return int(v)
    except ValueError:
        return default


def opt_flag(opts, name, default=False):
    v = opts.get(name)
    if v is None:
        return default
    return v.lower() in ("1", "true", "yes", "on")


def split_json_lines(text):
    """Split a compact JSON text after every ',' outside strings."""
    lines = []
    start = 0
    in_str = False
    esc = False
    for i, ch in enumerate(text):
        if in_str:
            if esc:
                esc = False
            elif ch == "\\":
                esc = True
            elif ch == '"':
                in_str = False
        elif ch == '"':
            in_str = True
        elif ch == ",":
            lines.append(text[start:i + 1])
            start = i + 1
    lines.append(text[start:])
    return lines


def content_text(req_json, opts):
    if "size" in opts:
        n = max(0, opt_int(opts, "size"))
        reps = n // len(SIZE_PATTERN) + 1
        return (SIZE_PATTERN * reps)[:n]
    if "text" in opts:
        return opts["text"]
    msgs = req_json.get("messages") if isinstance(req_json, dict) else None
    if isinstance(msgs, list) and msgs:
        return message_text(msgs[-1].get("content") if isinstance(msgs[-1], dict) else "")
    return ""


def message_text(content):
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        out = []
        for part in content:
            if isinstance(part, dict) and isinstance(part.get("text"), str):
                out.append(part["text"])
        return "".join(out)
    return ""


def prompt_tokens(req_json):
    msgs = req_json.get("messages") if isinstance(req_json, dict) else None
    n = 0
    if isinstance(msgs, list):
        for m in msgs:
            if isinstance(m, dict):
                n += len(message_text(m.get("content")).split())
    return n


def split_pieces(content, k):
    if k <= 0:
        k = 4
    return [content[i:i + k] for i in range(0, len(content), k)]


class ChatResponder:
    def __init__(self, conn, req, opts, keep_alive, tls_notify):
        self.conn = conn
        self.req = req
        self.opts = opts
        self.keep_alive = keep_alive and opt_flag(opts, "keepalive", True)
        self.tls_notify = tls_notify and opt_flag(opts, "close_notify", True)
        self.framing = opts.get("framing", "chunked")
        if self.framing not in ("chunked", "length", "close"):
            self.framing = "chunked"
        self.eol = {"lf": "\n", "crlf": "\r\n", "cr": "\r"}.get(
            opts.get("eol", "lf"), "\n")
        self.ascii = opt_flag(opts, "ascii")
        self.write_size = opt_int(opts, "write", 0)
        self.head_delay = opt_int(opts, "delay_ms", 0) / 1000.0
        self.event_delay = opt_int(opts, "event_delay_ms", 0) / 1000.0
        model = req.json.get("model") if isinstance(req.json, dict) else None
        self.model = model.split("?", 1)[0] if isinstance(model, str) else ""

    def send(self, status, headers, pieces):
        return send_response(self.conn, status, headers, pieces,
                             framing=self.framing, keep_alive=self.keep_alive,
                             write_size=self.write_size,
                             head_delay=self.head_delay,
                             tls_notify=self.tls_notify,
                             chunk_size=opt_int(self.opts, "chunk", 0))

    def hang(self):
        wait_for_peer_close(self.conn.sock)
        raise Aborted("hang")

    def error(self, status):
        opts = self.opts
        msg = opts.get("msg", "test error %d" % status)
        if opt_flag(opts, "echo_auth"):
            msg += " " + self.req.headers.get("authorization", "")
        headers = []
        if "retry_after" in opts:
            headers.append(("Retry-After", opts["retry_after"]))
        if "retry_after_ms" in opts:
            headers.append(("retry-after-ms", opts["retry_after_ms"]))
        if "should_retry" in opts:
            headers.append(("x-should-retry", opts["should_retry"]))
        kind = opts.get("errbody", "json")
        if kind == "none":
            body = b""
            headers.insert(0, ("Content-Type", "application/json"))
        elif kind == "detail":
            body = json_bytes({"detail": msg}).replace(b"/", b"\\/")
            headers.insert(0, ("Content-Type", "application/json"))
        elif kind == "detail_u":
            body = (b'{"detail":"' +
                    "".join(ch if ch.isascii() and ch.isalnum()
                            else "\\u%04X" % ord(ch) for ch in msg).encode()
                    + b'"}')
            headers.insert(0, ("Content-Type", "application/json"))
        elif kind == "text":
            body = msg.encode("utf-8")
            headers.insert(0, ("Content-Type", "text/plain; charset=utf-8"))
        else:
            body = json_bytes({"error": {"message": msg, "type": "test_error",
                                         "param": None, "code": None}},
                              self.ascii)
            headers.insert(0, ("Content-Type", "application/json"))
        pieces = self.split_body(body)
        if self.opts.get("reset") == "headers":
            pieces = [RESET]
        return self.send(status, headers, pieces)

    def split_body(self, body, size=100):
        if self.framing == "chunked" and body:
            return [body[i:i + size] for i in range(0, len(body), size)]
        return [body]

    def respond(self):
        opts = self.opts
        if opt_flag(opts, "hang"):
            self.hang()
        status = opt_int(opts, "status", 0)
        if status and not (200 <= status < 300):
            return self.error(status)
        req = self.req.json if isinstance(self.req.json, dict) else {}
        if req.get("stream") is True:
            return self.stream(req)
        return self.non_stream(req)

    def usage_obj(self, req, completion):
        p = prompt_tokens(req)
        return {"prompt_tokens": p, "completion_tokens": completion,
                "total_tokens": p + completion}

    def non_stream(self, req):
        opts = self.opts
        content = "" if opt_flag(opts, "empty") else content_text(req, opts)
        pieces = split_pieces(content, opt_int(opts, "piece", 4))
        if opt_flag(opts, "parts"):
            content = [THINKING_PART, {"type": "text", "text": content}]
        obj = {
            "id": "chatcmpl-test",
            "object": "chat.completion",
            "created": 1700000000,
            "model": self.model,
            "choices": [{
                "index": 0,
                "message": {"role": "assistant", "content": content},
                "logprobs": None,
                "finish_reason": opts.get("finish", "stop"),
            }],
            "usage": self.usage_obj(req, len(pieces)),
            "system_fingerprint": "fp_test",
        }
        if opts.get("usage") == "0":
            del obj["usage"]
        body = json_bytes(obj, self.ascii)
        out = self.split_body(body)
        reset = opts.get("reset")
        if reset == "headers":
            out = [RESET]
        elif reset == "content":
            half = max(1, len(body) // 2)
            out = [body[:half], Sleep(self.event_delay), RESET, body[half:]]
        elif opt_flag(opts, "truncate") or opt_flag(opts, "bad_record"):
            half = max(1, len(body) // 2)
            cut = CLOSE if opt_flag(opts, "truncate") else BAD_RECORD
            out = [body[:half], Sleep(self.event_delay), cut, body[half:]]
        return self.send(200, [("Content-Type", "application/json")], out)

    def event(self, obj):
        js = json.dumps(obj, ensure_ascii=self.ascii, separators=(",", ":"))
        return self.data_lines(js)

    def data_lines(self, js):
        prefix = "data:" if not opt_flag(self.opts, "space", True) else "data: "
        if opt_flag(self.opts, "multiline"):
            lines = split_json_lines(js)
        else:
            lines = [js]
        out = []
        for i, line in enumerate(lines):
            if i == 1 and opt_flag(self.opts, "comments"):
                out.append(": inside an event" + self.eol)
            out.append(prefix + line + self.eol)
        out.append(self.eol)
        return "".join(out).encode("utf-8")

    def chunk_obj(self, choices, usage=None, with_usage_null=False):
        obj = {
            "id": "chatcmpl-test",
            "object": "chat.completion.chunk",
            "created": 1700000000,
            "model": self.model,
            "system_fingerprint": "fp_test",
            "choices": choices,
        }
        if usage is not None:
            obj["usage"] = usage
        elif with_usage_null:
            obj["usage"] = None
        return obj

    def stream(self, req):
        opts = self.opts
        so = req.get("stream_options")
        include_usage = ((isinstance(so, dict) and so.get("include_usage") is True)
                         or opt_flag(opts, "usage")) and opts.get("usage") != "0"
        content = "" if opt_flag(opts, "empty") else content_text(req, opts)
        texts = split_pieces(content, opt_int(opts, "piece", 4))
        comments = opt_flag(opts, "comments")
        mid_error = opt_int(opts, "mid_error", -1) if "mid_error" in opts else -1
        big_event = opt_int(opts, "big_event", 0)
        reset = opts.get("reset")
        truncate = opt_flag(opts, "truncate")
        bad_record = opt_flag(opts, "bad_record")
        eol = self.eol

        def choice(delta, finish=None):
            return [{"index": 0, "delta": delta, "logprobs": None,
                     "finish_reason": finish}]

        parts = opt_flag(opts, "parts")
        events = []  # list of bytes (one SSE event each) or RESET
        events.append(self.event(self.chunk_obj(
            choice({"role": "assistant", "content": ""}),
            with_usage_null=include_usage)))
        if parts:
            events.append(self.event(self.chunk_obj(
                choice({"content": [THINKING_PART]}),
                with_usage_null=include_usage)))
        sent_content = 0
        error_sent = False
        for i, t in enumerate(texts):
            if mid_error >= 0 and sent_content == mid_error:
                error_sent = True
                break
            if parts:
                t = [{"type": "text", "text": t}]
            events.append(self.event(self.chunk_obj(
                choice({"content": t}), with_usage_null=include_usage)))
            sent_content += 1
            if i == 0 and reset == "content":
                # The rest of the stream is still built (so that
                # Content-Length announces the complete body) but never sent.
                events.append(RESET)
            elif i == 0 and truncate:
                events.append(CLOSE)
            elif i == 0 and bad_record:
                events.append(BAD_RECORD)
            if i == 0 and big_event > 0:
                events.append(self.big_event(big_event, include_usage))
        if mid_error >= 0 and not error_sent:
            error_sent = True
        if reset == "content" and not texts:
            events.append(RESET)
        if error_sent:
            msg = opts.get("msg", "overloaded mid-stream")
            js = json.dumps({"error": {"message": msg, "type": "server_error",
                                       "code": None}},
                            ensure_ascii=self.ascii, separators=(",", ":"))
            events.append(self.data_lines(js))
        else:
            events.append(self.event(self.chunk_obj(
                choice({}, opts.get("finish", "stop")),
                with_usage_null=include_usage)))
            if include_usage:
                events.append(self.event(self.chunk_obj(
                    [], usage=self.usage_obj(req, sent_content))))
            if opt_flag(opts, "done", True):
                events.append(self.data_lines("[DONE]"))

        pieces = []
        if comments:
            pieces.append((": OPENROUTER PROCESSING" + eol + eol).encode())
        for idx, ev in enumerate(events):
            if idx > 0:
                if self.event_delay > 0:
                    pieces.append(Sleep(self.event_delay))
                if comments and isinstance(ev, bytes):
                    pieces.append((": keep-alive" + eol).encode())
            pieces.append(ev)
        if opt_flag(opts, "hold"):
            pieces.append(HOLD)
        if reset == "headers":
            pieces = [RESET]
        headers = [("Content-Type", "text/event-stream"),
                   ("Cache-Control", "no-cache")]
        return self.send(200, headers, pieces)

    def big_event(self, n, include_usage):
        def build(k):
            obj = self.chunk_obj([{"index": 0, "delta": {"content": "x" * k},
                                   "logprobs": None, "finish_reason": None}],
                                 with_usage_null=include_usage)
            return json.dumps(obj, ensure_ascii=self.ascii,
                              separators=(",", ":"))
        base = len(build(0).encode("utf-8"))
        js = build(max(0, n - base))
        return self.data_lines(js)


# ---------------------------------------------------------------------------
# Request dispatch

class Handler(socketserver.BaseRequestHandler):
    def setup(self):
        self.counted = True
        self.had_request = False
        self.resumed = False
        with STATE.lock:
            STATE.connections += 1
            STATE.open += 1
            STATE.accepted += 1
            self.number = STATE.accepted

    def hold_handshake(self):
        """--tls-hold N:K: the Nth connection's TLS handshake waits until
        K token requests have come in (at most 10 s)."""
        hold = STATE.args.tls_hold
        if hold is None or hold[0] != self.number:
            return
        with STATE.token_seen:
            STATE.token_seen.wait_for(
                lambda: STATE.token_requests >= hold[1], timeout=10.0)

    def finish(self):
        with STATE.lock:
            if self.counted:
                STATE.open -= 1
                if not self.had_request:
                    STATE.max_open = max(STATE.max_open, STATE.open + 1)

    def handle(self):
        sock = self.request
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            pass
        self.tls_info = None
        ctx = self.server.tls_context
        if ctx is not None:
            self.hold_handshake()
            try:
                sock.settimeout(10.0)
                sock = ctx.wrap_socket(sock, server_side=True,
                                       suppress_ragged_eofs=False)
            except (ssl.SSLError, OSError) as e:
                log("TLS handshake failed: %s" % e)
                try:
                    sock.close()
                except OSError:
                    pass
                return
            self.resumed = bool(sock.session_reused)
            self.tls_info = {"version": sock.version(),
                             "cipher": (sock.cipher() or [None])[0],
                             "session_reused": self.resumed}
            if self.resumed:
                with STATE.lock:
                    STATE.tls_resumed += 1
        sock.settimeout(IDLE_TIMEOUT)
        conn = Conn(sock)
        try:
            while True:
                try:
                    req = read_request(conn)
                except BadRequest as e:
                    log("bad request: %s" % e)
                    send_json(conn, 400, error_obj("bad request: %s" % e),
                              keep_alive=False)
                    return
                if req is None or conn.close_next:
                    return
                if not self.dispatch(conn, req):
                    return
        except (ClientGone, Aborted) as e:
            log("connection ended: %s" % e)
        finally:
            if conn.close_notify and self.counted:
                with STATE.lock:
                    STATE.tls_close_notify += 1
            try:
                conn.sock.close()
            except OSError:
                pass

    def note_first(self, control):
        """Account the connection on its first request."""
        if self.had_request:
            return
        self.had_request = True
        with STATE.lock:
            if control:
                self.counted = False
                STATE.connections -= 1
                STATE.open -= 1
                if self.resumed:
                    STATE.tls_resumed -= 1
            else:
                STATE.max_open = max(STATE.max_open, STATE.open)

    def dispatch(self, conn, req):
        path = req.path.rstrip("/") or "/"
        keep_alive = not req.wants_close()
        if path in CONTROL_PATHS:
            self.note_first(True)
            if path == "/stats" and req.method == "GET":
                return send_json(conn, 200, STATE.snapshot(), keep_alive)
            if path == "/stats/reset" and req.method == "POST":
                STATE.reset()
                return send_json(conn, 200, {"ok": True}, keep_alive)
            if path == "/iam/revoke" and req.method == "POST":
                STATE.revoke_tokens()
                return send_json(conn, 200, {"ok": True}, keep_alive)
            return send_json(conn, 405, error_obj("method not allowed"),
                             keep_alive)

        self.note_first(False)
        with STATE.lock:
            STATE.requests += 1
            STATE.last_request = req.record(self.tls_info)
            if path.endswith("/chat/completions"):
                STATE.request_times.append(time.monotonic())

        if path == "/api/v1/auth/token":
            return self.iam_token(conn, req, keep_alive)
        if path.endswith("/chat/completions"):
            if req.method != "POST":
                return send_json(conn, 405, error_obj("method not allowed"),
                                 keep_alive)
            return self.chat(conn, req, keep_alive)
        return send_json(conn, 404, error_obj("unknown path %s" % req.path),
                         keep_alive)

    def iam_token(self, conn, req, keep_alive):
        args = STATE.args
        if req.method != "POST":
            return send_json(conn, 405, error_obj("method not allowed"),
                             keep_alive)
        body = req.json if isinstance(req.json, dict) else None
        if body is None:
            return send_json(conn, 400, error_obj("invalid JSON body"),
                             keep_alive)
        if args.iam_key_id is None or body.get("keyId") != args.iam_key_id \
                or body.get("secret") != args.iam_secret:
            return send_json(conn, 401, error_obj(
                "invalid credentials", "authentication_error",
                "invalid_credentials"), keep_alive)
        with STATE.lock:
            STATE.iam_failed += 1
            STATE.token_requests += 1
            STATE.token_seen.notify_all()
            fail = STATE.iam_failed <= args.iam_fail_first
        if args.iam_delay_ms:
            time.sleep(args.iam_delay_ms / 1000.0)
        if fail:
            return send_json(conn, 503, error_obj(
                "token service overloaded", "server_error"), keep_alive)
        if args.iam_html_answer:
            # a gateway's page where the token service should answer
            page = b"<html><body>Service Temporarily Unavailable</body></html>"
            return send_response(conn, 200, [("Content-Type", "text/html")],
                                 [page], keep_alive=keep_alive)
        if args.iam_sse_answer:
            # a 200 that says it is an event stream, with a chat chunk in
            # it: what a token request must never take for an answer
            events = [b'data: {"choices":[{"index":0,"delta":{"content":'
                      b'"from the token service"}}]}\n\n',
                      b"data: [DONE]\n\n"]
            return send_response(conn, 200,
                                 [("Content-Type", "text/event-stream")],
                                 events, keep_alive=keep_alive)
        token = ("" if args.iam_empty_token else
                 STATE.issue_token(args.iam_expires, args.iam_token_pad,
                                   args.iam_token_suffix))
        answer = {"access_token": token, "expires_in": args.iam_expires}
        if args.iam_id_token:
            # the rest of Cloud.ru's answer, in its order: an OpenID
            # id_token beside the access token (a signed JWT as long),
            # with a quote and a backslash escaped in it, which JWTs lack
            # but a reader must step over
            answer = {"access_token": token,
                      "id_token": ("eyJ\\\"" + "x" * args.iam_id_token)[
                          :args.iam_id_token],
                      "refresh_token": "", "expires_in": args.iam_expires,
                      "refresh_expires_in": 0,
                      "scopes": ["openid profile email roles"],
                      "token_type": "Bearer", "not_before": 0}
        return send_json(conn, 200, answer, keep_alive)

    def chat(self, conn, req, keep_alive):
        args = STATE.args
        auth = req.headers.get("authorization", "")
        if args.require_auth is not None and auth != "Bearer " + args.require_auth:
            return send_json(conn, 401, error_obj(
                "Incorrect API key provided.", "invalid_request_error",
                "invalid_api_key"), keep_alive)
        if args.iam_key_id is not None:
            token = auth[7:] if auth.startswith("Bearer ") else ""
            if not STATE.token_valid(token):
                with STATE.lock:
                    STATE.tokens_refused.append(auth)
                return send_json(conn, 401, error_obj(
                    "invalid or expired access token",
                    "authentication_error", "invalid_token"), keep_alive)
        if req.json_error is not None or not isinstance(req.json, dict):
            return send_json(conn, 400, error_obj(
                "invalid JSON body: %s" % (req.json_error or "not an object")),
                keep_alive)

        model = req.json.get("model")
        if isinstance(model, str) and "?" in model:
            opts = parse_scenario(model.split("?", 1)[1])
        else:
            opts = parse_scenario(args.scenario)

        with STATE.lock:
            STATE.chat_requests += 1
            STATE.fail_counter += 1
            nth = STATE.fail_counter
        if "fail_first" in opts and nth > opt_int(opts, "fail_first", 0):
            for name in FAILURE_OPTIONS:
                opts.pop(name, None)

        responder = ChatResponder(conn, req, opts, keep_alive,
                                  tls_notify=True)
        conn.sock.settimeout(IDLE_TIMEOUT)
        conn.idle_answer = None
        reuse = responder.respond()
        idle_close = opt_int(opts, "idle_close_ms", 0)
        conn.close_next = reuse and bool(opt_int(opts, "close_next", 0))
        if reuse and idle_close > 0:
            # an idle wait that long ends the connection (Conn._fill)
            conn.sock.settimeout(idle_close / 1000.0)
            if opt_int(opts, "idle_408", 0):
                conn.idle_answer = (b"HTTP/1.1 408 Request Timeout\r\n"
                                    b"Connection: close\r\n"
                                    b"Content-Length: 0\r\n\r\n")
        return reuse


class Server(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True
    block_on_close = False
    request_queue_size = 128

    def __init__(self, addr, tls_context):
        self.tls_context = tls_context
        super().__init__(addr, Handler)

    def handle_error(self, request, client_address):
        if VERBOSE:
            super().handle_error(request, client_address)


def hold_arg(text):
    n, _, k = text.partition(":")
    return int(n), int(k)


def main(argv=None):
    global STATE, VERBOSE
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--port-file")
    ap.add_argument("--tls-cert")
    ap.add_argument("--tls-key")
    ap.add_argument("--tls-seclevel", type=int,
                    help="OpenSSL security level (0 serves a certificate "
                         "signed with SHA-1)")
    ap.add_argument("--tls-max-version", choices=("1.0", "1.1"),
                    help="serve this older TLS version at most (and at "
                         "least 1.0, at OpenSSL security level 0)")
    ap.add_argument("--scenario", default="")
    ap.add_argument("--require-auth", metavar="TOKEN")
    ap.add_argument("--iam-key-id")
    ap.add_argument("--iam-secret", default="")
    ap.add_argument("--iam-expires", type=int, default=3600)
    ap.add_argument("--iam-token-pad", type=int, default=0,
                    help="pad the Nth token to PAD - N characters, so that "
                         "each token issued is shorter than the one before")
    ap.add_argument("--iam-token-suffix", default="",
                    help="append this to every token issued (after the "
                         "padding), e.g. a CR LF and a header")
    ap.add_argument("--iam-id-token", type=int, default=0, metavar="N",
                    help="answer token requests as Cloud.ru does, with an "
                         "id_token of N characters and its other members")
    ap.add_argument("--iam-empty-token", action="store_true",
                    help="answer token requests with an empty access_token "
                         "(no token is issued)")
    ap.add_argument("--iam-html-answer", action="store_true",
                    help="answer token requests with 200 and an HTML page "
                         "(no token is issued)")
    ap.add_argument("--iam-sse-answer", action="store_true",
                    help="answer token requests with 200 and an event "
                         "stream holding a chat chunk (no token is issued)")
    ap.add_argument("--iam-delay-ms", type=int, default=0,
                    help="answer every token request after this many ms")
    ap.add_argument("--iam-fail-first", type=int, default=0,
                    help="answer the first N token requests with 503")
    ap.add_argument("--iam-refuse-first", type=int, default=0,
                    help="the chat endpoint refuses the first N tokens "
                         "issued, as if revoked")
    ap.add_argument("--tls-hold", type=hold_arg, metavar="N:K",
                    help="the Nth connection accepted (from 1, control "
                         "connections included) holds its TLS handshake "
                         "until K token requests have come in, at most 10 s")
    ap.add_argument("-v", "--verbose", action="store_true")
    args = ap.parse_args(argv)
    VERBOSE = args.verbose
    STATE = State(args)

    ctx = None
    if args.tls_cert:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        # "tls_close_notify" needs a bare TCP close to read as an error.
        # Python 3.10.0-3.11.2 (Debian 12's /usr/bin/python3 is 3.11.2)
        # set OP_IGNORE_UNEXPECTED_EOF on every new context; with it,
        # OpenSSL 3 reports a bare close exactly like a close_notify and
        # every client would be counted as having sent one.
        ctx.options &= ~getattr(ssl, "OP_IGNORE_UNEXPECTED_EOF", 0)
        if args.tls_seclevel is not None:
            ctx.set_ciphers("DEFAULT:@SECLEVEL=%d" % args.tls_seclevel)
        if args.tls_max_version:
            # OpenSSL 3 serves TLS 1.0 and 1.1 only at security level 0
            ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)
                ctx.minimum_version = ssl.TLSVersion.TLSv1
                ctx.maximum_version = (ssl.TLSVersion.TLSv1
                                       if args.tls_max_version == "1.0"
                                       else ssl.TLSVersion.TLSv1_1)
        ctx.load_cert_chain(args.tls_cert, args.tls_key or args.tls_cert)
        try:
            ctx.set_alpn_protocols(["http/1.1"])
        except NotImplementedError:
            pass

    server = Server((args.host, args.port), ctx)
    port = server.server_address[1]

    def stop(signum, frame):
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)

    if args.port_file:
        tmp = "%s.tmp.%d" % (args.port_file, os.getpid())
        with open(tmp, "w") as f:
            f.write("%d\n" % port)
        os.replace(tmp, args.port_file)
    sys.stdout.write("PORT %d\n" % port)
    sys.stdout.flush()

    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
