"""Integration tests for llmc-gateway (examples/posix/llmc_gateway.c), the
OpenAI-compatible HTTP gateway, run in its ASan build in front of local test
providers (tests/server/llmc_test_server.py), the first of which refuses
connections, so every answer comes from the second after a failover.

Real clients: curl (Debian's) and the official `openai` npm package, which
the test setup installs into build/node (tests/gateway/openai_client.mjs).
Raw sockets are used where a client must misbehave: vanish mid-stream, send
half a request, pipeline two requests on one connection.
"""

import json
import os
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
import threading
import time
import unittest
import urllib.parse

from harness import (REPO, TEST_HOST, Server, refused_port, size_content,
                     tool_path, wait_for)

GATEWAY = tool_path("llmc-gateway")
NODE_DIR = os.path.join(REPO, "build", "node")
OPENAI_CLIENT = os.path.join(REPO, "tests", "gateway", "openai_client.mjs")
CURL = shutil.which("curl") or "/usr/bin/curl"
TIMEOUT = 20
SAN_ERRORS = ("ERROR: AddressSanitizer", "runtime error:",
              "ERROR: LeakSanitizer")


def need_openai_package():
    """npm install --prefix build/node openai@4, once."""
    if os.path.isdir(os.path.join(NODE_DIR, "node_modules", "openai")):
        return
    if shutil.which("npm") is None or shutil.which("node") is None:
        subprocess.run(["bash", os.path.join(REPO, "scripts", "deps.sh"),
                        "nodejs", "npm"], check=False, timeout=600)
    npm = shutil.which("npm")
    if npm is None:
        raise AssertionError("npm not installed (bash scripts/deps.sh nodejs npm)")
    os.makedirs(NODE_DIR, exist_ok=True)
    p = subprocess.run([npm, "install", "--prefix", NODE_DIR, "--no-audit",
                        "--no-fund", "openai@4"],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       timeout=300)
    if p.returncode != 0:
        raise AssertionError("npm install openai@4 failed:\n%s"
                             % p.stdout.decode("utf-8", "replace"))


class Gateway:
    """llmc-gateway on a free port with a configuration of providers."""

    def __init__(self, providers, args=(), policy=None, wrap=()):
        self.providers = providers
        self.args = [str(a) for a in args]
        self.wrap = list(wrap)  # a command that runs the gateway
        self.policy = policy or {"max_retries": 0}
        self.proc = None
        self.port = None
        self.tmpdir = None

    def start(self):
        if not os.access(GATEWAY, os.X_OK):
            raise AssertionError("%s not built (make integration)" % GATEWAY)
        self.tmpdir = tempfile.mkdtemp(prefix="llmc-gw-")
        cfg = os.path.join(self.tmpdir, "providers.json")
        with open(cfg, "w") as f:
            json.dump({"providers": self.providers, "policy": self.policy}, f)
        port_file = os.path.join(self.tmpdir, "port")
        self.err = open(os.path.join(self.tmpdir, "stderr"), "wb")
        self.proc = subprocess.Popen(
            self.wrap + [GATEWAY, "-c", cfg, "--listen", "%s:0" % TEST_HOST,
             "--port-file", port_file] + self.args,
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=self.err)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and self.port is None:
            if self.proc.poll() is not None:
                raise AssertionError("gateway exited: %s" % self.stderr())
            try:
                with open(port_file) as f:
                    self.port = int(f.read().strip() or "0") or None
            except (FileNotFoundError, ValueError):
                time.sleep(0.01)
        if self.port is None:
            raise AssertionError("gateway did not start: %s" % self.stderr())
        return self

    def stderr(self):
        try:
            with open(os.path.join(self.tmpdir, "stderr"), "rb") as f:
                return f.read().decode("utf-8", "replace")
        except (OSError, TypeError):
            return ""

    @property
    def base(self):
        return "http://%s:%d" % (TEST_HOST, self.port)

    def stop(self):
        """SIGTERM; returns the exit status (None if it had to be killed)."""
        rc = None
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.send_signal(signal.SIGTERM)
            try:
                rc = self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            self.proc = None
            self.err.close()
        return rc

    def cleanup(self):
        self.stop()
        if self.tmpdir:
            shutil.rmtree(self.tmpdir, ignore_errors=True)
            self.tmpdir = None


def curl(args, timeout=TIMEOUT):
    """Run curl; returns (http status, headers text, body bytes)."""
    with tempfile.TemporaryDirectory() as d:
        hdr = os.path.join(d, "h")
        p = subprocess.run([CURL, "-sS", "-N", "-D", hdr, "--max-time",
                            str(timeout)] + args,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           timeout=timeout + 5)
        if p.returncode != 0:
            raise AssertionError("curl %s: exit %d: %s" % (
                args, p.returncode, p.stderr.decode("utf-8", "replace")))
        with open(hdr, "rb") as f:
            heads = f.read().decode("latin-1")
    # the last response head (after any 100 Continue)
    head = [h for h in heads.split("\r\n\r\n") if h.strip()][-1]
    status = int(head.split(" ", 2)[1])
    return status, head, p.stdout


def post(url, body, extra=()):
    data = body if isinstance(body, (bytes, str)) else json.dumps(body)
    return curl(["-X", "POST", "-H", "Content-Type: application/json",
                 "--data-binary", data] + list(extra) + [url])


def sse_events(body):
    """data: payloads of an SSE body, in order."""
    out = []
    for block in body.decode("utf-8").split("\n\n"):
        for line in block.split("\n"):
            if line.startswith("data: "):
                out.append(line[6:])
    return out


def raw_request(port, method, path, body=None, extra_headers=""):
    data = b"" if body is None else (
        body if isinstance(body, bytes) else json.dumps(body).encode())
    return ("%s %s HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            "Content-Length: %d\r\n%s\r\n" % (method, path, len(data),
                                              extra_headers)).encode() + data


def recv_exactly(sock, n):
    """The next n bytes from sock."""
    buf = b""
    while len(buf) < n:
        c = sock.recv(n - len(buf))
        if not c:
            raise AssertionError("connection closed after %r" % buf)
        buf += c
    return buf


def read_response(sock, head_only=False):
    """Read one Content-Length response from sock: (status, headers, body).
    Takes no byte past it: a pipelined response that came in the same
    segment stays for the next call. head_only: the answer to HEAD, which
    ends with its head (body b"")."""
    head = b""
    while True:
        c = sock.recv(65536, socket.MSG_PEEK)
        if not c:
            raise AssertionError("connection closed in the head: %r" % head)
        tail = head[-3:]
        i = (tail + c).find(b"\r\n\r\n")
        if i >= 0:
            head += recv_exactly(sock, i + 4 - len(tail))
            break
        head += recv_exactly(sock, len(c))
    lines = head[:-4].decode("latin-1").split("\r\n")
    headers = {}
    for ln in lines[1:]:
        k, _, v = ln.partition(":")
        headers[k.strip().lower()] = v.strip()
    n = 0 if head_only else int(headers.get("content-length", "0"))
    return int(lines[0].split(" ", 2)[1]), headers, recv_exactly(sock, n)


def completion(content, model="t", **kw):
    body = {"model": model, "messages": [{"role": "user", "content": content}]}
    body.update(kw)
    return body


