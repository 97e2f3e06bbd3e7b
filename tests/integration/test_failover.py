"""Integration tests for llmc's failover, retry, cooldown and IAM auth
(DESIGN.md "Semantics" 1-8), against real local test servers.

Every provider gets its own test server, so /stats tells which providers
were contacted and how often; a provider's "model" carries its scenario
(e.g. "t?status=503&fail_first=1"). Single requests go through the
llmc-chat CLI; behaviours that span requests on one client (cooldown, IAM
token reuse, shuffle statistics, the on_attempt callback) go through
llmc-multi (tests/integration/llmc_multi.c), which prints one JSON line per
request with the result and every attempt.

Timing is asserted on what was recorded (the servers' arrival times in
/stats "request_times", llmc's own elapsed_ms) with generous upper bounds.
"""

import json
import os
import re
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import urllib.parse

from harness import (TEST_HOST, Server, cert_path, chat_binary, free_port,
                     late_refused_port, refused_port, run_chat, tool_path,
                     unanswered_port, wait_for)

MULTI = tool_path("llmc-multi")
CONC = tool_path("llmc-conc")
TIMEOUT = 30
API_KEY = "sk-llmc-FAILOVER-5e1d9b7a3c"
IAM_KEY_ID = "iam-key-id-4711"
IAM_SECRET = "iam-SECRET-c0ffee-d00d"
IAM_PROJECT = "proj-42"

# Small waits so that the suite stays fast; cooldown off unless a test
# turns it on (the library default is 3 failures).
BASE_POLICY = {
    "max_retries": 2,
    "backoff_base_ms": 50,
    "backoff_max_ms": 200,
    "connect_timeout_ms": 2000,
    "first_byte_timeout_ms": 5000,
    "idle_timeout_ms": 5000,
    "deadline_ms": 20000,
    "cooldown_after": 0,
}

TRYING = re.compile(r"^llmc-chat: trying (\S+) \(#(\d+)\)$", re.M)


def model(**scenario):
    """The model string that gives a test server its scenario."""
    if not scenario:
        return "t"
    return "t?" + urllib.parse.urlencode(scenario)


def chat_count(srv):
    """Requests the server received on its chat endpoint (including ones
    refused for their credentials)."""
    return len(srv.stats()["request_times"])


class FailoverCase(unittest.TestCase):
    """Base class: a few plain test servers for the class, counters reset
    before every test, a temporary directory for config files."""

    n_servers = 3
    server_args = {}

    @classmethod
    def setUpClass(cls):
        cls.servers = []
        try:
            for _ in range(cls.n_servers):
                cls.servers.append(Server(**cls.server_args).start())
        except Exception:
            cls.tearDownClass()
            raise

    @classmethod
    def tearDownClass(cls):
        for s in cls.servers:
            s.stop()
        cls.servers = []

    def setUp(self):
        if not os.access(chat_binary(), os.X_OK):
            self.skipTest("llmc-chat binary not found at %s" % chat_binary())
        for s in self.servers:
            s.reset()
        self.tmp = tempfile.mkdtemp(prefix="llmc-failover-")
        self.addCleanup(shutil.rmtree, self.tmp, True)

    # -- config -------------------------------------------------------------
    def prov(self, name, target, scenario=None, **extra):
        """A provider entry. target: a Server, or a port number where
        connections are refused."""
        if isinstance(target, int):
            url = "http://%s:%d/v1" % (TEST_HOST, target)
        else:
            url = target.url
        p = {"name": name, "base_url": url,
             "model": model(**(scenario or {}))}
        p.update(extra)
        return p

    def config(self, providers, **policy):
        pol = dict(BASE_POLICY)
        pol.update(policy)
        path = os.path.join(self.tmp, "cfg%d.json" % len(os.listdir(self.tmp)))
        with open(path, "w") as f:
            json.dump({"providers": providers, "policy": pol}, f)
        return path

    # -- running ------------------------------------------------------------
    def chat(self, cfg, *args, prompt="hello failover", timeout=TIMEOUT,
             binary=None, env=None):
        """Run llmc-chat -c cfg (or another build of it); returns (rc,
        stdout bytes, stderr, seconds)."""
        t0 = time.monotonic()
        try:
            rc, out, err = run_chat(["-c", cfg] + list(args) + [prompt],
                                    timeout=timeout, binary=binary, env=env)
        except subprocess.TimeoutExpired:
            self.fail("llmc-chat did not finish within %d s" % timeout)
        return rc, out, err, time.monotonic() - t0

    def need_multi(self):
        if not os.access(MULTI, os.X_OK):
            self.fail("llmc-multi not found at %s (make %s)" % (MULTI, MULTI))

    def multi(self, cfg, n, prompt=None, timeout=TIMEOUT, wrap=()):
        """Run llmc-multi (under the command wrap, if any): n requests on
        one client; returns the results."""
        self.need_multi()
        cmd = list(wrap) + [MULTI, cfg, str(n)] + ([prompt] if prompt else [])
        p = subprocess.run(cmd, stdin=subprocess.DEVNULL,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           timeout=timeout)
        err = p.stderr.decode("utf-8", "replace")
        self.assertEqual(p.returncode, 0, err)
        lines = p.stdout.decode("utf-8").splitlines()
        self.assertEqual(lines[-1], "done %d" % n, err)
        return [json.loads(x) for x in lines[:-1]]

    def session(self, cfg, n, wrap=()):
        """llmc-multi -i (under the command wrap, if any): the test
        triggers each request (see Session)."""
        self.need_multi()
        s = Session(cfg, n, wrap)
        self.addCleanup(s.close)
        return s

    # -- assertions ---------------------------------------------------------
    def assertAnswered(self, res, name, prompt="hello failover"):
        rc, out, err, _ = res
        self.assertEqual(rc, 0, "stderr: %s" % err)
        self.assertEqual(out, prompt.encode(), "stderr: %s" % err)
        self.assertIn("llmc-chat: %s answered in " % name, err)

    def assertUntouched(self, *servers):
        for s in servers:
            st = s.stats()
            self.assertEqual(st["connections"], 0, "port %d" % s.port)
            self.assertEqual(st["requests"], 0, "port %d" % s.port)

    def trying(self, err):
        return [m.group(1) for m in TRYING.finditer(err)]

    def report_lines(self, err, head="all providers failed:"):
        """The formatted attempt list on stderr (lines after head)."""
        lines = err.splitlines()
        self.assertIn(head, lines, err)
        return lines[lines.index(head) + 1:]

    def attempts(self, r):
        return [(a["provider"], a["kind"]) for a in r["attempts"]]


class Session:
    """llmc-multi -i: one client, requests triggered one at a time, so that
    a test can act between them (revoke tokens, read stats, wait)."""

    def __init__(self, cfg, n, wrap=()):
        self.proc = subprocess.Popen(list(wrap) + [MULTI, "-i", cfg, str(n)],
                                     stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE)

    def request(self, *ignore):
        self.proc.stdin.write((" ".join(ignore) + "\n").encode())
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise AssertionError("llmc-multi ended: %s"
                                 % self.proc.stderr.read().decode())
        return json.loads(line)

    def close(self):
        if self.proc.poll() is None:
            self.proc.stdin.close()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        for f in (self.proc.stdout, self.proc.stderr):
            f.close()
        if not self.proc.stdin.closed:
            self.proc.stdin.close()


# ---------------------------------------------------------------------------

