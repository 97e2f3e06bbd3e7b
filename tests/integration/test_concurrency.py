"""Integration tests for many requests on one thread (DESIGN.md
"Concurrency"): interleaved streams, the max_inflight limit, the FIFO queue
and its bound, cancel, shutdown, TLS session resumption, submitting from a
second thread, and the tools built on them: llmc-check (every provider at
once, SIGINT/SIGTERM, --timeout, --json), llmc-gather, and llmc-chat's
SIGINT handling.

The library is driven through llmc-conc (tests/integration/llmc_conc.c),
which prints one JSON line per request (status, content, how many deltas,
and the position of its first on_attempt and of its on_done in one event
counter shared by every callback) and a summary line per command.

Nothing here sleeps and hopes: ordering comes from the callbacks' event
counter, socket counts from the server's /stats (open, max_open,
connections, tls_resumed) and from the driver's own count (/proc/self/fd;
lwIP's socket table when it is built over the lwIP port), and timing from
recorded times with generous upper bounds.

The same tests run over the lwIP port (scripts/check.d/lwip.sh), where the
drivers have their own TCP/IP stack at another address: servers and
refused ports live on LLMC_TEST_HOST, and llmc-conc's own listener on
LLMC_LISTEN_HOST.
"""

import json
import socket
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
import unittest

from harness import (TEST_HOST, Server, cert_path, chat_binary, chat_env,
                     refused_port, tool_path, wait_for)

CONC = tool_path("llmc-conc")
CHECK = tool_path("llmc-check")
GATHER = tool_path("llmc-gather")
SEQ = tool_path("llmc-seq")
TIMEOUT = 30
CHECK_PROMPT = "Hello, are you GPT 3.5?"

# The prompt llmc-conc sends for request i; the server echoes it.
def conc_prompt(i):
    return "stream %02d: alpha %02d bravo %02d charlie %02d delta %02d" % (
        (i,) * 5)


def need(path):
    if not os.access(path, os.X_OK):
        raise AssertionError("%s not built (make %s)" % (path, path))


def run_conc(args, timeout=TIMEOUT):
    """Run llmc-conc; returns (items, summary)."""
    need(CONC)
    p = subprocess.run([CONC] + [str(a) for a in args],
                       stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=timeout)
    err = p.stderr.decode("utf-8", "replace")
    if p.returncode != 0:
        raise AssertionError("llmc-conc %s: exit %d: %s"
                             % (args, p.returncode, err))
    lines = [json.loads(x) for x in p.stdout.decode("utf-8").splitlines()]
    return lines[:-1], lines[-1]