class GatewayTests(unittest.TestCase):
    """One gateway (ASan) for the class: provider "down" refuses
    connections, provider "good" is a test server that echoes the prompt."""

    @classmethod
    def setUpClass(cls):
        cls.srv = Server().start()
        cls.down_port = refused_port()
        cls.gw = Gateway([
            {"name": "down", "base_url": "http://%s:%d/v1" % (TEST_HOST,
                                                             cls.down_port)},
            {"name": "good", "base_url": cls.srv.url},
        ]).start()

    @classmethod
    def tearDownClass(cls):
        rc = cls.gw.stop()
        err = cls.gw.stderr()
        cls.gw.cleanup()
        cls.srv.stop()
        if rc != 0 or any(s in err for s in SAN_ERRORS):
            raise AssertionError("gateway exit %s:\n%s" % (rc, err))

    def tearDown(self):
        # a crash or a sanitizer report fails the test that caused it (an
        # error in tearDownClass would belong to no test)
        err = self.gw.stderr()
        self.assertIsNone(self.gw.proc.poll(), err)
        for s in SAN_ERRORS:
            self.assertNotIn(s, err)

    def url(self, path):
        return self.gw.base + path

    def answer(self, body):
        """The content of the 200 answer to body, a chat completion."""
        status, _, rb = post(self.url("/v1/chat/completions"), body)
        self.assertEqual(status, 200, rb)
        return json.loads(rb)["choices"][0]["message"]["content"]

    # -- the endpoints, with curl -------------------------------------------
    def test_seed_chat_endpoint(self):
        status, head, body = post(self.url("/chat"),
                                  {"message": "Hello, are you GPT 3.5?",
                                   "max_tokens": 100})
        self.assertEqual(status, 200, body)
        self.assertIn("application/json", head)
        self.assertEqual(json.loads(body),
                         {"response": "Hello, are you GPT 3.5?"})
        self.assertEqual(self.srv.last_request()["body"]["max_tokens"], 100)

    def test_completions_non_stream(self):
        prompt = 'quotes " backslash \\ tab\t newline\n é ü 漢字 😀'
        status, _, body = post(self.url("/v1/chat/completions"),
                               completion(prompt, max_tokens=50,
                                          temperature=0.5))
        self.assertEqual(status, 200, body)
        r = json.loads(body)
        self.assertEqual(r["object"], "chat.completion")
        self.assertEqual(r["choices"][0]["message"],
                         {"role": "assistant", "content": prompt})
        self.assertEqual(r["choices"][0]["finish_reason"], "stop")
        self.assertGreater(r["usage"]["total_tokens"], 0)
        sent = self.srv.last_request()["body"]
        self.assertEqual(sent["messages"][-1]["content"], prompt)
        self.assertEqual(sent["max_tokens"], 50)
        self.assertAlmostEqual(sent["temperature"], 0.5)

    def test_escapes_and_surrogate_pairs_reach_the_provider(self):
        raw = ('{"model":"t","messages":[{"role":"system","content":'
               '"be \\"brief\\""},{"role":"user","content":'
               '"a\\u00e9\\ud83d\\ude00\\n\\/z"}]}')
        self.assertEqual(self.answer(raw), "a\u00e9\U0001F600\n/z")
        msgs = self.srv.last_request()["body"]["messages"]
        self.assertEqual(msgs[0], {"role": "system", "content": 'be "brief"'})

    def test_content_parts_reach_the_provider_joined(self):
        # OpenAI's content parts, as many clients send text too: llmc
        # sends a message's content as one string, the text parts joined
        raw = ('{"model":"t","messages":[{"role":"system","content":'
               '[{"type":"text","text":"be brief"}]},{"role":"user",'
               '"content":[{"type":"text","text":"Hello, "},{"text":'
               '"w\\u00f6rld","type":"text"},{"type":"text","text":""}]}]}')
        self.assertEqual(self.answer(raw), "Hello, w\u00f6rld")
        self.assertEqual(self.srv.last_request()["body"]["messages"],
                         [{"role": "system", "content": "be brief"},
                          {"role": "user", "content": "Hello, w\u00f6rld"}])
        # no part: an empty content (which the echoing server answers
        # with nothing, an upstream failure)
        status, _, body = post(self.url("/v1/chat/completions"),
                               completion([]))
        self.assertEqual(status, 502, body)
        self.assertEqual(self.srv.last_request()["body"]["messages"],
                         [{"role": "user", "content": ""}])

    def test_keys_are_read_as_json_parsers_read_them(self):
        # escapes in keys are decoded, and of a key given twice the last
        # one counts (Python's json, the SDKs' servers): "messages" too,
        # whose first array must not reach the provider
        raw = ('{"model":"t","messages":[{"role":"user","content":"first"}],'
               '"m\\u0065ssages":[{"r\\u006fle":"user","content":"second"}],'
               '"max_\\u0074okens":7}')
        self.assertEqual(self.answer(raw), "second")
        sent = self.srv.last_request()["body"]
        self.assertEqual(sent["messages"],
                         [{"role": "user", "content": "second"}])
        self.assertEqual(sent["max_tokens"], 7)

    def test_completions_stream(self):
        prompt = "stream me: alpha bravo charlie delta echo foxtrot é 😀"
        status, head, body = post(
            self.url("/v1/chat/completions"),
            completion(prompt, stream=True,
                       stream_options={"include_usage": True}))
        self.assertEqual(status, 200, body)
        self.assertIn("text/event-stream", head)
        ev = sse_events(body)
        self.assertEqual(ev[-1], "[DONE]")
        chunks = [json.loads(e) for e in ev[:-1]]
        for ch in chunks:
            self.assertEqual(ch["object"], "chat.completion.chunk")
        text = "".join(c["choices"][0]["delta"].get("content", "")
                       for c in chunks if c["choices"])
        self.assertEqual(text, prompt)
        # piece=4 at the provider: one event per on_delta, not one blob
        content_chunks = [c for c in chunks if c["choices"] and
                          c["choices"][0]["delta"].get("content")]
        self.assertGreater(len(content_chunks), 5)
        self.assertEqual(content_chunks[0]["choices"][0]["delta"]["role"],
                         "assistant")
        finish = [c for c in chunks if c["choices"] and
                  c["choices"][0]["finish_reason"]]
        self.assertEqual(finish[0]["choices"][0]["finish_reason"], "stop")
        self.assertEqual(chunks[-1]["choices"], [])
        self.assertGreater(chunks[-1]["usage"]["total_tokens"], 0)

    def test_stream_is_relayed_as_it_arrives(self):
        """With 150 ms between provider events the first event reaches the
        client long before the provider has finished."""
        s = socket.create_connection((TEST_HOST, self.gw.port), timeout=10)
        try:
            t0 = time.monotonic()
            s.sendall(raw_request(self.gw.port, "POST", "/v1/chat/completions",
                                  completion("0123456789abcdef",
                                             model="t?event_delay_ms=150",
                                             stream=True)))
            buf = b""
            while b"data: " not in buf:
                c = s.recv(65536)
                self.assertTrue(c)
                buf += c
            first = time.monotonic() - t0
            while True:
                c = s.recv(65536)
                if not c:
                    break
                buf += c
            total = time.monotonic() - t0
        finally:
            s.close()
        self.assertIn(b"data: [DONE]", buf)
        self.assertLess(first, total - 0.3, (first, total))

    def test_upstream_error_is_502_with_an_openai_error(self):
        status, _, body = post(self.url("/v1/chat/completions"),
                               completion("x", model="t?status=500&msg=boom"))
        self.assertEqual(status, 502, body)
        err = json.loads(body)["error"]
        self.assertEqual(err["type"], "upstream_error")
        self.assertIn("all providers failed", err["message"])
        # "down" may be skipped while it cools down after its failures
        self.assertIn("good: http error: status 500: boom", err["message"])
        # the same before any content of a stream
        status, _, body = post(self.url("/v1/chat/completions"),
                               completion("x", model="t?status=500",
                                          stream=True))
        self.assertEqual(status, 502, body)

    def test_error_after_the_stream_started_is_an_error_event(self):
        status, _, body = post(self.url("/v1/chat/completions"),
                               completion("abcdefghijklmnop",
                                          model="t?mid_error=2&msg=broke",
                                          stream=True))
        self.assertEqual(status, 200)
        ev = sse_events(body)
        self.assertEqual(ev[-1], "[DONE]")
        err = json.loads(ev[-2])["error"]
        self.assertEqual(err["type"], "upstream_error")
        self.assertIn("broke", err["message"])
        text = "".join(json.loads(e)["choices"][0]["delta"]["content"]
                       for e in ev[:-2])
        self.assertEqual(text, "abcdefgh")

    def test_answer_beyond_the_bound_is_a_clear_502(self):
        status, _, body = post(self.url("/v1/chat/completions"),
                               completion("x", model="t?size=70000"))
        self.assertEqual(status, 502, body)
        self.assertIn("larger than", json.loads(body)["error"]["message"])
        # a large answer within the bound comes back whole
        status, _, body = post(self.url("/v1/chat/completions"),
                               completion("x", model="t?size=60000&piece=500"))
        self.assertEqual(status, 200)
        self.assertEqual(json.loads(body)["choices"][0]["message"]["content"],
                         size_content(60000))

    def test_models(self):
        status, _, body = curl([self.url("/v1/models")])
        self.assertEqual(status, 200)
        r = json.loads(body)
        self.assertEqual(r["object"], "list")
        self.assertEqual([m["id"] for m in r["data"]], ["default"])
        self.assertEqual(r["data"][0]["object"], "model")

    def test_health_shows_the_failing_provider(self):
        post(self.url("/chat"), {"message": "hi"})
        status, _, body = curl([self.url("/health")])
        self.assertEqual(status, 200)
        h = json.loads(body)
        p = {x["name"]: x for x in h["providers"]}
        self.assertEqual(set(p), {"down", "good"})
        self.assertTrue(p["down"]["working"])
        self.assertIn("refused", p["down"]["last_error"])
        self.assertIsNone(p["good"]["last_error"])
        self.assertIsInstance(p["good"]["last_latency_ms"], int)
        self.assertIn(p["down"]["cooling_down"], (True, False))
        self.assertFalse(p["good"]["cooling_down"])

    # -- the official openai npm package ---------------------------------------
    def node(self, prompt, mode):
        need_openai_package()
        p = subprocess.run(["node", OPENAI_CLIENT, self.url("/v1"), "t",
                            prompt, mode],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           env=dict(os.environ, OPENAI_NODE_DIR=NODE_DIR),
                           timeout=60)
        err = p.stderr.decode("utf-8", "replace")
        self.assertEqual(p.returncode, 0, err)
        return p.stdout.decode("utf-8"), json.loads(err.strip().splitlines()[-1])

    def test_openai_sdk_non_stream(self):
        prompt = "Hello from the openai package: é 😀 \"quoted\""
        out, info = self.node(prompt, "nostream")
        self.assertEqual(out, prompt)
        self.assertEqual(info["finish"], "stop")
        self.assertGreater(info["usage"]["total_tokens"], 0)

    def test_openai_sdk_stream(self):
        prompt = "Streaming to the openai package: é 😀 and some more words"
        out, info = self.node(prompt, "stream")
        self.assertEqual(out, prompt)
        self.assertEqual(info["finish"], "stop")
        self.assertGreater(info["chunks"], 5)
        self.assertGreater(info["usage"]["total_tokens"], 0)

    # -- fields llmc cannot honour, and the others -----------------------------
    def test_fields_that_change_the_answer_are_refused(self):
        # sent without them, these requests would get another answer
        # (text instead of tool calls, one choice, no log probabilities)
        tool = {"type": "function",
                "function": {"name": "f", "parameters": {"type": "object"}}}
        cases = [
            ("tools", {"tools": [tool]}, "tools"),
            ("functions", {"functions": [tool["function"]]}, "functions"),
            ("n 2", {"n": 2}, '"n" must be 1'),
            ("n a string", {"n": "1"}, '"n" must be 1'),
            ("logprobs", {"logprobs": True, "top_logprobs": 2}, "logprobs"),
        ]
        before = self.srv.stats()["requests"]
        for name, fields, says in cases:
            with self.subTest(case=name):
                status, _, rb = post(self.url("/v1/chat/completions"),
                                     completion("x", **fields))
                self.assertError(status, rb, 400)
                self.assertIn(says, json.loads(rb)["error"]["message"])
        self.assertEqual(self.srv.stats()["requests"], before,
                         "a refused request reached a provider")

    def test_those_fields_pass_at_their_off_values_and_are_not_sent(self):
        off = {"tools": [], "functions": None, "tool_choice": "none",
               "parallel_tool_calls": False, "n": 1, "logprobs": False,
               "top_logprobs": None, "seed": None}
        self.assertEqual(self.answer(completion("plain", **off)), "plain")
        sent = self.srv.last_request()["body"]
        self.assertEqual(set(sent) & set(off), set())
        self.assertEqual(self.answer(completion("one", n=1.0)), "one")

    def test_other_fields_are_passed_on_as_they_are(self):
        # JSON mode, stop sequences and sampling go to the provider (the
        # answer is still its text), written as the client wrote them,
        # after llmc's own members
        other = {"response_format": {"type": "json_schema", "json_schema": {
                     "name": "x", "schema": {"type": "object"}}},
                 "stop": ["END", "}\""], "top_p": 0.5, "seed": 7,
                 "user": "u\u00e9", "presence_penalty": -0.5,
                 "metadata": {"k": [1, {"v": None}]}}
        body = completion("passed", max_tokens=9, **other)
        self.assertEqual(self.answer(body), "passed")
        sent = self.srv.last_request()["body"]
        for k, v in other.items():
            self.assertEqual(sent[k], v, k)
        self.assertEqual(sent["max_tokens"], 9)
        self.assertEqual(sent["messages"],
                         [{"role": "user", "content": "passed"}])
        # values as written: escapes and spacing inside them kept
        raw = ('{"model": "t", "messages": [{"role": "user", "content": '
               '"raw"}], "stop" : [ "\\u0041" ] }')
        status, _, rb = post(self.url("/v1/chat/completions"), raw)
        self.assertEqual(status, 200, rb)
        raw_sent = self.srv.last_request()["body_raw"]
        self.assertTrue(raw_sent.endswith(',"stop":[ "\\u0041" ]}'),
                        raw_sent)

    def test_other_fields_too_long_for_the_gateway_are_refused(self):
        before = self.srv.stats()["requests"]
        status, _, rb = post(self.url("/v1/chat/completions"),
                             completion("x", user="u" * 5000))
        self.assertError(status, rb, 400)
        self.assertIn("too long for the gateway",
                      json.loads(rb)["error"]["message"])
        self.assertEqual(self.srv.stats()["requests"], before)

    # -- bad input ------------------------------------------------------------
    def assertError(self, status, body, want, kind="invalid_request_error"):
        self.assertEqual(status, want, body)
        self.assertEqual(json.loads(body)["error"]["type"], kind)

    def test_bad_input_gets_4xx_and_the_gateway_keeps_serving(self):
        u = self.url("/v1/chat/completions")
        cases = [
            ("invalid json", '{"model": "t", "messages": [', 400),
            ("not an object", '[1, 2]', 400),
            ("trailing garbage", '{"messages": []} x', 400),
            ("messages not an array", '{"messages": "hi"}', 400),
            ("missing messages", '{"model": "t"}', 400),
            ("empty messages", '{"messages": []}', 400),
            ("content not a string",
             '{"messages": [{"role": "user", "content": 5}]}', 400),
            ("missing role", '{"messages": [{"content": "x"}]}', 400),
            # content parts: text only, since llmc sends a string
            ("image part", json.dumps(completion([
                {"type": "text", "text": "what is this?"},
                {"type": "image_url",
                 "image_url": {"url": "data:image/png;base64,AAAA"}}])),
             400),
            ("part not an object", json.dumps(completion(["x"])), 400),
            ("text part without text",
             json.dumps(completion([{"type": "text"}])), 400),
            ("part without a type",
             json.dumps(completion([{"text": "x"}])), 400),
            ("text not a string",
             json.dumps(completion([{"type": "text", "text": 5}])), 400),
            # a role is passed on NUL-terminated: never sent cut short
            ("role with U+0000",
             '{"messages": [{"role": "user\\u0000x", "content": "x"}]}',
             400),
            ("max_tokens a string", json.dumps(
                completion("x", max_tokens="many")), 400),
            # llmc sends no limit for these: never an answer without the
            # limit asked for, where a provider would refuse the request
            ("max_tokens 0", json.dumps(completion("x", max_tokens=0)), 400),
            ("max_tokens negative", json.dumps(
                completion("x", max_tokens=-1)), 400),
            ("max_completion_tokens 0", json.dumps(
                completion("x", max_completion_tokens=0)), 400),
            ("stream not a bool", json.dumps(completion("x", stream="yes")),
             400),
            ("temperature not a number", json.dumps(
                completion("x", temperature="hot")), 400),
            ("model not a string", json.dumps(completion("x", model=7)), 400),
            # longer than the gateway keeps (GW_MODEL_MAX): never sent cut
            ("model too long", json.dumps(completion("x", model="m" * 200)),
             400),
            # JSON that jsmn alone accepts
            ("key without a value",
             '{"messages": [{"role": "user", "content": "x"}], "model"}',
             400),
            ("missing comma",
             '{"messages": [{"role": "user" "content": "x"}]}', 400),
            ("not a literal",
             '{"messages": [{"role": "user", "content": "x"}], '
             '"stream": tx}', 400),
            ("truncated literal",
             '{"messages": [{"role": "user", "content": "x"}], '
             '"max_tokens": nul}', 400),
            ("leading zero", json.dumps(completion("x"))[:-1] +
             ', "max_tokens": 010}', 400),
            # beyond any integer type: no conversion of it is defined
            ("max_tokens 1e300", json.dumps(completion("x"))[:-1] +
             ', "max_tokens": 1e300}', 400),
            ("control byte in a string",
             '{"messages": [{"role": "user", "content": "a\x01b"}]}', 400),
        ]
        for name, body, want in cases:
            with self.subTest(case=name):
                status, _, rb = post(u, body)
                self.assertError(status, rb, want)
        # JSON text is UTF-8 (RFC 8259 8.1): passed on, such a body would
        # be refused by every provider
        for body in (b'{"messages": [{"role": "user", "content": "caf\xe9"}]}',
                     b'{"model": "t\xc0\xaf", "messages": [{"role": "user", '
                     b'"content": "x"}]}'):
            with self.subTest(case="not UTF-8", body=body):
                status, _, rb = post(u, body)
                self.assertError(status, rb, 400)
                self.assertEqual(json.loads(rb)["error"]["message"],
                                 "the body is not UTF-8")
        with self.subTest(case="seed endpoint without message"):
            status, _, rb = post(self.url("/chat"), {"max_tokens": 5})
            self.assertError(status, rb, 400)
        with self.subTest(case="seed endpoint, max_tokens 0"):
            status, _, rb = post(self.url("/chat"),
                                 {"message": "x", "max_tokens": 0})
            self.assertError(status, rb, 400)
        with self.subTest(case="seed endpoint, message not a string"):
            status, _, rb = post(self.url("/chat"), {"message": ["x"]})
            self.assertError(status, rb, 400)
        with self.subTest(case="oversized body"):
            status, _, rb = post(u, completion("x" * 40000))
            self.assertError(status, rb, 413)
        with self.subTest(case="unknown path"):
            status, _, rb = curl([self.url("/v2/nothing")])
            self.assertError(status, rb, 404)
        with self.subTest(case="wrong method"):
            status, head, rb = curl([u])
            self.assertError(status, rb, 405)
            self.assertIn("Allow: POST", head)
            status, _, rb = curl(["-X", "DELETE", self.url("/health")])
            self.assertError(status, rb, 405)
        # and everyone else is still served
        status, _, body = post(self.url("/chat"), {"message": "still here"})
        self.assertEqual((status, json.loads(body)),
                         (200, {"response": "still here"}))

    def test_key_without_a_value_at_the_token_bound_is_400(self):
        # jsmn accepts a key without a value; as the last of as many tokens
        # as the gateway holds (GW_TOKENS, 1024 on a host build), its value
        # would be read past the token array
        body = ('{"messages":[{"role":"user","content":"hi"}],"a":['
                + ",".join(["1"] * 1013) + '],"model"}')
        status, _, rb = post(self.url("/v1/chat/completions"), body)
        self.assertError(status, rb, 400)

    def test_40_concurrent_streams_each_get_their_own_answer(self):
        n = 40
        results = [None] * n

        def one(i):
            try:
                results[i] = post(
                    self.url("/v1/chat/completions"),
                    completion("concurrent %02d: alpha bravo charlie" % i,
                               model="t?event_delay_ms=20", stream=True))
            except AssertionError as e:
                results[i] = e

        threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        for i in range(n):
            with self.subTest(request=i):
                self.assertIsInstance(results[i], tuple, results[i])
                status, _, body = results[i]
                self.assertEqual(status, 200)
                ev = sse_events(body)
                self.assertEqual(ev[-1], "[DONE]")
                text = "".join(json.loads(e)["choices"][0]["delta"]
                               .get("content", "")
                               for e in ev[:-1] if json.loads(e)["choices"])
                self.assertEqual(text,
                                 "concurrent %02d: alpha bravo charlie" % i)

    def test_malformed_http_is_400_and_closed(self):
        s = socket.create_connection((TEST_HOST, self.gw.port), timeout=10)
        try:
            s.sendall(b"NONSENSE\r\n\r\n")
            status, headers, _ = read_response(s)
            self.assertEqual(status, 400)
            self.assertEqual(headers.get("connection"), "close")
            self.assertEqual(s.recv(100), b"")
        finally:
            s.close()

    def test_nul_or_bare_lf_in_the_head_is_400_at_once(self):
        # neither waits for a CRLF CRLF that will never come: the answer
        # is there well before --client-timeout
        for head in (b"GET /health HTTP/1.1\nHost: x\n\n",
                     b"GET /health HTTP/1.1\r\nHost: x\r\n\n",
                     b"GET /health HTTP/1.1\r\nHost: \x00x\r\n\r\n",
                     b"GET /hea\x00"):
            with self.subTest(head=head):
                s = socket.create_connection((TEST_HOST, self.gw.port),
                                             timeout=3)
                try:
                    s.sendall(head)
                    status, headers, _ = read_response(s)
                    self.assertEqual(status, 400)
                    self.assertEqual(headers.get("connection"), "close")
                finally:
                    s.close()

    def assertOneRefusal(self, data):
        """data on a fresh connection: one 400, marked "Connection: close",
        and then the end: no answer to anything read past the bad head."""
        s = socket.create_connection((TEST_HOST, self.gw.port), timeout=10)
        try:
            s.sendall(data)
            status, headers, body = read_response(s)
            self.assertEqual(status, 400, body)
            self.assertEqual(json.loads(body)["error"]["type"],
                             "invalid_request_error")
            self.assertEqual(headers.get("connection"), "close")
            self.assertEqual(s.recv(65536), b"")
        finally:
            s.close()

    def test_whitespace_before_the_colon_is_400_not_a_second_request(self):
        # RFC 9112 5.1: "Content-Length : 33" read as an unknown field
        # would leave the body to be taken as a pipelined request, one a
        # proxy in front would never have seen
        inner = b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n"
        self.assertEqual(len(inner), 33)
        with self.subTest("space before the colon of Content-Length"):
            self.assertOneRefusal(b"POST /chat HTTP/1.1\r\nHost: x\r\n"
                                  b"Content-Length : 33\r\n\r\n" + inner)
        with self.subTest("tab before the colon of Transfer-Encoding"):
            self.assertOneRefusal(b"GET /v1/models HTTP/1.1\r\nHost: x\r\n"
                                  b"Transfer-Encoding\t: chunked\r\n\r\n"
                                  b"21\r\n" + inner + b"\r\n0\r\n\r\n")

    def test_a_field_name_that_is_not_a_token_is_400(self):
        # RFC 9110 5.1: a field name is a token; a line that begins with
        # whitespace folds onto the one before (obs-fold, RFC 9112 5.2)
        for name, line in (("empty name", b": x"),
                           ("space in the name", b"X Note: x"),
                           ("leading space", b" X-Note: x"),
                           ("non-ASCII byte", b"X-N\xc3\xb6te: x"),
                           ("separator", b"X(Note): x"),
                           ("obs-fold with a space",
                            b"X-Note: a\r\n b: c"),
                           ("obs-fold with a tab",
                            b"X-Note: a\r\n\tb: c")):
            with self.subTest(name):
                self.assertOneRefusal(b"GET /health HTTP/1.1\r\nHost: x\r\n"
                                      + line + b"\r\n\r\n")
        # every tchar is allowed
        self.assertEqual(self.first_response(
            b"GET /health HTTP/1.1\r\nHost: x\r\n"
            b"!#$%&'*+-.^_`|~09AZaz: x\r\n\r\n")[0], 200)

    def first_response(self, raw):
        """raw sent on a new connection: the first response's (status,
        headers, body)."""
        s = socket.create_connection((TEST_HOST, self.gw.port), timeout=10)
        try:
            s.sendall(raw)
            return read_response(s)
        finally:
            s.close()

    def test_host_is_required_once_in_http_1_1(self):
        # RFC 9112 3.2
        with self.subTest("HTTP/1.1 without Host"):
            self.assertOneRefusal(b"GET /health HTTP/1.1\r\n\r\n")
        with self.subTest("two Host fields"):
            self.assertOneRefusal(b"GET /health HTTP/1.1\r\nHost: x\r\n"
                                  b"host: y\r\n\r\n")
        with self.subTest("two Host fields in HTTP/1.0"):
            self.assertOneRefusal(b"GET /health HTTP/1.0\r\nHost: x\r\n"
                                  b"Host: x\r\n\r\n")
        with self.subTest("HTTP/1.0 without Host is served"):
            status, headers, body = self.first_response(
                b"GET /health HTTP/1.0\r\n\r\n")
            self.assertEqual(status, 200, body)
            self.assertEqual(headers.get("connection"), "close")

    def test_a_version_that_is_not_http_1_digit_is_400(self):
        for version in (b"HTTP/1.x", b"HTTP/1. ", b"HTTP/1.+", b"HTTP/1.\x80"):
            with self.subTest(version=version):
                self.assertOneRefusal(b"GET /health " + version +
                                      b"\r\nHost: x\r\n\r\n")
        # a later minor version is answered as HTTP/1.1 (RFC 9110 6.2)
        self.assertEqual(self.first_response(
            b"GET /health HTTP/1.2\r\nHost: x\r\n\r\n")[0], 200)

    def test_invalid_content_length_is_400_and_closed(self):
        # RFC 9112 6.3: an invalid Content-Length cannot frame the body;
        # "5 6" read as 5 would take the rest as a pipelined request
        for value in ("5 6", "+5", " ", "5,5", "0x5", "5\x0b"):
            with self.subTest(value=value):
                status, headers, _ = self.first_response(
                    ("GET /health HTTP/1.1\r\nHost: x\r\n"
                     "Content-Length: %s\r\n\r\nabcde" % value).encode())
                self.assertEqual(status, 400)
                self.assertEqual(headers.get("connection"), "close")
        # optional whitespace around the value is allowed
        self.assertEqual(self.first_response(
            b"GET /health HTTP/1.1\r\nHost: x\r\n"
            b"Content-Length: 0 \t\r\n\r\n")[0], 200)

    def test_keep_alive_and_pipelining(self):
        s = socket.create_connection((TEST_HOST, self.gw.port), timeout=10)
        try:
            a = raw_request(0, "POST", "/chat", {"message": "first"})
            b = raw_request(0, "POST", "/v1/chat/completions",
                            completion("second"))
            c = raw_request(0, "GET", "/v1/models")
            s.sendall(a + b)  # two requests in one write
            st, h, body = read_response(s)
            self.assertEqual((st, json.loads(body)),
                             (200, {"response": "first"}))
            self.assertEqual(h.get("connection"), "keep-alive")
            st, _, body = read_response(s)
            self.assertEqual(json.loads(body)["choices"][0]["message"]
                             ["content"], "second")
            s.sendall(c)
            st, _, body = read_response(s)
            self.assertEqual(st, 200)
        finally:
            s.close()

    def test_expect_100_continue(self):
        # HTTP/1.1: "100 Continue" once the head is read, then the answer;
        # HTTP/1.0 knows no 1xx, so its expectation is ignored (RFC 9110
        # 10.1.1): a 100 would be taken for the answer itself
        body = json.dumps({"message": "continued"}).encode()
        for version, cont in (("1.1", True), ("1.0", False)):
            with self.subTest(version=version):
                a = socket.create_connection((TEST_HOST, self.gw.port),
                                             timeout=10)
                try:
                    a.sendall(("POST /chat HTTP/%s\r\nHost: x\r\n"
                               "Expect: 100-continue\r\nContent-Length: %d"
                               "\r\n\r\n" % (version, len(body))).encode())
                    # a whole exchange on another connection: by its end
                    # the gateway has read a's head (sent before it) and
                    # sent whatever it sends for it
                    b = socket.create_connection((TEST_HOST, self.gw.port),
                                                 timeout=10)
                    try:
                        b.sendall(raw_request(0, "GET", "/health"))
                        self.assertEqual(read_response(b)[0], 200)
                    finally:
                        b.close()
                    try:
                        early = a.recv(4096, socket.MSG_DONTWAIT)
                    except (BlockingIOError, socket.timeout):
                        early = b""  # nothing to read
                    self.assertEqual(
                        early, b"HTTP/1.1 100 Continue\r\n\r\n" if cont
                        else b"")
                    a.sendall(body)
                    st, _, rb = read_response(a)
                    self.assertEqual((st, json.loads(rb)),
                                     (200, {"response": "continued"}))
                finally:
                    a.close()

    def test_head_is_answered_without_a_body(self):
        # a client reads no body after an answer to HEAD (RFC 9110 9.3.2),
        # whatever its Content-Length: a body sent anyway is read as the
        # next response on the kept-alive connection
        for path, status in (("/v1/chat/completions", 405),
                             ("/nowhere", 404), ("/health", 200),
                             ("/v1/models", 200)):
            with self.subTest(path=path), socket.create_connection(
                    (TEST_HOST, self.gw.port), timeout=10) as s:
                s.sendall(raw_request(0, "HEAD", path))
                st, h, _ = read_response(s, head_only=True)
                self.assertGreater(int(h["content-length"]), 0)
                self.assertEqual(h.get("connection"), "keep-alive")
                # the next bytes are the next request's answer
                s.sendall(raw_request(0, "GET", "/v1/models"))
                st2, _, body = read_response(s)
                self.assertEqual(st2, 200, body)
                self.assertEqual(json.loads(body)["object"], "list")
                # and HEAD got GET's answer, head alone
                self.assertEqual(st, status)