class FailoverTests(FailoverCase):

    # 1
    def test_connection_refused_fails_over_to_next(self):
        a, b = refused_port(), self.servers[0]
        cfg = self.config([self.prov("a", a), self.prov("b", b)],
                          max_retries=1)
        res = self.chat(cfg, "-v")
        self.assertAnswered(res, "b")
        # a is retried once (connect errors are retryable), then b
        self.assertEqual(self.trying(res[2]), ["a", "a", "b"])
        self.assertIn("llmc-chat: trying a (#0)", res[2])
        self.assertIn("llmc-chat: trying b (#1)", res[2])
        self.assertEqual(b.stats()["chat_requests"], 1)

    # 2
    def test_first_byte_timeout_fails_over(self):
        a, b = self.servers[0], self.servers[1]
        cfg = self.config([self.prov("a", a, {"hang": 1}), self.prov("b", b)],
                          max_retries=1, first_byte_timeout_ms=300)
        res = self.chat(cfg, "-v")
        self.assertAnswered(res, "b")
        self.assertEqual(self.trying(res[2]), ["a", "a", "b"])
        # a counts a request once it has read it, which on a loaded
        # machine may be after llmc gave up on it and moved on
        wait_for(lambda: a.stats()["chat_requests"] >= 2,
                 what="a to read the second request")
        self.assertEqual(a.stats()["chat_requests"], 2)
        self.assertEqual(b.stats()["chat_requests"], 1)
        # two first-byte timeouts of 300 ms and a short backoff
        self.assertGreaterEqual(res[3], 0.55)
        self.assertLess(res[3], 3.0)
        ta = a.stats()["request_times"]
        self.assertGreaterEqual(ta[1] - ta[0], 0.29)
        self.assertLess(ta[1] - ta[0], 1.5)

    def test_connect_timeout_fails_over(self):
        a, b = unanswered_port(), self.servers[1]
        cfg = self.config([self.prov("a", a), self.prov("b", b)],
                          max_retries=0, connect_timeout_ms=300)
        res = self.chat(cfg, "-v")
        self.assertAnswered(res, "b")
        self.assertEqual(self.trying(res[2]), ["a", "b"])
        self.assertGreaterEqual(res[3], 0.29)
        self.assertLess(res[3], 3.0)
        r, = self.multi(cfg, 1, "echo me")
        self.assertEqual(r["status"], "ok")
        self.assertEqual(self.attempts(r), [("a", "timeout"), ("b", "ok")])
        self.assertEqual(r["attempts"][0]["message"],
                         "connect timed out after 300 ms")
        self.assertGreaterEqual(r["attempts"][0]["ms"], 290)

    def test_connect_timeout_after_done_is_not_taken_for_the_answer(self):
        # a's stream ends with [DONE] but no content; the next attempt's
        # connect times out. That [DONE] belongs to a's attempt: b's must
        # end as the connect timeout it is, not as another empty answer.
        a, b = self.servers[0], unanswered_port()
        cfg = self.config([self.prov("a", a, {"empty": 1}), self.prov("b", b)],
                          max_retries=0, connect_timeout_ms=300)
        r, = self.multi(cfg, 1)
        self.assertEqual(r["status"], "timeout")
        self.assertEqual(self.attempts(r), [("a", "empty response"),
                                            ("b", "timeout")])
        self.assertEqual(r["attempts"][1]["message"],
                         "connect timed out after 300 ms")
        self.assertEqual(r["attempts"][1]["http"], 0)

    # 3
    def test_503_then_success_retries_same_provider(self):
        a, b = self.servers[0], self.servers[1]
        cfg = self.config([self.prov("a", a, {"status": 503,
                                              "fail_first": 1}),
                           self.prov("b", b)])
        res = self.chat(cfg, "-v")
        self.assertAnswered(res, "a")
        self.assertEqual(self.trying(res[2]), ["a", "a"])
        st = a.stats()
        self.assertEqual(st["chat_requests"], 2)
        # the retry waited a backoff: base 50 ms minus at most 25 % jitter
        self.assertGreaterEqual(st["request_times"][1] - st["request_times"][0],
                                0.035)
        self.assertUntouched(b)

    # 4
    def test_429_retry_after_1_is_honoured(self):
        a, b = self.servers[0], self.servers[1]
        cfg = self.config([self.prov("a", a, {"status": 429, "retry_after": 1,
                                              "fail_first": 1}),
                           self.prov("b", b)])
        res = self.chat(cfg)
        self.assertAnswered(res, "a")
        t = a.stats()["request_times"]
        self.assertEqual(len(t), 2)
        self.assertGreaterEqual(t[1] - t[0], 1.0)
        self.assertLess(t[1] - t[0], 2.5)
        self.assertUntouched(b)

    def test_429_retry_after_ms_is_honoured(self):
        a, b = self.servers[0], self.servers[1]
        cfg = self.config([self.prov("a", a, {"status": 429,
                                              "retry_after_ms": 400,
                                              "fail_first": 1}),
                           self.prov("b", b)])
        res = self.chat(cfg)
        self.assertAnswered(res, "a")
        t = a.stats()["request_times"]
        self.assertEqual(len(t), 2)
        self.assertGreaterEqual(t[1] - t[0], 0.4)
        self.assertLess(t[1] - t[0], 1.5)
        self.assertUntouched(b)

    def test_429_retry_after_3600_moves_on_at_once(self):
        a, b = self.servers[0], self.servers[1]
        cfg = self.config([self.prov("a", a, {"status": 429,
                                              "retry_after": 3600}),
                           self.prov("b", b)])
        res = self.chat(cfg, "-v")
        self.assertAnswered(res, "b")
        self.assertEqual(self.trying(res[2]), ["a", "b"])
        self.assertEqual(a.stats()["chat_requests"], 1)
        self.assertEqual(b.stats()["chat_requests"], 1)
        self.assertLess(res[3], 2.0)

    # 5
    def test_401_with_bearer_key_not_retried(self):
        b = self.servers[0]
        with Server(require_auth="the-right-key") as a:
            cfg = self.config([self.prov("a", a, api_key=API_KEY),
                               self.prov("b", b)])
            res = self.chat(cfg, "-v")
            self.assertAnswered(res, "b")
            self.assertEqual(self.trying(res[2]), ["a", "b"])
            st = a.stats()
            self.assertEqual(st["requests"], 1)
            self.assertEqual(len(st["request_times"]), 1)
            self.assertEqual(st["last_request"]["headers"]["authorization"],
                             "Bearer " + API_KEY)
        self.assertEqual(b.stats()["chat_requests"], 1)

    def test_401_status_not_retried(self):
        a, b = self.servers[0], self.servers[1]
        cfg = self.config([self.prov("a", a, {"status": 401},
                                     api_key=API_KEY),
                           self.prov("b", b)])
        res = self.chat(cfg, "-v")
        self.assertAnswered(res, "b")
        self.assertEqual(a.stats()["chat_requests"], 1)

    # 7
    def test_reset_after_headers_retried_on_same_provider(self):
        a, b = self.servers[0], self.servers[1]
        cfg = self.config([self.prov("a", a, {"reset": "headers",
                                              "fail_first": 1}),
                           self.prov("b", b)])
        res = self.chat(cfg, "-v")
        self.assertAnswered(res, "a")
        self.assertEqual(self.trying(res[2]), ["a", "a"])
        self.assertEqual(a.stats()["chat_requests"], 2)
        self.assertUntouched(b)

    def test_reset_after_headers_fails_over(self):
        a, b = self.servers[0], self.servers[1]
        cfg = self.config([self.prov("a", a, {"reset": "headers"}),
                           self.prov("b", b)], max_retries=0)
        res = self.chat(cfg, "-v")
        self.assertAnswered(res, "b")
        self.assertEqual(self.trying(res[2]), ["a", "b"])
        self.assertEqual(a.stats()["chat_requests"], 1)
        self.assertEqual(b.stats()["chat_requests"], 1)

    def test_refusal_whose_body_is_cut_is_not_retried(self):
        # the head said 401 (or x-should-retry: false): a reset before the
        # body's end does not make it retryable
        for opts in ({"status": 401}, {"status": 503,
                                       "should_retry": "false"}):
            with self.subTest(**opts):
                a, b = self.servers[0], self.servers[1]
                a.reset()
                b.reset()
                cfg = self.config([self.prov("a", a, dict(opts,
                                                          reset="headers")),
                                   self.prov("b", b)], max_retries=2)
                res = self.chat(cfg, "-v")
                self.assertAnswered(res, "b")
                self.assertEqual(self.trying(res[2]), ["a", "b"])
                self.assertEqual(a.stats()["chat_requests"], 1)

    # 8
    def test_reset_after_content_is_partial_without_failover(self):
        a, b = self.servers[0], self.servers[1]
        cfg = self.config([self.prov("a", a, {"reset": "content",
                                              "text": "Hello, partial world",
                                              "piece": 5,
                                              "event_delay_ms": 100}),
                           self.prov("b", b)])
        rc, out, err, _ = self.chat(cfg, "-v")
        self.assertEqual(rc, 1, err)
        self.assertEqual(out, b"Hello")          # exactly the first piece
        self.assertIn("(after partial content)", err)
        self.assertTrue(re.search(r"^llmc-chat: (i/o error|connection closed)"
                                  r": ", err, re.M), err)
        lines = self.report_lines(err, "failed after partial content:")
        self.assertEqual(len(lines), 1, err)
        self.assertRegex(lines[0], r"^a: (i/o error|connection closed)")
        self.assertEqual(self.trying(err), ["a"])
        self.assertEqual(a.stats()["chat_requests"], 1)   # no retry
        self.assertUntouched(b)                           # no failover

    def test_reset_after_content_partial_flag_in_result(self):
        a, b = self.servers[0], self.servers[1]
        cfg = self.config([self.prov("a", a, {"reset": "content",
                                              "text": "abcdefgh",
                                              "event_delay_ms": 100}),
                           self.prov("b", b)])
        r, = self.multi(cfg, 1)
        self.assertIn(r["status"], ("i/o error", "connection closed"))
        self.assertTrue(r["partial"])
        self.assertEqual(r["content"], "abcd")
        self.assertEqual(r["provider"], "a")
        self.assertEqual(r["called"], ["a"])
        self.assertTrue(r["format"].startswith("failed after partial content:"),
                        r["format"])
        self.assertUntouched(b)

    # 9
    def test_empty_stream_fails_over(self):
        a, b = self.servers[0], self.servers[1]
        cfg = self.config([self.prov("a", a, {"empty": 1}), self.prov("b", b)])
        res = self.chat(cfg, "-v")
        self.assertAnswered(res, "b")
        self.assertEqual(self.trying(res[2]), ["a", "b"])
        self.assertEqual(a.stats()["chat_requests"], 1)   # not retried
        r, = self.multi(cfg, 1, "echo me")
        self.assertEqual(r["status"], "ok")
        self.assertEqual(r["content"], "echo me")
        self.assertEqual(self.attempts(r), [("a", "empty response"),
                                            ("b", "ok")])

    def test_empty_stream_everywhere_is_empty_response(self):
        a, b = self.servers[0], self.servers[1]
        cfg = self.config([self.prov("a", a, {"empty": 1}),
                           self.prov("b", b, {"empty": 1}, stream=False)])
        rc, out, err, _ = self.chat(cfg)
        self.assertEqual(rc, 1, err)
        self.assertEqual(out, b"")
        self.assertIn("llmc-chat: empty response: ", err)
        lines = self.report_lines(err)
        self.assertEqual([l.split(": ")[:2] for l in lines],
                         [["a", "empty response"], ["b", "empty response"]])

    # 10
    def test_everything_failing_lists_every_attempt_in_order(self):
        a, b, c = refused_port(), self.servers[0], self.servers[1]
        cfg = self.config([self.prov("a", a),
                           self.prov("b", b, {"status": 503}),
                           self.prov("c", c, {"status": 401,
                                              "msg": "bad key given"})],
                          max_retries=1)
        rc, out, err, _ = self.chat(cfg)
        self.assertEqual(rc, 1, err)
        self.assertEqual(out, b"")
        self.assertIn("llmc-chat: http error: status 401: bad key given", err)
        self.assertEqual(self.report_lines(err), [
            "a: connect error: connection refused",
            "a: connect error: connection refused",
            "b: http error: status 503: test error 503",
            "b: http error: status 503: test error 503",
            "c: http error: status 401: bad key given",
        ])
        self.assertEqual(b.stats()["chat_requests"], 2)
        self.assertEqual(c.stats()["chat_requests"], 1)

    # 11
    def test_ignored_and_not_working_never_contacted(self):
        a, b, c = self.servers
        cfg = self.config([self.prov("a", a, working=False),
                           self.prov("b", b),
                           self.prov("c", c)])
        res = self.chat(cfg, "-v", "--ignore", "b")
        self.assertAnswered(res, "c")
        self.assertEqual(self.trying(res[2]), ["c"])
        self.assertUntouched(a, b)
        self.assertEqual(c.stats()["chat_requests"], 1)

    def test_all_ignored_or_not_working_is_no_provider(self):
        a, b, c = self.servers
        cfg = self.config([self.prov("a", a, working=False),
                           self.prov("b", b),
                           self.prov("c", c)])
        rc, out, err, _ = self.chat(cfg, "-v", "--ignore", "b",
                                    "--ignore", "c")
        self.assertEqual(rc, 1, err)
        self.assertEqual(out, b"")
        self.assertIn("llmc-chat: no provider: ", err)
        self.assertIn("no provider: 3 configured, 1 not working, 2 ignored, "
                      "0 cooling down", err)
        self.assertEqual(self.trying(err), [])
        self.assertUntouched(a, b, c)

    # 12
    def test_shuffle_spreads_first_attempts(self):
        srv = self.servers
        cfg = self.config([self.prov(n, s) for n, s in zip("abc", srv)],
                          shuffle=True)
        results = self.multi(cfg, 100)
        self.assertTrue(all(r["status"] == "ok" for r in results))
        first = [r["called"][0] for r in results]
        counts = {n: first.count(n) for n in "abc"}
        for n in "abc":
            self.assertGreaterEqual(counts[n], 15, counts)
        for n, s in zip("abc", srv):
            self.assertEqual(s.stats()["chat_requests"], counts[n], counts)

    def test_without_shuffle_first_provider_takes_all(self):
        srv = self.servers
        cfg = self.config([self.prov(n, s) for n, s in zip("abc", srv)])
        results = self.multi(cfg, 100)
        self.assertEqual([r["provider"] for r in results], ["a"] * 100)
        self.assertEqual(srv[0].stats()["chat_requests"], 100)
        self.assertUntouched(srv[1], srv[2])

    # 13
    def test_deadline_stops_the_loop_during_backoff(self):
        a, b = self.servers[0], self.servers[1]
        cfg = self.config([self.prov("a", a, {"status": 503}),
                           self.prov("b", b)],
                          max_retries=5, backoff_base_ms=5000,
                          backoff_max_ms=10000, deadline_ms=800)
        rc, out, err, elapsed = self.chat(cfg, "-v")
        self.assertEqual(rc, 1, err)
        self.assertEqual(out, b"")
        self.assertIn("llmc-chat: timeout: deadline exceeded while waiting "
                      "to retry", err)
        # the formatted result ends with what ended the request
        lines = self.report_lines(err)
        self.assertTrue(lines[0].startswith("a: http error: status 503"),
                        err)
        self.assertEqual(lines[1], "timeout: deadline exceeded while "
                                   "waiting to retry", err)
        self.assertGreaterEqual(elapsed, 0.75)
        self.assertLess(elapsed, 1.5)
        self.assertEqual(a.stats()["chat_requests"], 1)
        self.assertUntouched(b)

    def test_deadline_elapsed_in_result(self):
        a = self.servers[0]
        cfg = self.config([self.prov("a", a, {"status": 503})],
                          max_retries=5, backoff_base_ms=5000,
                          backoff_max_ms=10000, deadline_ms=800)
        r, = self.multi(cfg, 1)
        self.assertEqual(r["status"], "timeout")
        self.assertGreaterEqual(r["elapsed_ms"], 800)
        self.assertLess(r["elapsed_ms"], 1200)
        self.assertEqual(self.attempts(r), [("a", "http error")])

    # 15
    def test_single_provider_retry_tries_first_provider_only(self):
        a, b = self.servers[0], self.servers[1]
        cfg = self.config([self.prov("a", a, {"status": 503}),
                           self.prov("b", b)])
        rc, out, err, _ = self.chat(cfg, "-v", "--single-provider-retry",
                                    "--max-retries", "2")
        self.assertEqual(rc, 1, err)
        self.assertEqual(self.trying(err), ["a", "a", "a"])
        self.assertEqual(self.report_lines(err),
                         ["a: http error: status 503: test error 503"] * 3)
        self.assertEqual(a.stats()["chat_requests"], 3)
        self.assertUntouched(b)

    def test_single_provider_retry_first_eligible_from_config(self):
        a, b, c = self.servers
        cfg = self.config([self.prov("a", a),
                           self.prov("b", b, {"status": 500}),
                           self.prov("c", c)],
                          single_provider_retry=True, max_retries=1)
        rc, out, err, _ = self.chat(cfg, "-v", "--ignore", "a")
        self.assertEqual(rc, 1, err)
        self.assertEqual(self.trying(err), ["b", "b"])
        self.assertEqual(b.stats()["chat_requests"], 2)
        self.assertUntouched(a, c)

    def test_single_provider_retry_succeeds_on_retry(self):
        a, b = self.servers[0], self.servers[1]
        cfg = self.config([self.prov("a", a, {"status": 502,
                                              "fail_first": 2}),
                           self.prov("b", b)],
                          single_provider_retry=True, max_retries=2)
        res = self.chat(cfg, "-v")
        self.assertAnswered(res, "a")
        self.assertEqual(a.stats()["chat_requests"], 3)
        self.assertUntouched(b)

    # 16
    def test_should_retry_false_on_503_not_retried(self):
        a, b = self.servers[0], self.servers[1]
        cfg = self.config([self.prov("a", a, {"status": 503,
                                              "should_retry": "false"}),
                           self.prov("b", b)])
        res = self.chat(cfg, "-v")
        self.assertAnswered(res, "b")
        self.assertEqual(self.trying(res[2]), ["a", "b"])
        self.assertEqual(a.stats()["chat_requests"], 1)

    def test_should_retry_true_on_400_retried(self):
        a, b = self.servers[0], self.servers[1]
        cfg = self.config([self.prov("a", a, {"status": 400,
                                              "should_retry": "true",
                                              "fail_first": 1}),
                           self.prov("b", b)])
        res = self.chat(cfg, "-v")
        self.assertAnswered(res, "a")
        self.assertEqual(self.trying(res[2]), ["a", "a"])
        self.assertEqual(a.stats()["chat_requests"], 2)
        self.assertUntouched(b)

    def test_400_without_should_retry_not_retried(self):
        a, b = self.servers[0], self.servers[1]
        cfg = self.config([self.prov("a", a, {"status": 400,
                                              "fail_first": 1}),
                           self.prov("b", b)])
        res = self.chat(cfg, "-v")
        self.assertAnswered(res, "b")
        self.assertEqual(a.stats()["chat_requests"], 1)

    # on_attempt
    def test_on_attempt_called_once_per_attempt_in_order(self):
        a, b = refused_port(), self.servers[0]
        cfg = self.config([self.prov("a", a),
                           self.prov("b", b, {"status": 503,
                                              "fail_first": 1})],
                          max_retries=1)
        r, = self.multi(cfg, 1, "on attempt")
        self.assertEqual(r["status"], "ok")
        self.assertEqual(r["content"], "on attempt")
        self.assertEqual(r["called"], ["a", "a", "b", "b"])
        self.assertEqual(r["n_attempts"], 4)
        self.assertEqual(self.attempts(r), [("a", "connect error"),
                                            ("a", "connect error"),
                                            ("b", "http error"),
                                            ("b", "ok")])
        self.assertEqual([a["http"] for a in r["attempts"]], [0, 0, 503, 200])
        self.assertEqual(r["http"], 200)
        self.assertEqual(r["format"], "b: ok")

    def test_result_http_status_is_the_last_attempts(self):
        a, b = self.servers[0], refused_port()
        # the last attempt got a 503
        cfg = self.config([self.prov("a", b), self.prov("b", a, {"status": 503})],
                          max_retries=0)
        r, = self.multi(cfg, 1)
        self.assertEqual(r["status"], "http error")
        self.assertEqual([x["http"] for x in r["attempts"]], [0, 503])
        self.assertEqual(r["http"], 503)
        # the last attempt got no response, after one that got a 503
        cfg = self.config([self.prov("a", a, {"status": 503}), self.prov("b", b)],
                          max_retries=0)
        r, = self.multi(cfg, 1)
        self.assertEqual(r["status"], "connect error")
        self.assertEqual([x["http"] for x in r["attempts"]], [503, 0])
        self.assertEqual(r["http"], 0)

    def test_refused_provider_does_not_exhaust_connections(self):
        # A client that keeps failing over from a refused provider must go
        # on working: every failed connect gives its connection slot back.
        a, b = refused_port(), self.servers[0]
        cfg = self.config([self.prov("a", a), self.prov("b", b)],
                          max_retries=0)
        results = self.multi(cfg, 10)
        for r in results:
            with self.subTest(request=r["i"]):
                self.assertEqual(r["status"], "ok", r["format"])
                self.assertEqual(r["attempts"][0]["message"],
                                 "connection refused")
        self.assertEqual(b.stats()["chat_requests"], 10)

    def test_many_retries_on_refused_provider_then_next_answers(self):
        # One request: 1 + 7 refused connects on a, then b (healthy) must
        # still get a connection.
        a, b = refused_port(), self.servers[0]
        cfg = self.config([self.prov("a", a), self.prov("b", b)],
                          max_retries=7, backoff_base_ms=1, backoff_max_ms=2)
        res = self.chat(cfg, "-v")
        self.assertNotIn("no free connection", res[2])
        self.assertAnswered(res, "b")
        self.assertEqual(self.trying(res[2]), ["a"] * 8 + ["b"])
        self.assertEqual(b.stats()["chat_requests"], 1)