class LibraryConcurrencyTests(unittest.TestCase):
    """One test server per test, so that /stats belongs to the test."""

    def server(self, **opts):
        srv = Server(**opts).start()
        self.addCleanup(srv.stop)
        return srv

    def assertAnswered(self, items, n):
        self.assertEqual(len(items), n)
        for it in items:
            with self.subTest(request=it["i"]):
                self.assertEqual(it["status"], "ok", it)
                self.assertEqual(it["content"], conc_prompt(it["i"]))
                self.assertEqual(it["done_calls"], 1)

    def test_32_streams_interleave_and_each_gets_its_own_content(self):
        srv = self.server()
        n = 32
        items, s = run_conc(["run", srv.url, "t?event_delay_ms=20", n])
        self.assertAnswered(items, n)
        for it in items:
            # piece=4 (the server's default): one on_delta per event of 4
            # characters
            self.assertEqual(it["deltas"],
                             (len(conc_prompt(it["i"])) + 3) // 4)
        # run one after the other, the deltas would switch request 31
        # times; interleaved, nearly every delta follows another request's
        self.assertGreater(s["switches"], 3 * n, s)
        self.assertEqual(s["max_running"], n)
        st = srv.stats()
        self.assertEqual(st["max_open"], n)
        self.assertEqual(st["chat_requests"], n)

    def test_32_tls_streams_interleave(self):
        srv = self.server(tls="good")
        n = 32
        items, s = run_conc(["--ca", cert_path("ca.pem"), "run", srv.url,
                             "t?event_delay_ms=20", n])
        self.assertAnswered(items, n)
        self.assertGreater(s["switches"], 3 * n, s)
        self.assertEqual(srv.stats()["max_open"], n)

    def test_max_inflight_bounds_the_open_sockets(self):
        srv = self.server()
        items, s = run_conc(["-j", 4, "run", srv.url, "t?delay_ms=100", 20])
        self.assertAnswered(items, 20)
        self.assertEqual(s["max_running"], 4)
        st = srv.stats()
        self.assertEqual(st["chat_requests"], 20)
        self.assertLessEqual(st["max_open"], 4, st)
        self.assertEqual(st["max_open"], 4, st)   # and the 4 did overlap
        # the later requests reuse the four kept-alive connections
        self.assertEqual(st["connections"], 4, st)

    def test_queue_starts_requests_in_submit_order(self):
        srv = self.server()
        n = 10
        items, s = run_conc(["-j", 1, "run", srv.url, "t", n])
        self.assertAnswered(items, n)
        self.assertEqual(s["max_running"], 1)
        for prev, cur in zip(items, items[1:]):
            with self.subTest(request=cur["i"]):
                # FIFO, and one at a time: each starts after the previous
                # one has ended
                self.assertGreater(cur["attempt_seq"], prev["done_seq"])
        self.assertEqual(srv.stats()["max_open"], 1)

    def test_full_queue_refuses_at_once(self):
        srv = self.server()
        for inflight in (1, 4):
            with self.subTest(max_inflight=inflight):
                srv.reset()
                # the requests the first poll starts answer after 300 ms,
                # so that their slots are still taken when the test submits
                # after that poll; the queued ones answer at once
                items, s = run_conc(["-j", inflight, "queue", srv.url,
                                     "t?delay_ms=300", 130 + inflight, "t"])
                # llmc_submit accepts while the queue holds fewer than
                # LLMC_QUEUE_LEN + the free slots (before any poll, all
                # max_inflight slots are free)
                expected = s["queue_len"] + inflight
                self.assertEqual(s["accepted"], expected, s)
                self.assertEqual(s["first_refused"], expected, s)
                self.assertEqual(s["refused"], 130 + inflight - expected, s)
                self.assertEqual(s["refusal"], "queue full")
                self.assertLess(s["refusal_ms"], 50)
                # after one poll the running ones have left the queue but
                # taken the slots: still full
                self.assertEqual(s["pending_after_poll"], expected)
                self.assertEqual(s["after_poll"], "queue full")
                # every accepted request ran, exactly once; then there is
                # room again
                self.assertEqual(s["after_drain"], "accepted")
                self.assertEqual(s["done"], expected + 1)
                self.assertEqual(len(items), expected + 1)
                for it in items:
                    self.assertEqual((it["status"], it["done_calls"]),
                                     ("ok", 1), it)
                self.assertEqual(srv.stats()["chat_requests"], expected + 1)

    def test_cancel_mid_stream_frees_the_slot_for_the_next(self):
        srv = self.server()
        # uncancelled, request 0 would stream for 27 x 100 ms
        slow = "t?event_delay_ms=100&piece=2"
        items, s = run_conc(["-j", 1, "cancel", srv.url, slow, "t"])
        r0, r1, r2 = items
        self.assertEqual(r0["status"], "cancelled", r0)
        self.assertTrue(r0["partial"], r0)
        self.assertEqual(r0["deltas"], 1)
        self.assertTrue(conc_prompt(0).startswith(r0["content"]))
        self.assertGreater(len(r0["content"]), 0)
        self.assertEqual(r0["done_calls"], 1)
        self.assertEqual(r1["status"], "ok", r1)
        self.assertEqual(r1["content"], "the second request")
        # the queued request started only once the cancelled one had ended
        self.assertGreater(r1["attempt_seq"], r0["done_seq"])
        # cancelled while queued: ends without ever starting
        self.assertEqual((r2["status"], r2["partial"], r2["attempts"],
                          r2["done_calls"]), ("cancelled", False, 0, 1), r2)
        self.assertLess(s["total_ms"], 1500, s)
        self.assertEqual(srv.stats()["chat_requests"], 2)

    def test_cancel_from_on_attempt_sends_nothing(self):
        # a request cancelled from its on_attempt, with a pooled connection
        # to take at once: it ends cancelled, and the server never sees it
        # (nothing a provider could bill)
        srv = self.server()
        items, s = run_conc(["-j", 1, "acancel", srv.url, "t"])
        r0, r1 = items
        self.assertEqual(r0["status"], "ok", r0)
        self.assertEqual((r1["status"], r1["attempts"], r1["deltas"],
                          r1["done_calls"]), ("cancelled", 1, 0, 1), r1)
        self.assertEqual(srv.stats()["chat_requests"], 1)

    def assertCancelledAfterOneDelta(self, items):
        """llmc-conc cancel: #0, cancelled from its first on_delta, ended
        cancelled with that one delta and one on_done; #1, queued behind
        it, was answered."""
        r0 = items[0]
        self.assertEqual((r0["status"], r0["partial"], r0["deltas"],
                          r0["done_calls"]),
                         ("cancelled", True, 1, 1), r0)
        self.assertEqual(items[1]["status"], "ok", items[1])

    def test_cancel_from_on_delta_of_a_stream_in_one_read_ends_it_cancelled(self):
        # README: llmc_cancel "ends a request with LLMC_ERR_CANCELLED", also
        # when the rest of the answer is already in the same read: no more
        # on_delta after the cancel, and the status is not "ok"
        srv = self.server()
        for model in ("t?piece=2", "t?piece=2&framing=length"):
            items, s = run_conc(["-j", 1, "cancel", srv.url, model, "t"])
            self.assertCancelledAfterOneDelta(items)

    def test_cancel_from_on_delta_wins_over_the_connection_ending_after_it(self):
        # llmc.h: llmc_cancel ends the request with LLMC_ERR_CANCELLED. The
        # server sends one event and closes (or resets); on_delta waits
        # for that to arrive before it cancels, so the close is read after
        # the cancel, in the same poll: it must not replace the cancel's
        # status
        srv = self.server()
        for model in ("t?truncate=1", "t?truncate=1&framing=length",
                      "t?reset=content"):
            with self.subTest(model=model):
                items, s = run_conc(["-j", 1, "--cancel-wait", 200, "cancel",
                                     srv.url, model, "t"])
                self.assertCancelledAfterOneDelta(items)

    def test_submit_from_on_done_finds_the_room_of_the_ended_request(self):
        # README: callbacks "may call llmc_submit()"; in on_done the request
        # has ended, so with the queue full it no longer holds its place
        srv = self.server()
        items, s = run_conc(["-j", 1, "refill", srv.url, "t"])
        self.assertEqual(s["from_on_done"], "accepted", s)
        self.assertEqual(s["done"], s["accepted"] + 1, s)
        for it in items:
            self.assertEqual((it["status"], it["done_calls"]), ("ok", 1), it)

    def test_cancel_of_a_request_behind_another_queued_one_ends_it_at_once(self):
        # llmc.h: llmc_cancel's on_done "runs in the next poll", also when
        # the cancelled request waits behind another one in the queue
        srv = self.server()
        items, s = run_conc(["-j", 1, "qcancel", srv.url, "t?hang=1", "t"])
        r0, r1, r2 = items
        self.assertEqual(s["done_in_next_poll"], 1, s)
        self.assertEqual(s["second_attempts"], 0, s)  # #1 is still queued
        self.assertEqual((r2["status"], r2["attempts"], r2["done_calls"]),
                         ("cancelled", 0, 1), r2)

    def test_slot_freed_by_a_deadline_starts_the_queued_request_in_that_poll(self):
        # #0 never answers and reaches its 300 ms deadline while the
        # application is busy; the next llmc_poll ends it, and #1, queued
        # behind it, must start in that same poll instead of waiting out
        # the poll's 5 s timeout
        srv = self.server()
        items, s = run_conc(["-j", 1, "--deadline", 300, "late", srv.url,
                             "t?hang=1", 600, "t"])
        r0, r1 = items
        self.assertEqual(r0["status"], "timeout", r0)
        self.assertEqual(r1["status"], "ok", r1)
        self.assertEqual(s["started_in_poll"], 1, s)
        self.assertLess(s["poll_ms"], 1000, s)

    def test_stale_keep_alive_is_retried_on_a_fresh_connection(self):
        # README, Decisions: a pooled connection that fails before any byte
        # of the answer is retried once on a fresh connection, not counted
        # as an attempt. Here both pooled connections went stale; the retry
        # must not take the second one.
        srv = self.server()
        need(CONC)
        # each connection closes 400 ms after its answer: after both
        # answers (the second comes 200 ms after the first)
        p = subprocess.Popen([CONC, "stale", srv.url,
                              "t?delay_ms=300&idle_close_ms=400",
                              "t?delay_ms=100&idle_close_ms=400", "t"],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE)
        try:
            self.assertEqual(json.loads(p.stdout.readline()), {"ready": 2})
            st = srv.stats()
            self.assertEqual((st["connections"], st["max_open"]), (2, 2), st)
            # the server closes both idle connections
            wait_for(lambda: srv.stats()["open"] == 0, 5.0, "open == 0")
            out, err = p.communicate(b"\n", timeout=TIMEOUT)
        finally:
            if p.poll() is None:
                p.kill()
        self.assertEqual(p.returncode, 0, err)
        lines = [json.loads(x) for x in out.decode().splitlines()]
        r2 = lines[2]
        self.assertEqual((r2["status"], r2["attempts"]), ("ok", 1), r2)
        self.assertEqual(r2["content"], conc_prompt(2))
        # one fresh connection for the third request
        self.assertEqual(srv.stats()["connections"], 3)

    def test_deadline_in_the_wait_after_done_keeps_the_answer(self):
        # README, Decisions: after [DONE] llmc waits up to 1 s for the
        # body's end; if it never comes, "the answer still stands". The
        # deadline falling inside that wait must not turn it into a timeout.
        srv = self.server()
        items, s = run_conc(["--deadline", 1500, "run", srv.url,
                             "t?delay_ms=1000&hold=1", 1])
        r, = items
        self.assertEqual((r["status"], r["partial"]), ("ok", False), r)
        self.assertEqual(r["content"], conc_prompt(0))
        self.assertLess(r["ms"], 1500 + 500, r)

    def test_shutdown_with_requests_in_flight(self):
        srv = self.server()
        need(CONC)
        p = subprocess.Popen([CONC, "-j", "4", "shutdown", srv.url,
                              "t?event_delay_ms=100&piece=2", "6"],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE)
        try:
            lines = []
            while True:
                line = p.stdout.readline()
                if not line:
                    self.fail("llmc-conc ended: %s"
                              % p.stderr.read().decode())
                lines.append(json.loads(line))
                if "summary" in lines[-1]:
                    break
            items, s = lines[:-1], lines[-1]
            self.assertEqual(len(items), 6)
            for it in items:
                with self.subTest(request=it["i"]):
                    self.assertEqual(it["status"], "cancelled", it)
                    self.assertEqual(it["done_calls"], 1)
                    # the 4 running were mid-stream, the 2 queued never ran
                    self.assertEqual(it["partial"], it["i"] < 4)
                    self.assertEqual(it["attempts"], 1 if it["i"] < 4 else 0)
            self.assertEqual(s["cancelled"], 6)
            self.assertEqual(s["sockets_before"], 4)
            self.assertEqual(s["sockets_after"], 0)
            self.assertEqual(s["submit_after"], "invalid state")
            # the process is still alive: the server sees the sockets close
            wait_for(lambda: srv.stats()["open"] == 0, 5.0,
                     "the server's open connections to drop to 0")
            st = srv.stats()
            self.assertEqual(st["connections"], 4)
            self.assertEqual(st["max_open"], 4)
            self.assertIsNone(p.poll())
        finally:
            out, err = p.communicate(b"\n", timeout=TIMEOUT)
        self.assertEqual(p.returncode, 0, err)

    def test_poll_chat_and_shutdown_from_a_callback(self):
        # README "Callbacks": llmc_poll() and llmc_chat() from a callback
        # return LLMC_ERR_STATE (the round would be re-entered); a
        # shutdown asked from a callback is done by the poll running it
        # before that returns: every request ends once, every socket
        # closes, and the client refuses further calls
        srv = self.server()
        for where in ("delta", "done"):
            with self.subTest(where=where):
                # 14 deltas each: #0's first comes 0.06 s in and its end
                # about 1 s in; #1's first comes 0.3 s in, its end 4.5 s
                # in. Each side has at least 0.24 s to spare.
                items, s = run_conc(["-j", 2, "reenter", srv.url,
                                     "t?event_delay_ms=60&piece=4", 5, where,
                                     "t?event_delay_ms=300&piece=4"])
                self.assertEqual(len(items), 5)
                self.assertEqual(s["poll_in_cb"], "invalid state", s)
                self.assertEqual(s["chat_in_cb"], "invalid state", s)
                self.assertEqual(s["submit_after"], "invalid state", s)
                self.assertEqual(s["last_poll"], 0, s)
                self.assertEqual((s["done"], s["done_calls"]), (5, 5), s)
                self.assertEqual(s["sockets_after"], 0, s)
                self.assertEqual(s["poll_after"], "invalid state", s)
                r0 = items[0]
                if where == "delta":  # it ends in the poll that asked
                    self.assertEqual((r0["status"], r0["partial"]),
                                     ("cancelled", True), r0)
                else:
                    self.assertEqual(r0["status"], "ok", r0)
                # #1 ran beside #0 (2 at once), its first event 0.3 s
                # away at #0's first delta, mid-stream at #0's end;
                # #2..#4 waited in the queue
                self.assertEqual((items[1]["status"], items[1]["attempts"],
                                  items[1]["partial"]),
                                 ("cancelled", 1, where == "done"), items[1])
                for it in items[2:]:
                    self.assertEqual((it["status"], it["attempts"]),
                                     ("cancelled", 0), it)

    def test_shutdown_from_on_delta_delivers_nothing_more(self):
        # as llmc_cancel() from on_delta: the rest of the read at hand
        # (here the whole answer, [DONE] included, in one write) is not
        # delivered, and the request ends cancelled, not ok
        srv = self.server()
        items, s = run_conc(["-j", 1, "reenter", srv.url,
                             "t?piece=1&text=abcdefgh&framing=length"
                             "&chunk=65536", 1, "delta"])
        self.assertEqual(s["last_poll"], 0, s)
        r0 = items[0]
        self.assertEqual((r0["status"], r0["partial"], r0["deltas"],
                          r0["content"]), ("cancelled", True, 1, "a"), r0)

    def test_shutdown_from_a_callback_at_the_start_of_a_poll_returns_at_once(self):
        # #0's deadline passes while the application is busy: the poll
        # that follows ends it first thing, and its on_done shuts the
        # client down, which also ends #1, queued. Nothing is left to
        # wait for: that poll returns 0 at once, not after its 5 s
        # timeout (with llmc_poll(-1) it never returned)
        srv = self.server()
        items, s = run_conc(["-j", 1, "--deadline", 300, "--reenter", "done",
                             "late", srv.url, "t?hang=1", 600, "t"])
        r0, r1 = items
        self.assertEqual((r0["status"], r0["done_calls"]), ("timeout", 1), r0)
        self.assertEqual((r1["status"], r1["attempts"], r1["done_calls"]),
                         ("cancelled", 0, 1), r1)
        self.assertEqual(s["poll_rc"], 0, s)
        self.assertLess(s["poll_ms"], 1000, s)

    def test_reopened_tls_connection_resumes_the_session(self):
        srv = self.server(tls="good")
        need(SEQ)
        n = 5
        # keepalive=0: the server closes after every answer, so each
        # request opens a new TLS connection
        p = subprocess.run([SEQ, srv.url, str(n), "t?keepalive=0",
                            cert_path("ca.pem")], capture_output=True,
                           timeout=TIMEOUT, env=chat_env())
        self.assertEqual(p.returncode, 0, p.stderr.decode())
        self.assertEqual(p.stdout.decode(),
                         "".join("answer %d\n" % i for i in range(n))
                         + "done %d\n" % n)
        st = srv.stats()
        self.assertEqual(st["connections"], n)
        self.assertGreaterEqual(st["tls_resumed"], n - 1, st)
        self.assertTrue(st["last_request"]["tls"]["session_reused"])

    def test_shutdown_sends_close_notify_on_pooled_tls_connections(self):
        srv = self.server(tls="good")
        items, s = run_conc(["--ca", cert_path("ca.pem"), "run", srv.url,
                             "t?delay_ms=100", 3])
        self.assertAnswered(items, 3)
        # three kept-alive connections, idle when llmc-conc shuts the
        # client down: each ends with a close_notify, not a bare close
        wait_for(lambda: srv.stats()["open"] == 0, 5.0, "open == 0")
        st = srv.stats()
        self.assertEqual(st["connections"], 3)
        self.assertEqual(st["tls_close_notify"], 3, st)

    def test_poll_with_serves_caller_sockets_while_a_request_runs(self):
        # llmc-conc serve: a listener of its own (llmc_port_listen) and the
        # request's sockets in one llmc_poll_with() wait, on one thread;
        # the request takes 600 ms, so the ping is answered while it runs.
        # The waits also hold a socket that is not open: it is
        # reported (LLMC_POLL_ERR, 4) and the rest of the wait goes on,
        # as POSIX poll() does it and as the lwIP port makes lwIP do it
        srv = self.server()
        p = subprocess.Popen([CONC, "serve", srv.url,
                              "t?delay_ms=600&text=served"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            where = json.loads(p.stdout.readline())
            with socket.create_connection((where["host"], where["listen"]),
                                          timeout=5) as c:
                c.sendall(b"ping\n")
                self.assertEqual(c.recv(16), b"pong\n")
            out, err = p.communicate(timeout=TIMEOUT)
        finally:
            if p.poll() is None:
                p.kill()
        self.assertEqual(p.returncode, 0, err)
        lines = [json.loads(x) for x in out.decode().splitlines()]
        self.assertEqual(lines[0]["status"], "ok")
        self.assertEqual(lines[0]["content"], "served")
        self.assertEqual(lines[-1], {"summary": "serve", "accepted": 1,
                                     "ponged": 1, "pong_before_done": 1,
                                     "not_open": 4})

    def test_submit_from_another_thread_wakes_a_blocked_poll(self):
        srv = self.server()
        items, s = run_conc(["thread", srv.url, "t"])
        self.assertEqual(items[0]["status"], "ok", items)
        self.assertEqual(items[0]["content"], conc_prompt(0))
        # The main thread's first llmc_poll(10000) had nothing to wait for
        # but the wake-up: it was blocked when the other thread submitted,
        # and must end right after the submit, not at its timeout.
        self.assertEqual(s["poll_timeout_ms"], 10000)
        self.assertGreaterEqual(s["submit_at_ms"], 250, s)
        self.assertLess(s["first_poll_ms"] - s["submit_at_ms"], 1000, s)
        self.assertLess(s["submit_to_done_ms"], 2000, s)

    def test_cancel_from_another_thread_wakes_a_blocked_poll(self):
        srv = self.server()
        items, s = run_conc(["tcancel", srv.url, "t?hang=1"])
        r = items[0]
        self.assertEqual((r["status"], r["partial"], r["done_calls"]),
                         ("cancelled", False, 1), r)
        self.assertEqual(s["cancel_rc"], "ok")
        # nothing but the cancel's wake-up could end the blocked poll
        self.assertLess(s["cancel_to_done_ms"], 1000, s)
        self.assertGreaterEqual(r["ms"], 250, r)
        # the handle is gone once its on_done has run
        self.assertEqual(s["cancel_again"], "invalid argument")


class ToolCase(unittest.TestCase):

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="llmc-conc-")
        self.addCleanup(shutil.rmtree, self.tmp, True)

    def server(self, **opts):
        srv = Server(**opts).start()
        self.addCleanup(srv.stop)
        return srv

    def config(self, providers, **policy):
        pol = {"max_retries": 0, "cooldown_after": 0,
               "backoff_base_ms": 50, "backoff_max_ms": 100}
        pol.update(policy)
        path = os.path.join(self.tmp, "cfg%d.json" % len(os.listdir(self.tmp)))
        with open(path, "w") as f:
            json.dump({"providers": providers, "policy": pol}, f)
        return path

    @staticmethod
    def prov(name, target, model="t", **extra):
        url = ("http://%s:%d/v1" % (TEST_HOST, target)
               if isinstance(target, int)
               else target.url)
        p = {"name": name, "base_url": url, "model": model}
        p.update(extra)
        return p

    def check(self, cfg, *args, timeout=TIMEOUT):
        """Run llmc-check -c cfg; returns (rc, stdout text, stderr, secs)."""
        need(CHECK)
        t0 = time.monotonic()
        p = subprocess.run([CHECK, "-c", cfg] + list(args),
                           stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=timeout,
                           env=chat_env())
        return (p.returncode, p.stdout.decode("utf-8"),
                p.stderr.decode("utf-8", "replace"), time.monotonic() - t0)


LINE = re.compile(r"^(\S+): (.*) (\d+\.\d\d) secs$")
TOTAL = re.compile(r"^Total: (\d+\.\d\d) secs$")


class CheckToolTests(ToolCase):

    def lines(self, out):
        """{name: (text, secs)} and the total, from llmc-check's output."""
        rows = out.splitlines()
        m = TOTAL.match(rows[-1])
        self.assertIsNotNone(m, out)
        got = {}
        for row in rows[:-1]:
            r = LINE.match(row)
            self.assertIsNotNone(r, "bad line %r in %r" % (row, out))
            self.assertNotIn(r.group(1), got)
            got[r.group(1)] = (r.group(2), float(r.group(3)))
        return got, float(m.group(1))

    def test_five_slow_providers_answer_in_parallel(self):
        srv = self.server()
        names = ["p%d" % i for i in range(5)]
        cfg = self.config([self.prov(n, srv, "t?delay_ms=500")
                           for n in names])
        rc, out, err, wall = self.check(cfg)
        self.assertEqual(rc, 0, err)
        got, total = self.lines(out)
        self.assertEqual(sorted(got), names)
        for n in names:
            text, secs = got[n]
            self.assertEqual(text, CHECK_PROMPT)
            self.assertGreaterEqual(secs, 0.5)
            self.assertLess(secs, 1.5)
        # one after the other would take 2.5 s
        self.assertGreaterEqual(total, 0.5)
        self.assertLess(total, 1.5, out)
        times = srv.stats()["request_times"]
        self.assertEqual(len(times), 5)
        self.assertLess(max(times) - min(times), 0.3)

    def test_each_request_goes_to_its_own_provider_only(self):
        a, b = self.server(), self.server()
        cfg = self.config([self.prov("a", a),
                           self.prov("b", b, "t?status=503"),
                           self.prov("off", a, working=False)],
                          max_retries=1)
        rc, out, err, _ = self.check(cfg, "--prompt", "multi\nline")
        self.assertEqual(rc, 0, err)
        # the answer keeps its newline
        self.assertIn("a: multi\nline ", out)
        got, _ = self.lines(out.replace("multi\nline", "multi line"))
        self.assertEqual(sorted(got), ["a", "b"])
        self.assertRegex(got["b"][0], r"^http error: status 503: ")
        # b failed (and was retried once) but never failed over to a
        self.assertEqual(len(a.stats()["request_times"]), 1)
        self.assertEqual(len(b.stats()["request_times"]), 2)

    def test_json_document(self):
        srv = self.server()
        cfg = self.config([self.prov("good", srv),
                           self.prov("down", refused_port()),
                           self.prov("off", srv, working=False)])
        rc, out, err, _ = self.check(cfg, "--json", "--prompt", 'say "hi"')
        self.assertEqual(rc, 0, err)
        doc = json.loads(out)     # one document, nothing else on stdout
        self.assertEqual(sorted(doc), ["providers", "total_secs"])
        self.assertIsInstance(doc["total_secs"], float)
        good, down = doc["providers"]     # configuration order
        self.assertEqual(good, {"name": "good", "ok": True,
                                "answer": 'say "hi"', "kind": "ok",
                                "secs": good["secs"]})
        self.assertEqual(down, {"name": "down", "ok": False,
                                "error": "connection refused",
                                "kind": "connect error",
                                "secs": down["secs"]})
        for p in doc["providers"]:
            self.assertIsInstance(p["secs"], float)
            self.assertLessEqual(p["secs"], doc["total_secs"])

    def test_json_document_is_utf8_when_a_message_is_cut_in_a_character(
            self):
        # an error text of 2-byte characters, longer than a result's
        # message holds, is cut between the two bytes of one; the cut
        # half is U+FFFD in the JSON, which stays UTF-8
        srv = self.server()
        for msg_pad in ("", "x"):  # the cut falls on either byte
            with self.subTest(pad=msg_pad):
                cfg = self.config([self.prov("a", srv, "t?status=400&msg=" +
                                             msg_pad + "%D1%8F" * 100),
                                   self.prov("b", srv)])
                # check() decodes stdout as strict UTF-8
                rc, out, err, _ = self.check(cfg, "--json")
                self.assertEqual(rc, 0, err)
                doc = json.loads(out)
                error = doc["providers"][0]["error"]
                self.assertTrue(error.startswith("status 400: " + msg_pad +
                                                 "\u044f"), error)
                self.assertEqual(error.strip("\u044f\ufffd" + msg_pad)
                                 .replace("status 400: ", ""), "", error)

    def test_json_answer_of_many_characters_is_written_whole(self):
        # an answer is written in pieces of the escaper's buffer; a piece
        # that ends within a character must not turn the rest of it into
        # U+FFFD (and leave the first byte alone, which is not UTF-8)
        srv = self.server()
        cfg = self.config([self.prov("a", srv)])
        for pad in ("", "x"):  # a piece ends on either byte of one
            with self.subTest(pad=pad):
                text = pad + "\u044f" * 300
                # check() decodes stdout as strict UTF-8
                rc, out, err, _ = self.check(cfg, "--json", "--prompt", text)
                self.assertEqual(rc, 0, err)
                self.assertEqual(json.loads(out)["providers"][0]["answer"],
                                 text)

    def test_exit_1_when_every_provider_fails(self):
        cfg = self.config([self.prov("a", refused_port()),
                           self.prov("b", refused_port())])
        rc, out, err, _ = self.check(cfg)
        self.assertEqual(rc, 1, out + err)
        got, _ = self.lines(out)
        self.assertEqual(got["a"][0], "connect error: connection refused")
        self.assertEqual(got["b"][0], "connect error: connection refused")
        rc, out, err, _ = self.check(cfg, "--json")
        self.assertEqual(rc, 1)
        self.assertEqual([p["ok"] for p in json.loads(out)["providers"]],
                         [False, False])

    def test_prompt_that_is_not_utf8_is_a_usage_error(self):
        srv = self.server()
        cfg = self.config([self.prov("a", srv)])
        rc, out, err, _ = self.check(cfg, "--prompt", b"\xa0hello")
        self.assertEqual(rc, 2, out)
        self.assertEqual(err, "llmc-check: --prompt is not UTF-8 (byte 1)\n")
        self.assertEqual(out, "")
        self.assertEqual(srv.stats()["chat_requests"], 0)

    def test_config_values_too_large_saturate_instead_of_wrapping(self):
        # max_inflight 257 is "more than the slots": every slot, not 257 %
        # 256 = 1 (which would run the five slow providers one at a time);
        # a deadline of 2^32 + 100 ms is the longest one, not 100 ms
        srv = self.server()
        names = ["p%d" % i for i in range(5)]
        cfg = self.config([self.prov(n, srv, "t?delay_ms=300")
                           for n in names], deadline_ms=2 ** 32 + 100)
        with open(cfg) as f:
            doc = json.load(f)
        doc["max_inflight"] = 257
        with open(cfg, "w") as f:
            json.dump(doc, f)
        rc, out, err, wall = self.check(cfg)
        self.assertEqual(rc, 0, out + err)
        got, total = self.lines(out)
        self.assertEqual(sorted(got), names)
        self.assertEqual({t for t, _ in got.values()}, {CHECK_PROMPT}, out)
        # one after the other would take 1.5 s
        self.assertLess(total, 1.2, out)

    def test_timeout_cancels_what_is_still_running(self):
        srv = self.server()
        cfg = self.config([self.prov("fast", srv),
                           self.prov("hung", srv, "t?hang=1")])
        rc, out, err, wall = self.check(cfg, "--timeout", "1")
        self.assertEqual(rc, 0, err)
        got, total = self.lines(out)
        self.assertEqual(got["fast"][0], CHECK_PROMPT)
        self.assertEqual(got["hung"][0],
                         "cancelled: still running after --timeout 1 s")
        self.assertGreaterEqual(total, 1.0)
        self.assertLess(total, 2.0)
        # the hung connection was closed: the server's handler ended
        wait_for(lambda: srv.stats()["open"] == 0, 5.0, "open == 0")

    def test_error_after_partial_content_shows_that_content(self):
        # a stream cut off by --timeout after some of its answer came: the
        # line gives the error, then what came; --json gives it as well
        srv = self.server()
        cfg = self.config([self.prov("fast", srv),
                           self.prov("slow", srv,
                                     "t?event_delay_ms=250&piece=2")])
        for args in ([], ["--json"]):
            with self.subTest(args=args):
                rc, out, err, _ = self.check(cfg, "--timeout", "1", *args)
                self.assertEqual(rc, 0, err)
                if args:
                    slow = json.loads(out)["providers"][1]
                    self.assertEqual((slow["ok"], slow["partial"],
                                      slow["kind"]),
                                     (False, True, "cancelled"), slow)
                    part = slow["answer"]
                else:
                    got, _ = self.lines(out)
                    text = got["slow"][0]
                    head = ("cancelled: still running after --timeout 1 s; "
                            "partial answer: ")
                    self.assertTrue(text.startswith(head), text)
                    part = text[len(head):]
                self.assertGreater(len(part), 0, out)
                self.assertLess(len(part), len(CHECK_PROMPT), out)
                self.assertTrue(CHECK_PROMPT.startswith(part), out)

    def test_sigterm_mid_run_cancels_and_prints_every_line(self):
        srv = self.server()
        cfg = self.config([self.prov("fast", srv),
                           self.prov("hung1", srv, "t?hang=1"),
                           self.prov("hung2", srv, "t?hang=1")])
        need(CHECK)
        p = subprocess.Popen([CHECK, "-c", cfg], stdin=subprocess.DEVNULL,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             env=chat_env())
        try:
            first = p.stdout.readline().decode()
            self.assertRegex(first, r"^fast: Hello, are you GPT 3\.5\? ")
            wait_for(lambda: len(srv.stats()["request_times"]) == 3, 10.0,
                     "both hung requests to reach the server")
            t0 = time.monotonic()
            p.send_signal(signal.SIGTERM)
            rest, err = p.communicate(timeout=10)
        finally:
            if p.poll() is None:
                p.kill()
                p.communicate()
        self.assertLess(time.monotonic() - t0, 3.0)
        self.assertEqual(p.returncode, 0, err)   # fast answered
        got, _ = self.lines(first + rest.decode())
        self.assertEqual(sorted(got), ["fast", "hung1", "hung2"])
        for n in ("hung1", "hung2"):
            self.assertEqual(got[n][0], "cancelled: interrupted by SIGTERM")
        wait_for(lambda: srv.stats()["open"] == 0, 5.0, "open == 0")


class GatherTests(ToolCase):

    def test_answers_printed_in_prompt_order(self):
        srv = self.server()
        prompts = ["one", "two", "three", "four", "five"]
        p = self.gather(srv, "t?delay_ms=50", "-j", "2", *prompts)
        self.assertEqual(p.returncode, 0, p.stderr.decode())
        self.assertEqual(p.stdout.decode(),
                         "".join("[%d] %s\n" % (i, t)
                                 for i, t in enumerate(prompts)))
        st = srv.stats()
        self.assertEqual(st["chat_requests"], 5)
        self.assertEqual(st["max_open"], 2)

    def test_error_after_partial_content_shows_that_content(self):
        # each prompt's stream ends with an error event after its first
        # two events of 2 bytes: its line gives the error, then what came
        srv = self.server()
        cfg = self.config([self.prov("local", srv,
                                     "t?mid_error=2&piece=2&msg=gone")])
        p = self.gather_cfg(cfg, "one two", "three four")
        self.assertEqual(p.returncode, 1, p.stderr.decode())
        lines = p.stdout.decode().splitlines()
        self.assertEqual(len(lines), 2, lines)
        for i, prompt in enumerate(("one two", "three four")):
            self.assertRegex(lines[i], r"^\[%d\] error: \S.*: gone; "
                             r"partial answer: " % i)
            part = lines[i].split("; partial answer: ", 1)[1]
            self.assertEqual(part, prompt[:4], lines[i])

    IAM_KEY = ("kid-1", "iam-SECRET-4711")

    def iam_server(self, **opts):
        """A test server that issues IAM tokens for IAM_KEY."""
        return self.server(iam_key_id=self.IAM_KEY[0],
                           iam_secret=self.IAM_KEY[1], **opts)

    @staticmethod
    def token_url(srv):
        return srv.url.rsplit("/", 1)[0] + "/api/v1/auth/token"

    def iam_prov(self, name, srv, model="t", token_url=None):
        """An IAM provider on srv with IAM_KEY; its token at srv's
        endpoint unless token_url says otherwise."""
        return self.prov(name, srv, model, key_id=self.IAM_KEY[0],
                         secret=self.IAM_KEY[1],
                         token_url=token_url or self.token_url(srv))

    def iam_conc(self, srv, *args):
        """llmc-conc with srv's URL as an Evolution IAM provider."""
        return run_conc(["--key-id", self.IAM_KEY[0], "--secret",
                         self.IAM_KEY[1], "--token-url",
                         self.token_url(srv)] + list(args))

    def test_iam_requests_at_once_share_one_token_fetch(self):
        # Requests that start together need the same token: one fetches
        # it, the others wait for that fetch (200 ms here) and send the
        # token it brought, also one inside the 30 s refresh margin,
        # which is good for the requests it was fetched for.
        for expires in (3600, 30):
            with self.subTest(expires_in=expires):
                srv = self.iam_server(iam_expires=expires, iam_delay_ms=200)
                items, s = self.iam_conc(srv, "run", srv.url, "t", 4)
                for it in items:
                    self.assertEqual((it["status"], it["content"],
                                      it["attempts"]),
                                     ("ok", conc_prompt(it["i"]), 1), it)
                st = srv.stats()
                self.assertEqual((st["token_requests"], st["chat_requests"]),
                                 (1, 4), st)
                self.assertEqual(st["tokens_refused"], [])

    def test_iam_token_fetch_failure_is_every_waiting_request_s(self):
        # The one fetch fails (503, no retries): each request that waited
        # for it fails with that failure, none fetches again
        srv = self.iam_server(iam_fail_first=1, iam_delay_ms=200)
        items, s = self.iam_conc(srv, "run", srv.url, "t", 3)
        for it in items:
            self.assertEqual((it["status"], it["attempts"]),
                             ("auth error", 1), it)
        st = srv.stats()
        self.assertEqual((st["token_requests"], st["chat_requests"]), (1, 0))

    def test_iam_token_refused_ends_every_waiting_request_without_a_refresh(self):
        # The token endpoint refuses the key pair (401): each request that
        # waited for the fetch fails with that refusal, as an attempt of
        # its own; none takes it for a refusal of its own token (a second
        # attempt, a second fetch)
        srv = self.iam_server(iam_delay_ms=200)
        items, s = run_conc(["--key-id", self.IAM_KEY[0], "--secret",
                             "not-the-secret", "--token-url",
                             self.token_url(srv), "run", srv.url, "t", 3])
        for it in items:
            self.assertEqual((it["status"], it["attempts"]),
                             ("auth error", 1), it)
        st = srv.stats()  # token_requests counts good credentials only
        self.assertEqual((st["requests"], st["chat_requests"]), (1, 0))

    def test_cancel_from_a_callback_as_a_shared_fetch_fails_is_honoured(self):
        # #0 fetches the token, #1 waits for it; the fetch fails (503, no
        # retries), which ends #1 first, and #1's on_done cancels #0. That
        # llmc_cancel() returns LLMC_OK, so #0 ends as cancelled (llmc.h),
        # not with the failure it was ending with
        srv = self.iam_server(iam_fail_first=1, iam_delay_ms=200)
        items, s = self.iam_conc(srv, "dcancel", srv.url, "t")
        r0, r1 = items
        self.assertEqual(r1["status"], "auth error", r1)
        self.assertEqual(s["cancel_rc"], "ok", s)
        self.assertEqual((r0["status"], r0["done_calls"]), ("cancelled", 1),
                         r0)

    def test_iam_token_fetch_failure_is_retried_by_every_waiting_request(self):
        # The one fetch fails with a 503, which is retried (max_retries 1):
        # the requests that waited for it fail the same way, so they retry
        # too, and all three are answered with the token fetched again
        # (they took the failure for one without an HTTP status, not to
        # be retried, and failed)
        srv = self.iam_server(iam_fail_first=1, iam_delay_ms=200)
        items, s = self.iam_conc(srv, "--retries", 1, "run", srv.url, "t", 3)
        for it in items:
            self.assertEqual((it["status"], it["content"], it["attempts"]),
                             ("ok", conc_prompt(it["i"]), 2), it)
        st = srv.stats()
        self.assertEqual((st["token_requests"], st["chat_requests"]), (2, 3))
        self.assertEqual(st["tokens_refused"], [])

    def test_iam_token_fetch_cancelled_is_taken_over_by_a_waiting_request(self):
        # #0 fetches the token (answered after 300 ms), #1 waits for it;
        # #0 is cancelled: #1 fetches one itself and is answered (not left
        # waiting until its 5 s deadline)
        srv = self.iam_server(iam_delay_ms=300)
        items, s = self.iam_conc(srv, "--deadline", 5000, "tokcancel",
                                 srv.url, "t")
        r0, r1 = items
        self.assertEqual((r0["status"], r0["attempts"], r0["deltas"]),
                         ("cancelled", 1, 0), r0)
        self.assertEqual((r1["status"], r1["content"], r1["attempts"]),
                         ("ok", conc_prompt(1), 1), r1)
        st = srv.stats()
        self.assertEqual(st["chat_requests"], 1)
        self.assertEqual(st["tokens_refused"], [])

    def test_iam_token_fetch_at_the_deadline_is_not_taken_over_past_it(self):
        # Four requests start together; #0 fetches the token (answered
        # after 1 s), the others wait; the deadline (300 ms) ends all four
        # in one pass. No request past its deadline fetches the token
        # instead of #0: the token endpoint sees one connection, not four
        srv = self.iam_server(iam_delay_ms=1000)
        items, s = self.iam_conc(srv, "--deadline", 300, "run", srv.url,
                                 "t", 4)
        for it in items:
            self.assertEqual((it["status"], it["attempts"]),
                             ("timeout", 1), it)
        st = srv.stats()
        self.assertEqual((st["connections"], st["chat_requests"]), (1, 0), st)

    def test_iam_token_quoted_back_is_masked_in_every_request_sharing_it(self):
        # Two requests start together and send the one token fetched for
        # both; each is answered with an error that quotes its
        # Authorization header: the token must be masked in both results.
        srv = self.iam_server()
        cfg = self.config([self.iam_prov(
            "iam", srv, "t?status=400&echo_auth=1&msg=no")])
        p = self.gather_cfg(cfg, "-j", "2", "a", "b")
        out = p.stdout.decode()
        for i in range(2):
            self.assertIn("[%d] error: http error: status 400: no Bearer ***"
                          % i, out)
        self.assertNotIn("iam-token", out + p.stderr.decode())
        st = srv.stats()
        self.assertEqual((st["token_requests"], st["tokens_refused"]),
                         (1, []))

    def test_iam_fetch_failing_at_once_ends_its_request_once(self):
        # #0 fetches a's token (503 after 200 ms), #1 waits for that
        # fetch; both fail over to b, whose token URL does not resolve, so
        # each fetch of b's token fails as it starts, with no wait: each
        # request ends once with that failure (a request that had waited
        # for a's token was taken for one waiting for b's, failed twice
        # and ended twice, and llmc_poll() never returned 0)
        srv = self.iam_server(iam_fail_first=1, iam_delay_ms=200)
        cfg = self.config([
            self.iam_prov("a", srv),
            self.iam_prov("b", srv,
                          token_url="http://nonexistent.invalid/token")])
        p = self.gather_cfg(cfg, "-j", "2", "x", "y", timeout=10)
        self.assertEqual(p.returncode, 1, p.stderr.decode())
        self.assertEqual(p.stdout.decode(), "".join(
            "[%d] error: dns error: IAM token: cannot resolve "
            "nonexistent.invalid\n" % i for i in range(2)))
        self.assertEqual(srv.stats()["token_requests"], 1)

    def test_iam_token_quoted_back_is_masked_after_the_token_changed(self):
        # Tokens that live 30 s are within the refresh margin: #1, started
        # 300 ms after #0, fetches a token of its own, which replaces the
        # one #0 sent. #0's error (after 800 ms) quotes #0's token: it must
        # be masked, although it is no longer the one stored.
        # Also with tokens longer than a message (300 bytes), cut in it.
        for pad, masked in ((0, 11), (300, 95 - 22)):
            with self.subTest(token_pad=pad):
                srv = self.iam_server(iam_expires=30, iam_token_pad=pad)
                items, s = self.iam_conc(
                    srv, "after", srv.url,
                    "t?status=400&echo_auth=1&msg=no&delay_ms=800", 300, "t")
                r0, r1 = items
                self.assertEqual(r0["status"], "http error", r0)
                # each byte of #0's token that the message holds: all of
                # "iam-token-1", or the message's last 73 bytes (of 95)
                self.assertEqual(r0["message"],
                                 "status 400: no Bearer " + "*" * masked)
                self.assertEqual(r1["status"], "ok", r1)
                st = srv.stats()
                self.assertEqual((st["token_requests"],
                                  st["tokens_refused"]), (2, []))

    def shared_fetch_fails(self, prompts, **policy):
        """llmc-gather -j 3 with a prompt per character of prompts, over a
        (IAM; its first token fetch fails, a 503 after 200 ms) and b; all
        must be answered. Returns (a's token requests, a's chat requests,
        b's chat requests)."""
        a = self.iam_server(iam_fail_first=1, iam_delay_ms=200)
        b = self.server()
        cfg = self.config([self.iam_prov("a", a), self.prov("b", b)],
                          cooldown_ms=60000, **policy)
        p = self.gather_cfg(cfg, "-j", "3", *prompts)
        self.assertEqual(p.returncode, 0, p.stderr.decode())
        st = a.stats()
        return (st["token_requests"], st["chat_requests"],
                b.stats()["chat_requests"])

    def test_iam_token_fetch_failure_shared_counts_once_for_cooldown(self):
        # x, y and z start together on a (cooldown after 2 failures in a
        # row); x's token fetch fails (503) and y and z, which waited for
        # it, fail with it: one failure of a, not three. All three fail
        # over to b. w, which starts when a slot frees, still tries a,
        # whose second fetch succeeds: a answers it.
        # (a's token requests, a's chat requests, b's chat requests)
        self.assertEqual(self.shared_fetch_fails("xyzw", cooldown_after=2),
                         (2, 1, 3))

    def test_provider_that_cools_while_a_request_waits_is_not_retried(self):
        # x and y start together on a, which answers 503 (cooldown after 2
        # failures in a row). The first 503 leaves a warm: its request
        # waits (375-500 ms) to retry a. The second puts a into cooldown:
        # its request moves on to b, and so does the first one when its
        # wait is over, instead of retrying a
        a = self.server()
        b = self.server()
        cfg = self.config([self.prov("a", a, model="t?status=503"),
                           self.prov("b", b)],
                          max_retries=2, cooldown_after=2, cooldown_ms=60000,
                          backoff_base_ms=500, backoff_max_ms=500)
        p = self.gather_cfg(cfg, "-j", "2", "x", "y")
        self.assertEqual(p.returncode, 0, p.stderr.decode())
        self.assertEqual((a.stats()["chat_requests"],
                          b.stats()["chat_requests"]), (2, 2))

    def test_iam_shared_fetch_failure_that_starts_cooldown_moves_all_on(self):
        # a cools down after 1 failure; x, y and z start together on it and
        # x's token fetch fails (503, retried: max_retries 1). That one
        # failure puts a into cooldown, so none of the three retries a:
        # each goes on to b, y and z as x does (not a second fetch from a,
        # which is cooling down)
        self.assertEqual(self.shared_fetch_fails("xyz", cooldown_after=1,
                                                 max_retries=1),
                         (1, 0, 3))

    def test_iam_deadline_in_a_shared_fetch_counts_once_for_cooldown(self):
        # x, y and z start together on a (cooldown after 2 failures in a
        # row); x's token fetch takes 1 s, past the 300 ms deadline, which
        # ends all three: one failure of a (x's), not three. w, which
        # starts when a slot frees, still tries a, not b: it fetches again
        # and times out too.
        a, b = self.iam_server(iam_delay_ms=1000), self.server()
        cfg = self.config([self.iam_prov("a", a), self.prov("b", b)],
                          cooldown_after=2, cooldown_ms=60000,
                          deadline_ms=300)
        p = self.gather_cfg(cfg, "-j", "3", "x", "y", "z", "w")
        self.assertEqual(p.returncode, 1, p.stderr.decode())
        self.assertEqual(p.stdout.decode().count("error: timeout"), 4,
                         p.stdout.decode())
        self.assertEqual(a.stats()["connections"], 2)
        self.assertEqual(b.stats()["chat_requests"], 0)

    def test_iam_late_refusal_of_an_old_token_keeps_the_newer_one(self):
        # #0 sends token 1 and is refused (401) only after 800 ms. #1,
        # started 300 ms in, sends token 1 too and is refused at once: it
        # fetches token 2 and is answered. #0's refusal then concerns
        # token 1, not token 2: #0 retries with token 2, no third fetch.
        # (fail_first=2: the first two chat requests are refused, later
        # ones answered; a token refused by the server is not counted)
        srv = self.iam_server()
        items, s = self.iam_conc(
            srv, "after", srv.url, "t?status=401&delay_ms=800&fail_first=2",
            300, "t?status=401&fail_first=2")
        for it in items:
            self.assertEqual((it["status"], it["content"], it["attempts"]),
                             ("ok", conc_prompt(it["i"]), 2), it)
        st = srv.stats()
        self.assertEqual((st["token_requests"], st["chat_requests"],
                          st["tokens_refused"]), (2, 4, []), st)
        self.assertEqual(st["last_request"]["headers"]["authorization"],
                         "Bearer iam-token-2")

    def test_iam_token_dropped_while_connecting_is_not_sent(self):
        # Two requests share token 1; the server refuses it. The second
        # connection's TLS handshake is held until the refused request
        # asks for token 2 (answered 300 ms later): the request on it
        # then has token 1 ready to send, dropped meanwhile. It waits for
        # token 2 instead, and leaves its connection in the pool.
        srv = self.server(tls="good", iam_key_id=self.IAM_KEY[0],
                          iam_secret=self.IAM_KEY[1], iam_refuse_first=1,
                          iam_delay_ms=300, tls_hold="2:2")
        items, s = self.iam_conc(srv, "--ca", cert_path("ca.pem"), "run",
                                 srv.url, "t", 2)
        for it in items:
            self.assertEqual((it["status"], it["content"]),
                             ("ok", conc_prompt(it["i"])), it)
        # the refused one tried twice, the held one once
        self.assertEqual(sorted(it["attempts"] for it in items), [1, 2],
                         items)
        st = srv.stats()
        self.assertEqual((st["token_requests"], st["chat_requests"],
                          st["tokens_refused"], st["connections"]),
                         (2, 2, ["Bearer iam-token-1"], 3), st)

    def gather(self, srv, model, *args):
        """llmc-gather -c (one provider, srv with model) args..."""
        return self.gather_cfg(self.config([self.prov("local", srv, model)]),
                               *args)

    @staticmethod
    def gather_cfg(cfg, *args, timeout=TIMEOUT):
        """llmc-gather -c cfg args...; the finished process."""
        need(GATHER)
        return subprocess.run([GATHER, "-c", cfg] + list(args),
                              capture_output=True, timeout=timeout,
                              env=chat_env())

    def test_bad_j_is_refused(self):
        srv = self.server()
        cfg = self.config([self.prov("a", srv)])
        for j in ("2abc", "0", "256", "", "-1", "99999999999999999999"):
            with self.subTest(j=j):
                p = self.gather_cfg(cfg, "-j", j, "one")
                self.assertEqual(p.returncode, 2, p.stdout)
                self.assertEqual(p.stderr, b"llmc-gather: -j needs 1..255\n")
                self.assertEqual(p.stdout, b"")
        self.assertEqual(srv.stats()["chat_requests"], 0)

    def test_answer_longer_than_its_buffer_is_an_error_not_cut(self):
        srv = self.server()
        p = self.gather(srv, "t?size=9000&piece=150", "long")
        self.assertEqual(p.returncode, 1, p.stderr.decode())
        self.assertEqual(p.stdout.decode(),
                         "[0] error: response too large: answer longer "
                         "than 8192 bytes (ANSWER_MAX)\n")

    def test_answer_of_8192_bytes_is_whole(self):
        srv = self.server()
        p = self.gather(srv, "t?size=8192&piece=100", "exact")
        self.assertEqual(p.returncode, 0, p.stderr.decode())
        out = p.stdout.decode()
        self.assertTrue(out.startswith("[0] "), out[:40])
        self.assertEqual(len(out), 4 + 8192 + 1)

    def test_prompts_after_double_dash_may_start_with_a_dash(self):
        srv = self.server()
        p = self.gather(srv, "t", "--", "-j", "--x")
        self.assertEqual(p.returncode, 0, p.stderr.decode())
        self.assertEqual(p.stdout, b"[0] -j\n[1] --x\n")

    def test_prompt_that_is_not_utf8_is_a_usage_error(self):
        srv = self.server()
        cfg = self.config([self.prov("a", srv)])
        p = self.gather_cfg(cfg, b"fine", b"caf\xe9")
        self.assertEqual(p.returncode, 2, p.stdout)
        self.assertEqual(p.stderr,
                         b"llmc-gather: prompt 1 is not UTF-8 (byte 4)\n")
        self.assertEqual(p.stdout, b"")
        self.assertEqual(srv.stats()["chat_requests"], 0)

    def test_help_prints_the_usage_and_exits_0(self):
        need(GATHER)
        for opt in ("--help", "-h"):
            with self.subTest(opt=opt):
                p = subprocess.run([GATHER, opt], capture_output=True,
                                   timeout=TIMEOUT, env=chat_env())
                self.assertEqual(p.returncode, 0, p.stderr.decode())
                self.assertTrue(p.stdout.startswith(b"usage: llmc-gather "),
                                p.stdout + p.stderr)
                self.assertEqual(p.stderr, b"")

    def test_nul_in_an_answer_is_printed(self):
        srv = self.server()
        p = self.gather(srv, "t?text=a%00b", "nul")
        self.assertEqual(p.returncode, 0, p.stderr.decode())
        self.assertEqual(p.stdout, b"[0] a\x00b\n")


class ChatSignalTests(ToolCase):

    def test_signal_cancels_llmc_chat_mid_stream(self):
        srv = self.server()
        prompt = "a slow answer that streams two characters per event"
        for sig in (signal.SIGINT, signal.SIGTERM):
            with self.subTest(signal=sig.name):
                p = subprocess.Popen(
                    [chat_binary(), "--base-url", srv.url, "-m",
                     "t?event_delay_ms=100&piece=2", prompt],
                    stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE, env=chat_env())
                try:
                    first = os.read(p.stdout.fileno(), 4096)  # mid-stream
                    t0 = time.monotonic()
                    p.send_signal(sig)
                    rest, err = p.communicate(timeout=10)
                finally:
                    if p.poll() is None:
                        p.kill()
                        p.communicate()
                self.assertLess(time.monotonic() - t0, 3.0)
                out = (first + rest).decode()
                err = err.decode()
                self.assertEqual(p.returncode, 1, err)
                self.assertIn("llmc-chat: cancelled", err)
                self.assertIn("(after partial content)", err)
                self.assertGreater(len(out), 0)
                self.assertLess(len(out), len(prompt))
                self.assertTrue(prompt.startswith(out), out)


class StdoutErrorTests(ToolCase):
    """An answer that cannot be written is not an answer: stdout on a full
    device gives exit status 1 and the error on stderr."""

    @staticmethod
    def run_to(cmd, out):
        """cmd with stdout out; (exit status, stderr text)."""
        p = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=out,
                           stderr=subprocess.PIPE, timeout=TIMEOUT,
                           env=chat_env())
        return p.returncode, p.stderr.decode("utf-8", "replace")

    def run_full(self, cmd):
        with open("/dev/full", "wb") as full:
            return self.run_to(cmd, full)

    def test_llmc_chat(self):
        srv = self.server()
        for extra in ([], ["--no-stream"]):
            with self.subTest(args=extra):
                rc, err = self.run_full([chat_binary(), "--base-url", srv.url,
                                         "-m", "t"] + extra + ["hello"])
                self.assertEqual(rc, 1, err)
                self.assertIn("llmc-chat: stdout: No space left on device", err)
                self.assertNotIn("answered", err)
        # a long stream stops at the failed write: far fewer events are
        # sent than the answer has
        rc, err = self.run_full([chat_binary(), "--base-url", srv.url, "-m",
                                 "t?size=400&piece=1&event_delay_ms=5", "x"])
        self.assertEqual(rc, 1, err)
        wait_for(lambda: srv.stats()["open"] == 0, 5.0, "open == 0")

    def test_llmc_check(self):
        srv = self.server()
        need(CHECK)
        cfg = self.config([self.prov("a", srv)])
        for extra in ([], ["--json"]):
            with self.subTest(args=extra):
                rc, err = self.run_full([CHECK, "-c", cfg] + extra)
                self.assertEqual(rc, 1, err)
                self.assertIn("llmc-check: stdout: No space left on device",
                              err)

    def test_llmc_gather(self):
        srv = self.server()
        need(GATHER)
        cfg = self.config([self.prov("a", srv)])
        rc, err = self.run_full([GATHER, "-c", cfg, "one", "two"])
        self.assertEqual(rc, 1, err)
        self.assertIn("llmc-gather: stdout: No space left on device", err)

    def test_a_reader_that_has_gone_is_a_write_error_not_sigpipe(self):
        # stdout a pipe whose reading end is closed (a reader such as
        # head that has exited): exit status 1 and the error on stderr,
        # not death by SIGPIPE with nothing said
        srv = self.server()
        need(CHECK)
        need(GATHER)
        cfg = self.config([self.prov("a", srv)])
        for name, cmd in (
                ("llmc-chat", [chat_binary(), "--base-url", srv.url, "-m",
                               "t?size=100000", "hello"]),
                ("llmc-check", [CHECK, "-c", cfg]),
                ("llmc-gather", [GATHER, "-c", cfg, "one", "two"])):
            with self.subTest(tool=name):
                r, w = os.pipe()
                os.close(r)
                try:
                    rc, err = self.run_to(cmd, w)
                finally:
                    os.close(w)
                self.assertEqual(rc, 1, err)
                self.assertIn("%s: stdout: Broken pipe" % name, err)

    def test_a_closed_stdout_is_a_write_error(self):
        # started with stdin and stdout closed (`<&- >&-`, as a daemon may
        # start a tool): the answer cannot be written, exit status 1. The
        # descriptors the tool opens must not take numbers 0 and 1, or
        # the answer would be "written" to one of them (the port's wake-up
        # pipe, [0, 1]) and the tool would say it got out
        srv = self.server()
        need(CHECK)
        need(GATHER)
        cfg = self.config([self.prov("a", srv)])
        for name, cmd in (
                ("llmc-chat", [chat_binary(), "--base-url", srv.url, "-m",
                               "t", "hello"]),
                ("llmc-check", [CHECK, "-c", cfg]),
                ("llmc-gather", [GATHER, "-c", cfg, "one", "two"])):
            with self.subTest(tool=name):
                rc, err = self.run_to(
                    ["sh", "-c", 'exec "$@" <&- >&-', "sh"] + cmd, None)
                self.assertEqual(rc, 1, err)
                self.assertIn("%s: stdout: Bad file descriptor" % name, err)


if __name__ == "__main__":
    unittest.main()