class GatewayTextTests(unittest.TestCase):
    """What the gateway writes of providers' names and messages: valid
    UTF-8 JSON, whole. A gateway per test, with its own providers."""

    def gateway(self, providers):
        srv = Server().start()
        self.addCleanup(srv.stop)
        for p in providers:
            p.setdefault("base_url", srv.url)
        gw = Gateway(providers).start()
        self.addCleanup(gw.cleanup)
        return gw

    @staticmethod
    def scenario(**opts):
        return "t?" + urllib.parse.urlencode(opts)

    def test_a_provider_message_cut_in_a_character_stays_utf8(self):
        # 60 two-byte characters: the result's message holds 95 bytes, so
        # it is cut; llmc cuts between characters and the gateway writes
        # only well-formed UTF-8, in the 502, in /health and in a stream's
        # error event
        gw = self.gateway([{"name": "p", "model": self.scenario(
            status=500, msg="\u00e9" * 60)}])
        status, _, body = post(gw.base + "/v1/chat/completions",
                               completion("x"))
        self.assertEqual(status, 502, body)
        msg = json.loads(body.decode("utf-8"))["error"]["message"]
        self.assertIn("status 500: \u00e9\u00e9", msg)
        self.assertNotIn("\ufffd", msg)
        status, _, body = curl([gw.base + "/health"])
        self.assertEqual(status, 200, body)
        err = json.loads(body.decode("utf-8"))["providers"][0]["last_error"]
        self.assertIn("\u00e9\u00e9", err)
        gw = self.gateway([{"name": "p", "model": self.scenario(
            mid_error=2, msg="\u00e9" * 60)}])
        status, _, body = post(gw.base + "/v1/chat/completions",
                               completion("abcdefghijkl", stream=True))
        self.assertEqual(status, 200, body)
        events = sse_events(body)
        self.assertIn("\u00e9\u00e9", json.loads(events[-2])["error"]["message"])

    def test_a_provider_model_longer_than_a_requests_is_written_whole(self):
        # a provider's model (from the config) names the answers' "model"
        # and an entry of /v1/models, written from buffers sized for a
        # request's model (127 bytes, 762 escaped): a longer one went out
        # there cut short, naming another model
        model = "t?text=whole&pad=" + "m" * 1000 + "\u00e9\""
        gw = self.gateway([{"name": "p", "model": model}])
        status, _, body = post(gw.base + "/v1/chat/completions",
                               completion("x"))
        self.assertEqual(status, 200, body)
        self.assertEqual(json.loads(body)["model"], model)
        status, _, body = post(gw.base + "/v1/chat/completions",
                               completion("x", stream=True))
        self.assertEqual(status, 200, body)
        events = sse_events(body)
        self.assertEqual(events[-1], "[DONE]")
        for ev in events[:-1]:
            self.assertEqual(json.loads(ev)["model"], model)
        status, _, body = curl([gw.base + "/v1/models"])
        self.assertEqual(status, 200, body)
        self.assertEqual([m["id"] for m in json.loads(body)["data"]],
                         [model])

    def test_long_and_odd_provider_names_are_written_whole(self):
        names = ["\u00e9" * 200, '"' * 200, "back\\slash", "tab\there"]
        gw = self.gateway([{"name": n, "model": "m%d" % i}
                           for i, n in enumerate(names)])
        status, _, body = curl([gw.base + "/health"])
        self.assertEqual(status, 200, body)
        self.assertEqual([p["name"] for p in
                          json.loads(body.decode("utf-8"))["providers"]],
                         names)
        status, _, body = curl([gw.base + "/v1/models"])
        self.assertEqual(status, 200, body)
        self.assertEqual([m["owned_by"] for m in
                          json.loads(body.decode("utf-8"))["data"]], names)

    def test_usage_is_null_when_the_provider_sent_none(self):
        # the gateway passes on the provider's counts, and makes none up
        gw = self.gateway([{"name": "p", "model": self.scenario(usage=0)}])
        status, _, body = post(gw.base + "/v1/chat/completions",
                               completion("hi"))
        self.assertEqual(status, 200, body)
        r = json.loads(body)
        self.assertEqual(r["choices"][0]["message"]["content"], "hi")
        self.assertIsNone(r["usage"])
        status, _, body = post(
            gw.base + "/v1/chat/completions",
            completion("hi", stream=True,
                       stream_options={"include_usage": True}))
        self.assertEqual(status, 200, body)
        ev = sse_events(body)
        self.assertEqual(ev[-1], "[DONE]")
        last = json.loads(ev[-2])
        self.assertEqual(last["choices"], [])
        self.assertIn("usage", last)
        self.assertIsNone(last["usage"])

    def test_a_502_names_every_failed_attempt(self):
        # a formatted result of 8 attempts with long messages: longer than
        # one message, and all of it in the 502
        gw = self.gateway([{"name": "prov%d" % i, "model": self.scenario(
            status=500, msg="x" * 90)} for i in range(8)])
        status, _, body = post(gw.base + "/v1/chat/completions",
                               completion("x"))
        self.assertEqual(status, 502, body)
        msg = json.loads(body)["error"]["message"]
        for i in range(8):
            self.assertIn("prov%d: http error: status 500: " % i, msg)