class CooldownTests(FailoverCase):

    # 14
    def test_cooldown_skips_failing_provider_on_next_request(self):
        a, b = self.servers[0], self.servers[1]
        cfg = self.config([self.prov("a", a, {"status": 503}),
                           self.prov("b", b)],
                          max_retries=0, cooldown_after=1, cooldown_ms=60000)
        s = self.session(cfg, 3)
        r1 = s.request()
        self.assertEqual(r1["status"], "ok")
        self.assertEqual(self.attempts(r1), [("a", "http error"), ("b", "ok")])
        r2 = s.request()
        self.assertEqual(r2["status"], "ok")
        self.assertEqual(r2["called"], ["b"])
        r3 = s.request()
        self.assertEqual(r3["called"], ["b"])
        self.assertEqual(a.stats()["chat_requests"], 1)
        self.assertEqual(b.stats()["chat_requests"], 3)

    def test_a_refused_request_does_not_cool_its_provider(self):
        # a 400 refuses the request, not the provider: with cooldown after
        # one failure, the next request still tries a first; the head
        # decides, also when the connection is reset before the body's end
        for opts, kind in (({"status": 400}, "http error"),
                           ({"status": 400, "reset": "headers"}, "i/o error")):
            with self.subTest(**opts):
                a, b = self.servers[0], self.servers[1]
                a.reset()
                b.reset()
                cfg = self.config([self.prov("a", a, opts),
                                   self.prov("b", b)], max_retries=0,
                                  cooldown_after=1, cooldown_ms=60000)
                s = self.session(cfg, 2)
                for _ in range(2):
                    r = s.request()
                    self.assertEqual(r["status"], "ok")
                    self.assertEqual(self.attempts(r),
                                     [("a", kind), ("b", "ok")])
                    self.assertEqual(r["attempts"][0]["http"], 400)
                self.assertEqual(a.stats()["chat_requests"], 2)
                s.close()  # one client at a time (the lwIP step's TAP)

    def test_provider_that_starts_cooling_is_not_retried(self):
        # max_retries 2 would try a three times, but its first failure
        # starts its cooldown: the request moves on to b at once
        a, b = self.servers[0], self.servers[1]
        cfg = self.config([self.prov("a", a, {"status": 503}),
                           self.prov("b", b)],
                          max_retries=2, cooldown_after=1, cooldown_ms=60000)
        r, = self.multi(cfg, 1)
        self.assertEqual(r["status"], "ok", r["format"])
        self.assertEqual(self.attempts(r), [("a", "http error"), ("b", "ok")])
        self.assertEqual(a.stats()["chat_requests"], 1)

    def test_last_provider_is_retried_even_while_cooling(self):
        a = self.servers[0]
        cfg = self.config([self.prov("a", a, {"status": 503,
                                              "fail_first": 2})],
                          max_retries=2, cooldown_after=1, cooldown_ms=60000)
        r, = self.multi(cfg, 1)
        self.assertEqual(r["status"], "ok", r["format"])
        self.assertEqual(self.attempts(r), [("a", "http error"),
                                            ("a", "http error"), ("a", "ok")])

    def test_cooldown_needs_failures_in_a_row(self):
        a, b = self.servers[0], self.servers[1]
        cfg = self.config([self.prov("a", a, {"status": 503}),
                           self.prov("b", b)],
                          max_retries=0, cooldown_after=2, cooldown_ms=60000)
        s = self.session(cfg, 3)
        self.assertEqual(s.request()["called"], ["a", "b"])
        self.assertEqual(s.request()["called"], ["a", "b"])
        self.assertEqual(s.request()["called"], ["b"])
        self.assertEqual(a.stats()["chat_requests"], 2)

    def test_cooldown_ends_after_cooldown_ms(self):
        a, b = self.servers[0], self.servers[1]
        cfg = self.config([self.prov("a", a, {"status": 503,
                                              "fail_first": 1}),
                           self.prov("b", b)],
                          max_retries=0, cooldown_after=1, cooldown_ms=300)
        s = self.session(cfg, 2)
        r1 = s.request()
        self.assertEqual(r1["called"], ["a", "b"])
        time.sleep(0.4)   # past cooldown_ms: a is eligible again
        r2 = s.request()
        self.assertEqual(r2["called"], ["a"])
        self.assertEqual(r2["provider"], "a")

    def test_all_cooling_tries_the_one_that_cools_first(self):
        # b fails first (a ignored), then a: b's cooldown ends first, so
        # with both cooling the third request goes to b, not to the
        # first-listed a.
        a, b = self.servers[0], self.servers[1]
        cfg = self.config([self.prov("a", a, {"status": 503}),
                           self.prov("b", b, {"status": 503})],
                          max_retries=0, cooldown_after=1, cooldown_ms=60000)
        s = self.session(cfg, 3)
        r1 = s.request("a")
        self.assertEqual(self.attempts(r1), [("b", "http error")])
        # the two cooldowns must start in different milliseconds of llmc's
        # clock, else they end together and either provider is right
        time.sleep(0.005)
        r2 = s.request()
        self.assertEqual(self.attempts(r2), [("a", "http error")])
        r3 = s.request()
        self.assertEqual(self.attempts(r3), [("b", "http error")])
        self.assertEqual(a.stats()["chat_requests"], 1)
        self.assertEqual(b.stats()["chat_requests"], 2)

    def test_all_cooling_and_ignored_counts(self):
        a, b = self.servers[0], self.servers[1]
        cfg = self.config([self.prov("a", a, {"status": 503}),
                           self.prov("b", b)],
                          max_retries=0, cooldown_after=1, cooldown_ms=60000)
        s = self.session(cfg, 2)
        self.assertEqual(s.request("b")["called"], ["a"])
        # a is cooling but the only one left: it is still tried
        r = s.request("b")
        self.assertEqual(r["called"], ["a"])
        self.assertEqual(a.stats()["chat_requests"], 2)


class VariantCliCase(FailoverCase):
    """Base class: one test server, and chat() runs another build of the
    CLI, BINARY (make integration builds it)."""

    n_servers = 1
    BINARY = None

    def setUp(self):
        super().setUp()
        if not os.access(self.BINARY, os.X_OK):
            self.fail("%s not found (make integration builds it)"
                      % self.BINARY)

    def chat(self, cfg, *args, **kw):
        return super().chat(cfg, *args, binary=self.BINARY, **kw)


class SyncConnectTests(VariantCliCase):
    """The CLI over a port whose connect has finished when it returns
    LLMC_PORT_OK (build/asan/syncconnect: the POSIX port waiting for the
    handshake, as blocking stacks such as modems' AT sockets do): the
    request goes out at once, with no wait for a poll event."""

    BINARY = tool_path("syncconnect/llmc-chat")

    def test_answer_over_a_connect_finished_at_once(self):
        a = self.servers[0]
        cfg = self.config([self.prov("a", a)], connect_timeout_ms=1500,
                          first_byte_timeout_ms=1500)
        res = self.chat(cfg, "-v")
        self.assertAnswered(res, "a")
        self.assertLess(res[3], 1.4)

    def test_refused_at_once_fails_over(self):
        a, b = refused_port(), self.servers[0]
        cfg = self.config([self.prov("a", a), self.prov("b", b)],
                          max_retries=0, connect_timeout_ms=1500)
        res = self.chat(cfg, "-v")
        self.assertAnswered(res, "b")
        self.assertEqual(self.trying(res[2]), ["a", "b"])
        self.assertIn("connection refused", res[2])