class GatewayStateTests(unittest.TestCase):
    """What /health says of the providers, and what the gateway sends
    back of their failures: llmc's own view. A gateway per test."""

    def gateway(self, names, policy=None, args=(), model=None):
        srv = Server().start()
        self.addCleanup(srv.stop)
        providers = [{"name": n, "base_url": srv.url} for n in names]
        for p in providers if model is not None else ():
            p["model"] = model  # past the gateway's bound on a request's
        gw = Gateway(providers, policy=policy, args=args).start()
        self.addCleanup(gw.cleanup)
        return gw

    @staticmethod
    def health(gw):
        status, _, body = curl([gw.base + "/health"])
        if status != 200:
            raise AssertionError("/health: %d %r" % (status, body))
        return {p["name"]: p for p in json.loads(body)["providers"]}

    def test_health_cooldown_is_llmcs_own(self):
        # README rule 7: a 400 refuses the request, not the provider; it
        # neither counts toward cooldown nor resets the run. /health says
        # what llmc does: a is not cooling down, and answers next
        gw = self.gateway(["a", "b"])
        for _ in range(3):
            status, _, body = post(gw.base + "/v1/chat/completions",
                                   completion("x", model="t?status=400"))
            self.assertEqual(status, 502, body)
        h = self.health(gw)
        for name in ("a", "b"):
            self.assertEqual((h[name]["cooling_down"],
                              h[name]["consecutive_failures"],
                              h[name]["attempts"], h[name]["failures"]),
                             (False, 0, 3, 3), h)
        status, _, body = post(gw.base + "/v1/chat/completions",
                               completion("next"))
        self.assertEqual(status, 200, body)
        h = self.health(gw)
        self.assertEqual((h["a"]["attempts"], h["a"]["last_error"]),
                         (4, None), h)
        self.assertEqual(h["b"]["attempts"], 3, h)
        # a 500 counts: three in a row cool both down
        for _ in range(3):
            status, _, body = post(gw.base + "/v1/chat/completions",
                                   completion("x", model="t?status=500"))
            self.assertEqual(status, 502, body)
        h = self.health(gw)
        for name in ("a", "b"):
            self.assertEqual((h[name]["cooling_down"],
                              h[name]["consecutive_failures"]), (True, 3), h)


    def test_an_upstream_error_message_is_sent_whole(self):
        # README: the 502's message is the whole formatted result, every
        # attempt; here 9 attempts (8 recorded) of ~140 bytes, well past
        # any 1 KB buffer, end with the line that counts the others
        names = ["provider-%s-%d" % ("x" * 9, i) for i in range(3)]
        msg = "".join("%03d " % i for i in range(30))  # 120 bytes
        gw = self.gateway(names, policy={"max_retries": 2,
                                         "backoff_base_ms": 1,
                                         "backoff_max_ms": 1},
                          model="t?status=429&msg=" + msg.replace(" ", "+"))
        status, _, body = post(gw.base + "/v1/chat/completions",
                               completion("x"))
        self.assertEqual(status, 502, body)
        text = json.loads(body)["error"]["message"]
        lines = text.split("\n")
        self.assertGreater(len(text.encode()), 1023, text)
        self.assertEqual(lines[0], "all providers failed:")
        self.assertEqual(len(lines), 10, text)
        for i, line in enumerate(lines[1:9]):
            self.assertTrue(line.startswith(
                "%s: http error: status 429: 000 001 " % names[i // 3]),
                line)
        self.assertEqual(lines[9], "(1 more attempts not recorded)")
        # a stream's error event too: a long name makes its one line long
        srv = Server().start()
        self.addCleanup(srv.stop)
        name = "n" * 1500 + "-end"
        gw = Gateway([{"name": name, "base_url": srv.url,
                       "model": "t?mid_error=2&msg=broke+at+the+end"}]).start()
        self.addCleanup(gw.cleanup)
        status, _, body = post(gw.base + "/v1/chat/completions",
                               completion("abcdefghijkl", stream=True))
        self.assertEqual(status, 200, body)
        ev = sse_events(body)
        self.assertEqual(ev[-1], "[DONE]")
        self.assertEqual(json.loads(ev[-2])["error"]["message"],
                         "failed after partial content:\n%s: api error: "
                         "broke at the end" % name)

    def test_an_upstream_error_message_of_many_characters_is_sent_whole(self):
        # the 502's Content-Length is counted by escaping the message in
        # pieces of 256 bytes, and the body is escaped in one: a piece that
        # ends within a character must count (and send) it as it is, whole.
        # The name puts the 256th byte among the 2-byte characters.
        name = "n" * 200
        for pad in ("", "x"):  # a piece ends on either byte of one
            with self.subTest(pad=pad):
                gw = self.gateway([name], args=("--client-timeout", "2"),
                                  model="t?status=400&msg=" + pad +
                                  "%D1%8F" * 60)
                # post() fails on a body shorter than its Content-Length
                status, _, body = post(gw.base + "/v1/chat/completions",
                                       completion("x"))
                self.assertEqual(status, 502, body)
                line = json.loads(body.decode("utf-8"))["error"][
                    "message"].split("\n")[-1]
                self.assertIn("\u044f" * 20, line)
                self.assertEqual(line.replace("\u044f", ""),
                                 "%s: http error: status 400: %s"
                                 % (name, pad), line)

    def test_a_default_model_the_gateway_would_cut_is_refused(self):
        # --model names the model of requests that give none; one longer
        # than a request's model may be (GW_MODEL_MAX) would go out cut
        # short, naming another model, or as bytes that are not UTF-8
        for value in ("m" * 128, b"caf\xe9"):
            with self.subTest(value=value):
                self.assertRefusedAtStart("--model", value,
                                          "llmc-gateway: --model ")

    def test_a_provider_model_too_long_for_the_gateway_is_refused(self):
        # a provider's model goes whole into every chunk and answer head,
        # which the output buffer (16 KB) holds: one that could not fit is
        # refused at start, not cut nor a connection dropped at each answer
        with tempfile.TemporaryDirectory() as tmp:
            cfg = os.path.join(tmp, "providers.json")
            with open(cfg, "w") as f:
                json.dump({"providers": [
                    {"name": "a", "base_url": "http://h/v1", "model": "m"},
                    {"name": "b", "base_url": "http://h/v1",
                     "model": "m" * 5000, "working": False}]}, f)
            p = subprocess.Popen(
                [GATEWAY, "-c", cfg, "--listen", "%s:0" % TEST_HOST],
                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            try:
                _, err = p.communicate(timeout=5)
            except subprocess.TimeoutExpired:
                p.kill()
                p.communicate()
                self.fail("started with a model of 5000 bytes")
        self.assertEqual(p.returncode, 2, err)
        self.assertIn(b"llmc-gateway: config: providers[1].model is too "
                      b"long for the gateway", err)

    def assertRefusedAtStart(self, opt, value, message):
        """The gateway, given opt value beside a config it can run, exits
        with 2 before it serves, and says message on stderr."""
        with tempfile.TemporaryDirectory() as tmp:
            cfg = os.path.join(tmp, "providers.json")
            with open(cfg, "w") as f:
                json.dump({"providers": [{"name": "a",
                                          "base_url": "http://h/v1"}]}, f)
            p = subprocess.Popen(
                [GATEWAY, "-c", cfg, "--listen", "%s:0" % TEST_HOST,
                 opt, value], stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE)
            try:
                _, err = p.communicate(timeout=5)
            except subprocess.TimeoutExpired:
                p.kill()
                p.communicate()
                self.fail("started with %s %r" % (opt, value))
            err = err.decode("utf-8", "replace")
            self.assertEqual(p.returncode, 2, err)
            self.assertIn(message, err)
            self.assertNotIn("runtime error", err)

    def test_number_options_out_of_range_or_not_numbers_are_refused(self):
        # as the other tools' number options: exit 2 and a message that
        # names the option, never a silent 0 or an out-of-range conversion
        cases = (("--client-timeout", "abc"), ("--client-timeout", "0"),
                 ("--client-timeout", "5000000"), ("--client-timeout", ""),
                 ("--client-timeout", "nan"), ("--grace", "x"),
                 ("--grace", "-1"), ("--grace", "1e12"),
                 ("--max-inflight", "0"), ("--max-inflight", "10x"),
                 ("--max-inflight", "1000"), ("--queue", "-1"),
                 ("--queue", "abc"), ("--queue", "100000"))
        for opt, value in cases:
            with self.subTest(opt=opt, value=value):
                self.assertRefusedAtStart(opt, value,
                                          "llmc-gateway: %s needs " % opt)

    def test_names_too_long_for_a_whole_error_message_are_refused(self):
        # the longest failed request's message must fit the buffer it is
        # sent from (GW_ANSWER_MAX, 64 KB): a name of 9,000 bytes, on each
        # of 8 recorded attempts, would not
        with tempfile.TemporaryDirectory() as tmp:
            cfg = os.path.join(tmp, "providers.json")
            with open(cfg, "w") as f:
                json.dump({"providers": [{"name": "n" * 9000,
                                          "base_url": "http://h/v1"}]}, f)
            p = subprocess.run([GATEWAY, "-c", cfg, "--listen",
                                "%s:0" % TEST_HOST],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               timeout=20)
        self.assertEqual(p.returncode, 2, p.stderr)
        self.assertIn(b"llmc-gateway: config: provider names too long",
                      p.stderr)


class GatewayLifecycleTests(unittest.TestCase):
    """A gateway per test, with its own provider, so that the provider's
    /stats (open connections, requests) belong to the test."""

    def start(self, args=(), scenario=None, wrap=()):
        srv = Server(scenario=scenario).start()
        self.addCleanup(srv.stop)
        gw = Gateway([{"name": "p", "base_url": srv.url}], args=args,
                     wrap=wrap).start()
        self.addCleanup(gw.cleanup)
        return srv, gw

    @staticmethod
    def cpu(gw):
        """The CPU seconds the gateway process has used."""
        with open("/proc/%d/stat" % gw.proc.pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def assertBacklogWaitsIdle(self, gw, n_idle, n_freed, what):
        """n_idle idle clients hold what the gateway has (its slots, its
        descriptors); one more sends a request, which waits in the listen
        backlog while the gateway stays all but idle, and is answered once
        n_freed of the idle clients have gone. Then a clean exit."""
        idle = []
        try:
            for _ in range(n_idle):
                idle.append(socket.create_connection((TEST_HOST, gw.port),
                                                     timeout=10))
            extra = socket.create_connection((TEST_HOST, gw.port), timeout=10)
            extra.sendall(raw_request(0, "POST", "/chat",
                                      {"message": "waited"}))
            time.sleep(0.3)
            c0, t0 = self.cpu(gw), time.monotonic()
            time.sleep(1.5)
            used, spent = self.cpu(gw) - c0, time.monotonic() - t0
            self.assertLess(used, 0.3 * spent, "gateway busy " + what)
            for _ in range(n_freed):
                idle.pop().close()
            st, _, body = read_response(extra)
            self.assertEqual((st, json.loads(body)),
                             (200, {"response": "waited"}))
            extra.close()
        finally:
            for s in idle:
                s.close()
        self.assertCleanExit(gw, gw.stop())

    def assertCleanExit(self, gw, rc):
        err = gw.stderr()
        self.assertEqual(rc, 0, err)
        for s in SAN_ERRORS:
            self.assertNotIn(s, err)

    def test_listen_on_an_ipv6_address_in_brackets(self):
        try:
            socket.socket(socket.AF_INET6).bind(("::1", 0))
        except OSError:
            self.skipTest("no IPv6 loopback")
        for listen in ("[::1]:0", "::1:0"):
            with self.subTest(listen=listen):
                _, gw = self.start(args=["--listen", listen])
                s = socket.create_connection(("::1", gw.port), timeout=10)
                try:
                    s.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
                    self.assertEqual(read_response(s)[0], 200)
                finally:
                    s.close()

    def test_client_vanishing_mid_stream_cancels_its_request(self):
        srv, gw = self.start()
        s = socket.create_connection((TEST_HOST, gw.port), timeout=10)
        s.sendall(raw_request(0, "POST", "/v1/chat/completions",
                              completion("x" * 200,
                                         model="t?event_delay_ms=50&piece=2",
                                         stream=True)))
        buf = b""
        while b"data: " not in buf:
            buf += s.recv(65536)
        self.assertEqual(srv.stats()["open"], 1)
        s.close()
        # the provider sees its connection closed long before the 100
        # events (5 s) would have been sent
        wait_for(lambda: srv.stats()["open"] == 0, 3.0,
                 "the upstream connection to close")
        status, _, body = curl([gw.base + "/health"])
        wait_for(lambda: json.loads(curl([gw.base + "/health"])[2])
                 ["in_flight"] == 0, 3.0, "no request in flight")
        status, _, body = post(gw.base + "/chat", {"message": "next"})
        self.assertEqual((status, json.loads(body)),
                         (200, {"response": "next"}))
        self.assertCleanExit(gw, gw.stop())

    def test_half_close_after_the_request(self):
        # A client that sends its request and then shuts its sending side
        # (`nc -N`, some HTTP/1.0 clients). TCP_CORK holds the request
        # until the shutdown, so the request and the FIN arrive in one
        # segment and the gateway reads both in one go. What it answers
        # at once still goes out, marked "Connection: close", and the
        # connection then closes. A chat request is not started: a client
        # that has closed is taken as gone, as when it closes while its
        # request waits.
        srv, gw = self.start()
        cases = (("health", b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n", 200),
                 ("bad body", raw_request(0, "POST", "/chat", b"{"), 400),
                 ("unknown path", raw_request(0, "GET", "/nope"), 404),
                 ("chat", raw_request(0, "POST", "/chat",
                                      {"message": "x"}), None))
        for what, req, want in cases:
            with self.subTest(what):
                s = socket.create_connection((TEST_HOST, gw.port),
                                             timeout=10)
                try:
                    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_CORK, 1)
                    s.sendall(req)
                    s.shutdown(socket.SHUT_WR)
                    if want is not None:
                        st, h, body = read_response(s)
                        self.assertEqual(st, want, body)
                        self.assertEqual(h.get("connection"), "close")
                    self.assertEqual(s.recv(100), b"")
                finally:
                    s.close()
        self.assertEqual(srv.stats()["requests"], 0)
        status, _, body = post(gw.base + "/chat", {"message": "next"})
        self.assertEqual((status, json.loads(body)),
                         (200, {"response": "next"}))
        self.assertCleanExit(gw, gw.stop())

    def test_client_reset_with_a_full_request_buffer_cancels_its_request(self):
        # The client pipelines more than the request buffer holds behind a
        # request that waits, then resets. With the buffer full the gateway
        # reads nothing more, so the reset is all poll reports: it must end
        # the request, not be reported again at every poll until it ends.
        srv, gw = self.start()
        s = socket.create_connection((TEST_HOST, gw.port), timeout=10)
        s.sendall(raw_request(0, "POST", "/v1/chat/completions",
                              completion("x", model="t?hang=1")))
        wait_for(lambda: srv.stats()["open"] == 1, 3.0,
                 "the request to reach the provider")
        s.sendall(b"G" * (64 * 1024))
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                     struct.pack("ii", 1, 0))
        s.close()  # RST
        wait_for(lambda: srv.stats()["open"] == 0, 3.0,
                 "the upstream connection to close")
        status, _, body = post(gw.base + "/chat", {"message": "next"})
        self.assertEqual((status, json.loads(body)),
                         (200, {"response": "next"}))
        self.assertCleanExit(gw, gw.stop())

    def test_slow_client_is_disconnected_and_others_served(self):
        srv, gw = self.start(args=["--client-timeout", "1"])
        s = socket.create_connection((TEST_HOST, gw.port), timeout=10)
        try:
            s.sendall(b"POST /chat HTTP/1.1\r\nHost: x\r\n"
                      b"Content-Length: 50\r\n\r\n{")
            t0 = time.monotonic()
            status, _, body = post(gw.base + "/chat", {"message": "other"})
            self.assertEqual(status, 200)
            s.settimeout(5)
            self.assertEqual(s.recv(100), b"")  # closed by the gateway
            self.assertLess(time.monotonic() - t0, 4)
        finally:
            s.close()
        self.assertCleanExit(gw, gw.stop())

    @staticmethod
    def blank_lines_until_closed(s, limit=8):
        """Send a bare CRLF every 0.5 s until the gateway closes s; the
        seconds that took, or None if it is still open after limit."""
        t0 = time.monotonic()
        s.settimeout(0.5)
        while time.monotonic() - t0 < limit:
            try:
                s.sendall(b"\r\n")
                if s.recv(100) == b"":
                    return time.monotonic() - t0
            except socket.timeout:
                continue
            except OSError:  # reset: closed too
                return time.monotonic() - t0
        return None

    def test_blank_lines_do_not_hold_a_connection_past_the_timeout(self):
        # a bare CRLF now and then is the start of a request (RFC 9112 2.2
        # lets blank lines precede one): the whole-request bound runs from
        # the first, however often more come
        srv, gw = self.start(args=["--client-timeout", "2"])
        with socket.create_connection((TEST_HOST, gw.port), timeout=10) as s:
            closed_after = self.blank_lines_until_closed(s)
        self.assertIsNotNone(closed_after, "still open after 8 s")
        self.assertLess(closed_after, 4)
        # on a keep-alive connection, blank lines after a response count
        # from the first too
        with socket.create_connection((TEST_HOST, gw.port), timeout=10) as s:
            s.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
            self.assertEqual(read_response(s)[0], 200)
            closed_after = self.blank_lines_until_closed(s)
        self.assertIsNotNone(closed_after, "still open after 8 s")
        self.assertLess(closed_after, 4)
        status, _, body = post(gw.base + "/chat", {"message": "next"})
        self.assertEqual((status, json.loads(body)),
                         (200, {"response": "next"}))
        self.assertCleanExit(gw, gw.stop())

    def test_clients_beyond_the_connection_slots_wait_without_spinning(self):
        # 128 connection slots (GW_CONNS on a host build), all held by idle
        # clients: the next clients wait in the listen backlog, and the
        # gateway sleeps meanwhile instead of polling a listener it cannot
        # accept from
        srv, gw = self.start(args=["--client-timeout", "30"])
        # a slot frees: the waiting client is served
        self.assertBacklogWaitsIdle(gw, 128, 1, "while full")

    def test_oversized_body_sent_whole_still_gets_its_413(self):
        # A client without "Expect: 100-continue" sends its whole body
        # before it reads. Closing with that body unread resets the
        # connection, and a body larger than the socket buffers then fails
        # the client's send before it ever reads the 413.
        srv, gw = self.start()
        body = b'{"message": "' + b"x" * (32 << 20) + b'"}'
        s = socket.create_connection((TEST_HOST, gw.port), timeout=20)
        try:
            s.sendall(raw_request(0, "POST", "/chat", body))
            status, headers, rb = read_response(s)
            self.assertEqual(status, 413, rb)
            self.assertEqual(headers.get("connection"), "close")
        finally:
            s.close()
        status, _, body = post(gw.base + "/chat", {"message": "next"})
        self.assertEqual((status, json.loads(body)),
                         (200, {"response": "next"}))
        self.assertCleanExit(gw, gw.stop())

    def test_out_of_file_descriptors_waits_without_spinning(self):
        # a descriptor limit far below the connection slots: accept()
        # fails with EMFILE while clients wait in the backlog, and the
        # gateway must not poll its ever-ready listener in a loop
        srv, gw = self.start(args=["--client-timeout", "30"],
                             wrap=["sh", "-c", 'ulimit -n 24 && exec "$@"',
                                   "sh"])
        # descriptors free: the waiting client is served
        self.assertBacklogWaitsIdle(gw, 40, 40, "at EMFILE")

    def test_beyond_inflight_and_queue_is_503_with_retry_after(self):
        srv, gw = self.start(args=["--max-inflight", "1", "--queue", "1"])
        results = [None] * 3

        def one(i):
            results[i] = post(gw.base + "/chat" if i < 0 else
                              gw.base + "/v1/chat/completions",
                              completion("slow %d" % i, model="t?delay_ms=1500"))

        threads = [threading.Thread(target=one, args=(i,)) for i in range(2)]
        for t in threads:
            t.start()
        # both accepted by the gateway: one running, one waiting
        wait_for(lambda: json.loads(curl([gw.base + "/health"])[2])
                 ["in_flight"] == 2, 5.0, "two requests in flight")
        status, head, body = post(gw.base + "/v1/chat/completions",
                                  completion("third"))
        self.assertEqual(status, 503, body)
        self.assertIn("Retry-After: 1", head)
        for t in threads:
            t.join(20)
        for i in range(2):
            st, _, b = results[i]
            self.assertEqual(st, 200)
            self.assertEqual(json.loads(b)["choices"][0]["message"]["content"],
                             "slow %d" % i)
        self.assertEqual(srv.stats()["max_open"], 1)  # max_inflight held
        status, _, body = post(gw.base + "/v1/chat/completions",
                               completion("again"))
        self.assertEqual(status, 200)
        self.assertCleanExit(gw, gw.stop())

    def _slow_request_then_sigterm(self, grace, delay_ms):
        srv, gw = self.start(args=["--grace", grace])
        out = {}

        def run():
            out["r"] = post(gw.base + "/v1/chat/completions",
                            completion("in flight",
                                       model="t?delay_ms=%d" % delay_ms))

        t = threading.Thread(target=run)
        t.start()
        wait_for(lambda: srv.stats()["chat_requests"] == 1, 5.0,
                 "the request to reach the provider")
        t0 = time.monotonic()
        gw.proc.send_signal(signal.SIGTERM)
        # stops accepting: new connections are refused while the request
        # in flight goes on
        def refused():
            try:
                socket.create_connection((TEST_HOST, gw.port),
                                         timeout=2).close()
                return False
            except OSError:
                return True
        wait_for(refused, 2.0, "new connections to be refused")
        self.assertEqual(srv.stats()["chat_requests"], 1)
        rc = gw.proc.wait(15)
        elapsed = time.monotonic() - t0
        t.join(10)
        self.assertCleanExit(gw, gw.stop() if gw.proc else rc)
        return out["r"], elapsed

    def test_sigterm_lets_the_request_in_flight_finish(self):
        (status, _, body), elapsed = self._slow_request_then_sigterm("5", 1500)
        self.assertEqual(status, 200, body)
        self.assertEqual(json.loads(body)["choices"][0]["message"]["content"],
                         "in flight")
        self.assertLess(elapsed, 5)

    def test_sigterm_cancels_what_outlives_the_grace_period(self):
        (status, _, body), elapsed = self._slow_request_then_sigterm("0.5",
                                                                     8000)
        self.assertEqual(status, 502, body)
        self.assertIn("cancel", json.loads(body)["error"]["message"])
        self.assertLess(elapsed, 4)


if __name__ == "__main__":
    unittest.main()