class IamCompiledOutTests(VariantCliCase):
    """The CLI built with LLMC_IAM_PROVIDERS=0 (Evolution IAM compiled out,
    as a firmware that only uses API keys would build llmc): keys still
    work, and an IAM provider is refused at start with a clear error, before
    anything is sent."""

    BINARY = tool_path("noiam/llmc-chat")

    def test_api_key_provider_still_answers(self):
        a = self.servers[0]
        cfg = self.config([self.prov("a", a, api_key="sk-test")])
        self.assertAnswered(self.chat(cfg), "a")
        hdr = a.stats()["last_request"]["headers"]
        self.assertEqual(hdr["authorization"], "Bearer sk-test")

    def test_iam_provider_refused_at_start(self):
        a = self.servers[0]
        cfg = self.config([self.prov("iam", a, key_id=IAM_KEY_ID,
                                     secret=IAM_SECRET)])
        rc, out, err, _ = self.chat(cfg)
        self.assertEqual(rc, 2, err)
        self.assertEqual(out, b"")
        self.assertIn("config error", err)
        self.assertIn("Evolution IAM is not built in (LLMC_IAM_PROVIDERS=0)",
                      err)
        self.assertNotIn(IAM_SECRET, err)
        self.assertUntouched(a)


class IamTests(FailoverCase):
    """Evolution IAM: the token endpoint is the same test server."""

    n_servers = 1

    def iam_server(self, expires=3600, **opts):
        srv = Server(iam_key_id=IAM_KEY_ID, iam_secret=IAM_SECRET,
                     iam_expires=expires, **opts).start()
        self.addCleanup(srv.stop)
        return srv

    def iam_prov(self, name, srv, scenario=None, secret=IAM_SECRET, **extra):
        return self.prov(name, srv, scenario, key_id=IAM_KEY_ID,
                         secret=secret, project_id=IAM_PROJECT,
                         token_url="http://%s:%d/api/v1/auth/token"
                         % (TEST_HOST, srv.port), **extra)

    def test_one_token_for_many_requests(self):
        srv = self.iam_server()
        cfg = self.config([self.iam_prov("iam", srv)])
        results = self.multi(cfg, 5)
        self.assertEqual([r["status"] for r in results], ["ok"] * 5)
        self.assertEqual(results[4]["content"], "answer 4")
        st = srv.stats()
        self.assertEqual(st["tokens_issued"], 1)
        self.assertEqual(st["chat_requests"], 5)
        self.assertEqual(len(st["request_times"]), 5)
        self.assertEqual(st["requests"], 6)       # one token request
        hdr = st["last_request"]["headers"]
        self.assertEqual(hdr["authorization"], "Bearer iam-token-1")
        self.assertEqual(hdr["x-project-id"], IAM_PROJECT)

    def test_token_within_refresh_margin_fetched_every_request(self):
        # expires_in 30 s: already inside the 30 s refresh margin, so every
        # request fetches a token, and uses it (DESIGN 8; llmc_auth_store:
        # "still good for this one request"). A small deadline keeps a
        # token-fetch loop from stalling the suite.
        srv = self.iam_server(expires=30)
        cfg = self.config([self.iam_prov("iam", srv)], deadline_ms=1500)
        results = self.multi(cfg, 3)
        self.assertEqual([r["status"] for r in results], ["ok"] * 3,
                         [r["format"] for r in results])
        st = srv.stats()
        self.assertEqual(st["tokens_issued"], 3)
        self.assertEqual(len(st["request_times"]), 3)
        self.assertEqual(st["last_request"]["headers"]["authorization"],
                         "Bearer iam-token-3")

    def test_token_refreshed_once_margin_is_reached(self):
        # expires_in 31 s: usable for 1 s before the 30 s margin
        srv = self.iam_server(expires=31)
        cfg = self.config([self.iam_prov("iam", srv)])
        s = self.session(cfg, 3)
        self.assertEqual(s.request()["status"], "ok")
        self.assertEqual(s.request()["status"], "ok")
        self.assertEqual(srv.stats()["tokens_issued"], 1)
        time.sleep(1.1)
        self.assertEqual(s.request()["status"], "ok")
        st = srv.stats()
        self.assertEqual(st["tokens_issued"], 2)
        self.assertEqual(len(st["request_times"]), 3)

    def test_refresh_once_on_401(self):
        srv = self.iam_server()
        cfg = self.config([self.iam_prov("iam", srv)])
        s = self.session(cfg, 2)
        r1 = s.request()
        self.assertEqual(r1["status"], "ok")
        self.assertEqual(r1["called"], ["iam"])
        srv.revoke()
        r2 = s.request()
        self.assertEqual(r2["status"], "ok", r2["format"])
        self.assertEqual(r2["content"], "answer 1")
        self.assertEqual(r2["called"], ["iam", "iam"])
        self.assertEqual(self.attempts(r2), [("iam", "http error"),
                                             ("iam", "ok")])
        self.assertEqual(r2["attempts"][0]["http"], 401)
        st = srv.stats()
        self.assertEqual(st["tokens_issued"], 2)
        self.assertEqual(len(st["request_times"]), 3)   # one extra
        self.assertEqual(st["chat_requests"], 2)        # 2 accepted
        self.assertEqual(st["last_request"]["headers"]["authorization"],
                         "Bearer iam-token-2")

    def test_refresh_on_401_only_once(self):
        # The API refuses even a fresh token: one refresh, then failover.
        # The 401 head decides, also when the connection is reset before
        # its body's end: the refused token is dropped and another fetched.
        for opts, kind in (({"status": 401}, "http error"),
                           ({"status": 401, "reset": "headers"}, "i/o error")):
            with self.subTest(**opts):
                srv = self.iam_server()
                b = self.servers[0]
                b.reset()
                cfg = self.config([self.iam_prov("iam", srv, opts),
                                   self.prov("b", b)])
                r, = self.multi(cfg, 1)
                self.assertEqual(r["status"], "ok", r["format"])
                self.assertEqual(r["provider"], "b")
                self.assertEqual(self.attempts(r), [("iam", kind),
                                                    ("iam", kind),
                                                    ("b", "ok")])
                self.assertEqual([a["http"] for a in r["attempts"][:2]],
                                 [401, 401])
                st = srv.stats()
                self.assertEqual(st["tokens_issued"], 2)
                self.assertEqual(len(st["request_times"]), 2)

    def test_each_iam_provider_gets_its_own_refresh_on_401(self):
        # The refresh after a 401 belongs to the provider whose token was
        # refused: failing over to a second IAM provider whose own token was
        # revoked refreshes that one too, instead of failing the request.
        s1, s2 = self.iam_server(), self.iam_server()
        cfg = self.config([self.iam_prov("one", s1, {"status": 401}),
                           self.iam_prov("two", s2)], max_retries=0)
        s = self.session(cfg, 2)
        r1 = s.request()
        self.assertEqual(r1["status"], "ok", r1["format"])
        self.assertEqual(self.attempts(r1), [("one", "http error"),
                                             ("one", "http error"),
                                             ("two", "ok")])
        s2.revoke()
        r2 = s.request()
        self.assertEqual(r2["status"], "ok", r2["format"])
        self.assertEqual(self.attempts(r2), [("one", "http error"),
                                             ("one", "http error"),
                                             ("two", "http error"),
                                             ("two", "ok")])
        self.assertEqual(r2["attempts"][2]["http"], 401)
        # one: a token and its refresh, then the second request's refresh
        # (the refreshed token was kept: the server refused the request,
        # not the token); two: a token, and the refresh after the revoke
        self.assertEqual(s1.stats()["tokens_issued"], 3)
        self.assertEqual(s2.stats()["tokens_issued"], 2)

    def test_empty_token_is_auth_error_next_provider_answers(self):
        # An empty access_token is no token: the attempt fails as an auth
        # error at once, with no chat request sent as "Bearer " to be
        # refused (and refreshed, and refused again)
        self.assertTokenRefused(self.iam_server(iam_empty_token=True),
                                "IAM token: no access_token in the answer")

    def test_token_answer_not_json_is_auth_error_said_so(self):
        # a 200 that is a gateway's HTML page, not the token service's
        # JSON: the message says the answer was not JSON, not that JSON
        # lacked the token
        self.assertTokenRefused(self.iam_server(iam_html_answer=True),
                                "IAM token: answer is not JSON")

    def test_token_answer_as_event_stream_is_auth_error_nothing_delivered(self):
        # a 200 that calls itself text/event-stream: the token request
        # asked for JSON, and its answer is read as a token answer, never
        # as a chat stream whose content would reach the application (and
        # bind the request to the provider, with no failover)
        self.assertTokenRefused(self.iam_server(iam_sse_answer=True),
                                "IAM token: answer is not JSON")

    # LLMC_TOKEN_MAX: the default of llmc_config_defaults.h, which both the
    # Linux build and the board-knobs build keep
    TOKEN_MAX = 1536

    def test_longest_token_that_fits_is_sent_whole(self):
        # LLMC_TOKEN_MAX - 1 bytes (the store keeps a NUL after it); the
        # server pads its first token to the pad given, less 1
        srv = self.iam_server(iam_token_pad=self.TOKEN_MAX)
        cfg = self.config([self.iam_prov("iam", srv)])
        r, = self.multi(cfg, 1, "long token")
        self.assertEqual(r["status"], "ok", r["format"])
        auth = srv.stats()["last_request"]["headers"]["authorization"]
        self.assertEqual(auth, "Bearer iam-token-1-".ljust(
            len("Bearer ") + self.TOKEN_MAX - 1, "x"))

    def test_token_answer_as_long_as_cloudrus_is_read(self):
        # Cloud.ru's answer: an access token of about 1,130 bytes (a signed
        # JWT) and an id_token as long beside it, 2.4 KB in all, more than
        # the default 2 KB event buffer; llmc leaves out the id_token's
        # characters as the answer arrives and reads the rest
        srv = self.iam_server(iam_token_pad=1135, iam_id_token=1134)
        cfg = self.config([self.iam_prov("iam", srv)])
        r, = self.multi(cfg, 1, "cloud.ru-sized token")
        self.assertEqual(r["status"], "ok", r["format"])
        self.assertEqual(r["content"], "cloud.ru-sized token")
        auth = srv.stats()["last_request"]["headers"]["authorization"]
        self.assertEqual(auth, "Bearer iam-token-1-".ljust(
            len("Bearer ") + 1134, "x"))

    def assertTokenRefused(self, srv, message):
        """srv's token is refused as it comes (message), with no chat
        request sent with it; the next provider answers."""
        b = self.servers[0]
        cfg = self.config([self.iam_prov("iam", srv), self.prov("b", b)])
        r, = self.multi(cfg, 1, "after refused token")
        self.assertEqual(r["status"], "ok", r["format"])
        self.assertEqual(self.attempts(r), [("iam", "auth error"),
                                            ("b", "ok")])
        self.assertEqual(r["attempts"][0]["message"], message)
        st = srv.stats()
        self.assertEqual((st["token_requests"], st["chat_requests"],
                          st["tokens_refused"]), (1, 0, []))

    def test_token_longer_than_its_store_is_auth_error_not_cut(self):
        self.assertTokenRefused(
            self.iam_server(iam_token_pad=self.TOKEN_MAX + 1),
            "IAM token: access_token longer than LLMC_TOKEN_MAX")

    def test_token_with_a_line_break_is_auth_error_no_header_injected(self):
        # "\r\n" in the JSON string: the token would end the
        # Authorization header and add one of its own
        self.assertTokenRefused(
            self.iam_server(iam_token_suffix="\r\nX-Injected: 1"),
            "IAM token: access_token has control bytes")

    def test_wrong_secret_is_auth_error_next_provider_answers(self):
        srv = self.iam_server()
        b = self.servers[0]
        cfg = self.config([self.iam_prov("iam", srv, secret="wrong-SECRET-9"),
                           self.prov("b", b)])
        r, = self.multi(cfg, 1, "after auth")
        self.assertEqual(r["status"], "ok", r["format"])
        self.assertEqual(r["content"], "after auth")
        self.assertEqual(self.attempts(r), [("iam", "auth error"),
                                            ("b", "ok")])
        self.assertIn("IAM token", r["attempts"][0]["message"])
        self.assertIn("invalid credentials", r["attempts"][0]["message"])
        st = srv.stats()
        self.assertEqual(st["tokens_issued"], 0)
        self.assertEqual(st["requests"], 1)       # the token request only
        self.assertEqual(len(st["request_times"]), 0)

        res = self.chat(cfg, "-v")
        self.assertAnswered(res, "b")
        self.assertEqual(self.trying(res[2]), ["iam", "b"])

    def test_chat_connect_failure_after_token_has_no_http_status(self):
        # the token answer (200) is not the chat request's answer: an
        # attempt whose chat connection is refused records no HTTP status
        srv = self.iam_server()
        p = self.iam_prov("iam", srv)
        p["base_url"] = "http://%s:%d/v1" % (TEST_HOST, refused_port())
        cfg = self.config([p, self.prov("b", self.servers[0])],
                          max_retries=0)
        r, = self.multi(cfg, 1)
        self.assertEqual(r["status"], "ok", r["format"])
        self.assertEqual(self.attempts(r), [("iam", "connect error"),
                                            ("b", "ok")])
        self.assertEqual([a["http"] for a in r["attempts"]], [0, 200])
        self.assertEqual(srv.stats()["tokens_issued"], 1)

    def test_short_lived_token_serves_every_attempt_of_its_request(self):
        # README: "A token fetched for a request is used by that request
        # even if it lives less than 30 s": by its retry too
        srv = self.iam_server(expires=20)
        cfg = self.config([self.iam_prov("iam", srv, {"status": 503,
                                                      "fail_first": 1})],
                          max_retries=1)
        r, = self.multi(cfg, 1)
        self.assertEqual(r["status"], "ok", r["format"])
        self.assertEqual(self.attempts(r), [("iam", "http error"),
                                            ("iam", "ok")])
        self.assertEqual(srv.stats()["tokens_issued"], 1)
        # the next request fetches its own: 20 s is within the margin
        r, = self.multi(cfg, 1)
        self.assertEqual(r["status"], "ok", r["format"])
        self.assertEqual(srv.stats()["tokens_issued"], 2)

    def test_token_endpoint_503_is_retried_on_the_same_provider(self):
        # DESIGN 3: a 5xx is retryable, also when the token endpoint says
        # it: the attempt is retried on its provider, not failed over
        srv = Server(iam_key_id=IAM_KEY_ID, iam_secret=IAM_SECRET,
                     iam_fail_first=1).start()
        self.addCleanup(srv.stop)
        b = self.servers[0]
        cfg = self.config([self.iam_prov("iam", srv), self.prov("b", b)],
                          max_retries=1)
        r, = self.multi(cfg, 1)
        self.assertEqual(r["status"], "ok", r["format"])
        self.assertEqual(r["provider"], "iam")
        self.assertEqual(self.attempts(r), [("iam", "auth error"),
                                            ("iam", "ok")])
        self.assertEqual(r["attempts"][0]["http"], 503)
        self.assertIn("IAM token", r["attempts"][0]["message"])
        self.assertEqual(srv.stats()["tokens_issued"], 1)
        self.assertUntouched(b)

    def test_wrong_secret_alone_reports_auth_error(self):
        srv = self.iam_server()
        cfg = self.config([self.iam_prov("iam", srv, secret="wrong-SECRET-9")])
        rc, out, err, _ = self.chat(cfg, "-v")
        self.assertEqual(rc, 1, err)
        self.assertIn("llmc-chat: auth error: IAM token", err)
        self.assertIn("invalid credentials", err)
        self.assertNotIn("wrong-SECRET-9", err)
        self.assertNotIn(IAM_SECRET, err)


class SecretTests(FailoverCase):

    # 17
    def test_api_key_never_in_stderr(self):
        a, b = self.servers[0], self.servers[1]
        cases = {
            "refused": ([self.prov("a", refused_port(), api_key=API_KEY)], {}),
            "401": ([self.prov("a", a, {"status": 401}, api_key=API_KEY)], {}),
            "503 retried": ([self.prov("a", a, {"status": 503},
                                       api_key=API_KEY),
                             self.prov("b", b, {"status": 500},
                                       api_key=API_KEY)], {}),
            "timeout": ([self.prov("a", a, {"hang": 1}, api_key=API_KEY)],
                        {"first_byte_timeout_ms": 200, "max_retries": 0}),
            "partial": ([self.prov("a", a, {"reset": "content",
                                            "event_delay_ms": 50},
                                   api_key=API_KEY)], {}),
            "empty": ([self.prov("a", a, {"empty": 1}, api_key=API_KEY)], {}),
            "api error": ([self.prov("a", a, {"mid_error": 0},
                                     api_key=API_KEY)], {}),
            "no provider": ([self.prov("a", a, api_key=API_KEY,
                                       working=False)], {}),
        }
        for name, (provs, pol) in cases.items():
            with self.subTest(case=name):
                cfg = self.config(provs, **pol)
                rc, out, err, _ = self.chat(cfg, "-v")
                self.assertEqual(rc, 1, err)
                self.assertNotIn(API_KEY, err)
                self.assertNotIn("FAILOVER-5e1d", err)
                self.assertNotIn(API_KEY.encode(), out)

    def test_api_key_from_env_never_in_stderr(self):
        a = self.servers[0]
        cfg = self.config([self.prov("a", a, {"status": 403},
                                     api_key="env:LLMC_FAILOVER_KEY")])
        rc, out, err, _ = self.chat(cfg, "-v", prompt="hi",
                                    env={"LLMC_FAILOVER_KEY": API_KEY})
        self.assertEqual(rc, 1, err)
        self.assertIn("http error: status 403", err)
        self.assertNotIn(API_KEY, err)
        self.assertEqual(a.stats()["last_request"]["headers"]["authorization"],
                         "Bearer " + API_KEY)

    def test_api_key_echoed_by_provider_not_in_stderr(self):
        # Some providers and proxies quote the key they refused. DESIGN.md:
        # "Secrets never appear in logs, errors or results"; llmc.h: an
        # attempt's message "never holds a secret".
        a = self.servers[0]
        cfg = self.config([self.prov("a", a, {
            "status": 401,
            "msg": "Incorrect API key provided: %s" % API_KEY},
            api_key=API_KEY)])
        rc, out, err, _ = self.chat(cfg, "-v")
        self.assertEqual(rc, 1, err)
        self.assertIn("http error: status 401", err)
        self.assertNotIn(API_KEY, err)

    def test_secrets_that_hold_one_another_are_each_masked_whole(self):
        # A token that holds the key id, a secret that starts it: each is
        # found in the message as it came, not in what masking another
        # one left of it.
        key_id = "KEYID-SECRETPART-99"
        for secret, suffix, scenario in (
                ("sec-77aa99bb", key_id,
                 {"status": 401, "echo_auth": 1, "msg": "refused"}),
                ("KEYID-", "", {"status": 401, "msg": "refused " + key_id})):
            with self.subTest(secret=secret):
                srv = Server(iam_key_id=key_id, iam_secret=secret,
                             iam_token_suffix=suffix).start()
                self.addCleanup(srv.stop)
                token_url = ("http://%s:%d/api/v1/auth/token"
                             % (TEST_HOST, srv.port))
                cfg = self.config([self.prov(
                    "evo", srv, scenario, key_id=key_id, secret=secret,
                    token_url=token_url)], max_retries=0)
                rc, out, err, _ = self.chat(cfg)
                self.assertEqual(rc, 1, err)
                self.assertIn("status 401: refused", err)
                for word in ("iam-token", "KEYID", "SECRETPART"):
                    self.assertNotIn(word, err)


LOG_CHAT = tool_path("log4/llmc-chat")


class LoggingTests(VariantCliCase):
    """The CLI built with LLMC_LOG_LEVEL=4 (build/asan/log4, every log line
    compiled in): llmc's log lines, on stderr through the port, name each
    attempt's provider, connection and outcome, and a failed request."""

    BINARY = LOG_CHAT

    @staticmethod
    def log_lines(err):
        return [x for x in err.splitlines() if x.startswith("llmc ")]

    def test_each_attempt_is_logged_with_its_outcome(self):
        a, b = refused_port(), self.servers[0]
        cfg = self.config([self.prov("a", a), self.prov("b", b)],
                          max_retries=0)
        rc, out, err, _ = self.chat(cfg)
        self.assertEqual(rc, 0, err)
        self.assertEqual(self.log_lines(err), [
            "llmc D: a: attempt",
            "llmc D: a: connecting to: " + TEST_HOST,
            "llmc W: a: connect error: connection refused",
            "llmc D: b: attempt",
            "llmc D: b: connecting to: " + TEST_HOST,
            "llmc I: b: ok"])

    def test_failed_request_is_logged_as_an_error(self):
        a = self.servers[0]
        cfg = self.config([self.prov("a", a, {"status": 503,
                                              "msg": "overloaded"})],
                          max_retries=0)
        rc, out, err, _ = self.chat(cfg)
        self.assertEqual(rc, 1, err)
        lines = self.log_lines(err)
        self.assertEqual(lines[-2:], [
            "llmc W: a: http error: status 503: overloaded",
            "llmc E: request failed: http error: status 503: overloaded"])

    def test_iam_secret_is_never_logged(self):
        srv = Server(iam_key_id=IAM_KEY_ID, iam_secret=IAM_SECRET).start()
        self.addCleanup(srv.stop)
        token_url = "http://%s:%d/api/v1/auth/token" % (TEST_HOST, srv.port)
        for secret in (IAM_SECRET, "wrong-SECRET-9"):
            with self.subTest(secret=secret):
                cfg = self.config([self.prov(
                    "iam", srv, {"status": 401, "msg": "refused " + secret},
                    key_id=IAM_KEY_ID, secret=secret, token_url=token_url)],
                    max_retries=0)
                rc, out, err, _ = self.chat(cfg)
                self.assertEqual(rc, 1, err)
                self.assertIn("llmc W: iam: ", err)
                self.assertIn("llmc E: request failed: ", err)
                self.assertNotIn(secret, err)
                self.assertNotIn(IAM_SECRET, err)


class LoggedSecretTests(SecretTests):
    """SecretTests again with every log line compiled in: the log says what
    failed, and no secret is in it."""

    def chat(self, cfg, *args, **kw):
        kw["binary"] = LOG_CHAT
        rc, out, err, secs = super().chat(cfg, *args, **kw)
        # the run did log its failure, so the secret checks see the log
        self.assertIn("llmc E: request failed: ", err)
        return rc, out, err, secs


TWO_ADDRESSES = "two-addresses.llmc.test"


def private_etc(tmp, names, cmd=()):
    """cmd in a mount namespace of its own (root, unshare) where each
    /etc/NAME of names is the file tmp/NAME."""
    binds = " && ".join('mount --bind "$%d" /etc/%s' % (i + 1, n)
                        for i, n in enumerate(names))
    return (["unshare", "-m", "sh", "-c",
             '%s && shift %d && exec "$@"' % (binds, len(names)), "sh"]
            + [os.path.join(tmp, n) for n in names] + list(cmd))


class HostAddressTests(FailoverCase):
    """A host name with two addresses whose first never answers a connect
    (a dead route beside a working one). /etc/hosts and /etc/gai.conf are
    replaced for the tool only, in a mount namespace of its own (root):
    TWO_ADDRESSES is 127.0.0.2 (nothing answers) then 127.0.0.1."""

    n_servers = 1

    def setUp(self):
        super().setUp()
        if os.geteuid() != 0 or shutil.which("unshare") is None:
            self.skipTest("needs root and unshare for a private /etc/hosts")
        with open(os.path.join(self.tmp, "hosts"), "w") as f:
            f.write("127.0.0.1 localhost\n127.0.0.1 %s\n127.0.0.2 %s\n"
                    % (TWO_ADDRESSES, TWO_ADDRESSES))
        with open(os.path.join(self.tmp, "gai.conf"), "w") as f:
            # getaddrinfo would put 127.0.0.1 first (longest prefix match)
            f.write("precedence ::ffff:127.0.0.2/128 100\n"
                    "precedence ::ffff:0:0/96 10\n")
        order = subprocess.run(
            self.wrap([sys.executable, "-c",
                       "import socket; print(' '.join(a[4][0] for a in "
                       "socket.getaddrinfo(%r, 80, type=socket.SOCK_STREAM)"
                       "))" % TWO_ADDRESSES]),
            capture_output=True, timeout=TIMEOUT)
        self.assertEqual(order.stdout.decode().split(),
                         ["127.0.0.2", "127.0.0.1"], order.stderr.decode())
        self.srv = self.servers[0]
        # once per class (its server's port): the socket is kept
        if getattr(type(self), "dead_port", None) != self.srv.port:
            unanswered_port("127.0.0.2", self.srv.port)
            type(self).dead_port = self.srv.port

    def wrap(self, cmd):
        return private_etc(self.tmp, ("hosts", "gai.conf"), cmd)

    def test_connect_timeout_goes_on_to_the_next_address(self):
        url = "http://%s:%d/v1" % (TWO_ADDRESSES, self.srv.port)
        # no keep-alive: each request opens a connection of its own
        cfg = self.config([{"name": "a", "base_url": url,
                            "model": model(keepalive=0)}],
                          max_retries=0, connect_timeout_ms=1000)
        r1, r2 = self.multi(cfg, 2, "two addresses", wrap=self.wrap([]))
        # one attempt each: the dead address cost the first request one
        # connect timeout, then the next address answered
        self.assertEqual(self.attempts(r1), [("a", "ok")], r1)
        self.assertGreaterEqual(r1["attempts"][0]["ms"], 990)
        # the second connection went straight to the address that works
        self.assertEqual(self.attempts(r2), [("a", "ok")], r2)
        self.assertLess(r2["attempts"][0]["ms"], 900)
        self.assertEqual(self.srv.stats()["connections"], 2)

    def test_a_connection_begun_later_also_goes_on_to_the_next_address(self):
        # #0 and #1 each try the dead 127.0.0.2 first, #1 300 ms later, so
        # its connect timeout ends after #0 has connected to 127.0.0.1
        # (which makes new connections start there): #1 goes on to that
        # address too, rather than find no address left
        url = "http://%s:%d/v1" % (TWO_ADDRESSES, self.srv.port)
        m = model(keepalive=0)
        p = subprocess.run(self.wrap([CONC, "--connect-timeout", "1000",
                                      "after", url, m, "300", m]),
                           stdin=subprocess.DEVNULL, capture_output=True,
                           timeout=TIMEOUT)
        self.assertEqual(p.returncode, 0, p.stderr.decode())
        items = [json.loads(x) for x in p.stdout.decode().splitlines()[:-1]]
        self.assertEqual([(it["i"], it["status"]) for it in items],
                         [(0, "ok"), (1, "ok")], items)
        self.assertEqual(self.srv.stats()["connections"], 2)

    def test_next_address_after_a_late_refusal_gets_a_whole_connect_timeout(
            self):
        # README, Design: a connect that is refused goes on to the next
        # address, "each with its own connect timeout". Here the first
        # address refuses only after about a second and the second never
        # answers: it must still get 1500 ms of its own.
        port = free_port()
        unanswered_port("127.0.0.1", port)
        gone = late_refused_port("127.0.0.2", port)
        url = "http://%s:%d/v1" % (TWO_ADDRESSES, port)
        cfg = self.config([{"name": "a", "base_url": url, "model": "t"}],
                          max_retries=0, connect_timeout_ms=1500)
        r, = self.multi(cfg, 1, "late refusal", wrap=self.wrap([]))
        self.assertTrue(gone.is_set())
        self.assertEqual(self.attempts(r), [("a", "timeout")], r)
        self.assertEqual(r["message"], "connect timed out after 1500 ms", r)
        # about 1 s until the refusal, then 1500 ms on the second address
        self.assertGreaterEqual(r["attempts"][0]["ms"], 2400, r)


MOVED = "moved.llmc.test"


class MovedHostTests(FailoverCase):
    """A provider whose host name moves to another address while the old
    one drops every packet (a load balancer replaced, a DNS failover):
    MOVED is first 127.0.0.2, where nothing answers a connect, then
    127.0.0.1, where its server listens. /etc/hosts is the tool's own, in
    a mount namespace (root), as in HostAddressTests; the test rewrites
    the file in place between two requests of one client."""

    n_servers = 1

    def setUp(self):
        super().setUp()
        if os.geteuid() != 0 or shutil.which("unshare") is None:
            self.skipTest("needs root and unshare for a private /etc/hosts")
        self.hosts = os.path.join(self.tmp, "hosts")
        self.point_at("127.0.0.2")
        self.srv = self.servers[0]
        # once per class (its server's port): the socket is kept
        if getattr(type(self), "dead_port", None) != self.srv.port:
            unanswered_port("127.0.0.2", self.srv.port)
            type(self).dead_port = self.srv.port

    def point_at(self, addr):
        # written in place: the tool's /etc/hosts is bound to this file
        with open(self.hosts, "w") as f:
            f.write("127.0.0.1 localhost\n%s %s\n" % (addr, MOVED))

    def test_name_looked_up_again_after_its_address_timed_out(self):
        # README, Design: a provider's addresses are cached until a connect
        # to them fails; llmc_internal.h: when none connects, the name is
        # resolved again next time. A connect that times out on the last
        # address is such a failure, as a refused one is: else the dead
        # address is tried again at every request, for the client's life.
        url = "http://%s:%d/v1" % (MOVED, self.srv.port)
        cfg = self.config([{"name": "a", "base_url": url, "model": "t"}],
                          max_retries=0, connect_timeout_ms=500)
        s = self.session(cfg, 2, private_etc(self.tmp, ("hosts",)))
        r1 = s.request()
        self.assertEqual(self.attempts(r1), [("a", "timeout")], r1)
        self.point_at("127.0.0.1")
        r2 = s.request()
        self.assertEqual(self.attempts(r2), [("a", "ok")], r2)
        self.assertEqual(self.srv.stats()["connections"], 1)


class SlowLookupTests(FailoverCase):
    """A host name whose lookup takes 1.2 s: the tool's /etc/hosts is empty
    and its /etc/resolv.conf names a DNS server of the test's own (root,
    a mount namespace, as HostAddressTests) that answers A queries for any
    name with 127.0.0.1 after that delay."""

    n_servers = 1
    server_args = {"tls": "good"}
    DELAY = 1.2
    DNS = "127.0.0.9"

    def setUp(self):
        super().setUp()
        if os.geteuid() != 0 or shutil.which("unshare") is None:
            self.skipTest("needs root and unshare for a private resolv.conf")
        with open(os.path.join(self.tmp, "hosts"), "w") as f:
            f.write("")
        with open(os.path.join(self.tmp, "resolv.conf"), "w") as f:
            f.write("nameserver %s\noptions timeout:5 attempts:1\n"
                    % self.DNS)
        dns = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        dns.bind((self.DNS, 53))
        self.addCleanup(dns.close)
        threading.Thread(target=self.serve_dns, args=(dns,),
                         daemon=True).start()

    def serve_dns(self, sock):
        def answer(q, peer):
            time.sleep(self.DELAY)
            end = 12
            while q[end]:
                end += q[end] + 1
            qtype = struct.unpack(">H", q[end + 1:end + 3])[0]
            an = b""
            if qtype == 1:  # A: 127.0.0.1; AAAA: none
                an = (b"\xc0\x0c" + struct.pack(">HHIH", 1, 1, 60, 4) +
                      socket.inet_aton("127.0.0.1"))
            head = q[:2] + struct.pack(">HHHHH", 0x8180, 1, 1 if an else 0,
                                       0, 0)
            try:
                sock.sendto(head + q[12:end + 5] + an, peer)
            except OSError:
                pass
        while True:
            try:
                q, peer = sock.recvfrom(512)
            except OSError:
                return
            threading.Thread(target=answer, args=(q, peer),
                             daemon=True).start()

    def wrap(self):
        return private_etc(self.tmp, ("hosts", "resolv.conf"))

    def test_a_slow_lookup_is_not_counted_in_the_connect_timeout(self):
        # README, Failover and retry 8: connect_timeout_ms covers the TCP
        # connect and the TLS handshake; the name lookup, which may block,
        # is not part of it. A lookup longer than the connect timeout must
        # not fail a handshake that takes milliseconds.
        srv = self.servers[0]
        path = os.path.join(self.tmp, "cfg.json")
        with open(path, "w") as f:
            json.dump({"providers": [
                {"name": "a", "base_url": "https://localhost:%d/v1" % srv.port,
                 "model": "t"}],
                "ca_file": cert_path("ca.pem"),
                "policy": {"max_retries": 0, "connect_timeout_ms": 1000,
                           "cooldown_after": 0}}, f)
        r, = self.multi(path, 1, "slow lookup", wrap=self.wrap())
        self.assertEqual(self.attempts(r), [("a", "ok")], r)
        self.assertEqual(r["content"], "slow lookup")
        self.assertGreaterEqual(r["elapsed_ms"], 1100, r)

if __name__ == "__main__":
    unittest.main()
