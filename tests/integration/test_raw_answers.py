"""Answers written byte for byte by a raw server, for what the scripted
test server does not produce: a body whose end after [DONE] is missing or
broken (README: "If the end never comes, the answer still stands and the
connection is closed"), a UTF-8 BOM before the first event, and error
objects beside "choices": null.
"""

import gzip
import json
import os
import re
import select
import socket
import ssl
import struct
import tempfile
import threading
import time
import unittest

from harness import TEST_HOST, cert_path, run_chat, tls_host

API_KEY = "test-key-0123"
TIMEOUT = 20

HEAD = (b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n")
EVENT = b'data: {"choices":[{"delta":{"content":"Hello"}}]}\n\n'
DONE = b"data: [DONE]\n\n"


def chunk(b):
    return b"%x\r\n" % len(b) + b + b"\r\n"


def reset_on_close(c):
    """Closing c sends a reset (RST), not a FIN."""
    c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))


def read_request(c, limit=None, rate=0):
    """A request's head, its body (at most limit bytes of it) and its
    Content-Length, read from c; less of the body if c closes first.
    rate: when not 0, the body is read 4 KiB at a time, at that many bytes
    a second."""
    buf = b""
    while b"\r\n\r\n" not in buf:
        d = c.recv(65536)
        if not d:
            break
        buf += d
    head, _, body = buf.partition(b"\r\n\r\n")
    n = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            n = int(line.split(b":")[1])
    want = n if limit is None else min(n, limit)
    while len(body) < want:
        d = c.recv(4096 if rate else 65536)
        if not d:
            break
        body += d
        if rate:
            time.sleep(len(d) / rate)
    return head, body, n


class Listener:
    """A listening socket on TEST_HOST; a thread hands each connection in
    turn to the subclass's handle(c) and closes it after. A subclass sets
    its own attributes before calling __init__, and may set socket options
    on the listening socket in listening(sock)."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listening(self.sock)
        self.sock.bind((TEST_HOST, 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self._serve, daemon=True).start()

    def listening(self, sock):
        pass

    @property
    def url(self):
        return "http://%s:%d/v1" % (TEST_HOST, self.port)

    def _serve(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            with c:
                c.settimeout(TIMEOUT)
                self.handle(c)

    def stop(self):
        self.sock.close()


class RawServer(Listener):
    """Answers one request per connection with the given bytes, then ends
    the connection: "close" (FIN) or "reset" (RST)."""

    def __init__(self, answer, end="close"):
        self.answer = answer
        self.end = end
        self.requests = 0
        super().__init__()

    def handle(self, c):
        read_request(c)
        self.requests += 1
        c.sendall(self.answer)
        if self.end == "reset":
            reset_on_close(c)


class RawTestCase(unittest.TestCase):
    def chat(self, answer, end="close", args=()):
        srv = RawServer(answer, end)
        try:
            result = run_chat(["--base-url", srv.url, "--api-key", API_KEY,
                               "-m", "m", "--max-retries", "0"] + list(args)
                              + ["hi"],
                              timeout=TIMEOUT)
        finally:
            srv.stop()
        return result, srv.requests


class AfterDoneTests(RawTestCase):
    def assertAnswerStands(self, result, requests):
        rc, out, err = result
        self.assertEqual(out, b"Hello", err)
        self.assertEqual(rc, 0, err)
        self.assertEqual(requests, 1, err)

    def test_close_after_done_without_last_chunk(self):
        # [DONE], then FIN: the last chunk never comes
        self.assertAnswerStands(*self.chat(HEAD + chunk(EVENT) + chunk(DONE)))

    def test_reset_after_done_without_last_chunk(self):
        self.assertAnswerStands(*self.chat(HEAD + chunk(EVENT) + chunk(DONE),
                                           end="reset"))

    def test_close_after_done_short_content_length(self):
        body = EVENT + DONE
        head = (b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
                b"Content-Length: %d\r\n\r\n" % (len(body) + 10))
        self.assertAnswerStands(*self.chat(head + body))

    def test_big_event_after_done_is_ignored(self):
        # larger than LLMC_EVENT_BUF_SIZE, but after [DONE]
        big = b"data: " + b"x" * 70000 + b"\n\n"
        self.assertAnswerStands(*self.chat(
            HEAD + chunk(EVENT) + chunk(DONE) + chunk(big) + b"0\r\n\r\n"))

    def test_bad_framing_after_done(self):
        self.assertAnswerStands(*self.chat(
            HEAD + chunk(EVENT) + chunk(DONE) + b"zz\r\n"))


class Trickler(Listener):
    """Answers a stream with [DONE], then, instead of the body's end, a
    comment chunk every 0.2 s for 10 s (bytes after [DONE], which count
    for nothing), then the last chunk. closed_early: the client closed the
    connection while those chunks still came."""

    def __init__(self):
        self.closed_early = None
        self.handled = threading.Event()
        super().__init__()

    def handle(self, c):
        try:
            read_request(c)
            c.sendall(HEAD + chunk(EVENT) + chunk(DONE))
            end = time.monotonic() + 10
            self.closed_early = False
            try:
                while time.monotonic() < end:
                    r, _, _ = select.select([c], [], [], 0.2)
                    if r and not c.recv(4096):
                        break
                    c.sendall(chunk(b": ping\n"))
                else:
                    c.sendall(b"0\r\n\r\n")
                    return
            except ConnectionError:  # a ping met the client's close
                pass
            self.closed_early = True
        finally:
            self.handled.set()


class AfterDoneTrickleTests(unittest.TestCase):
    def test_bytes_after_done_do_not_stretch_the_wait_for_the_end(self):
        # README, Decisions: after [DONE] llmc waits up to 1 s for the
        # body's end. Bytes that keep coming meanwhile (comments here;
        # events are ignored as well) do not start that second again:
        # the answer stands and the connection is closed about 1 s after
        # [DONE], not when the body ends 10 s later (or at the deadline)
        srv = Trickler()
        self.addCleanup(srv.stop)
        rc, out, err = run_chat(["--base-url", srv.url, "--api-key", API_KEY,
                                 "-m", "m", "--max-retries", "0", "hi"],
                                timeout=TIMEOUT)
        self.assertEqual((rc, out), (0, b"Hello"), err)
        self.assertTrue(srv.handled.wait(TIMEOUT))
        self.assertTrue(srv.closed_early, err)


class StreamStartAndErrorTests(RawTestCase):
    def test_leading_bom_keeps_first_event(self):
        # WHATWG strips one leading BOM; the first event's content must not
        # vanish silently (exit 0 with "world" only, before the fix)
        ev2 = b'data: {"choices":[{"delta":{"content":" world"}}]}\n\n'
        (rc, out, err), _ = self.chat(HEAD + chunk(b"\xef\xbb\xbf" + EVENT)
                                      + chunk(ev2) + chunk(DONE)
                                      + b"0\r\n\r\n")
        self.assertEqual(out, b"Hello world", err)
        self.assertEqual(rc, 0, err)

    def test_error_event_with_null_choices_under_200(self):
        # vLLM-style error chunk: its message, not "malformed JSON"
        ev = (b'data: {"object":"error","choices":null,"error":'
              b'{"message":"context length exceeded","code":400}}\n\n')
        (rc, out, err), _ = self.chat(HEAD + chunk(ev) + b"0\r\n\r\n")
        self.assertEqual(rc, 1, err)
        self.assertIn("api error", err)
        self.assertIn("context length exceeded", err)

    def test_error_body_with_null_choices(self):
        body = (b'{"object":"error","choices":null,"error":'
                b'{"message":"bad model name"}}')
        (rc, out, err), _ = self.chat(
            b"HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\n"
            b"Content-Length: %d\r\n\r\n" % len(body) + body)
        self.assertEqual(rc, 1, err)
        self.assertIn("status 400: bad model name", err)


class ErrorFieldTests(RawTestCase):
    """llama.cpp's server (tools/server/server.cpp before its PR #16109 of
    September 2025, which sends `data: {"error": ...}` instead; issue
    #16104: clients took it for an empty message) sends an error
    that comes while it streams as an SSE field of its own, `error:`,
    then `data: [DONE]`. The answer is not whole: the request fails
    with the server's message, after the content that came before it."""

    LLAMACPP_ERR = (b'error: {"code":500,"message":"Context size has been '
                    b'exceeded.","type":"server_error"}\n\n')

    def test_error_field_after_content_is_a_partial_failure(self):
        (rc, out, err), _ = self.chat(HEAD + chunk(EVENT)
                                      + chunk(self.LLAMACPP_ERR)
                                      + chunk(DONE) + b"0\r\n\r\n")
        self.assertEqual((rc, out), (1, b"Hello"), err)
        self.assertIn("api error: Context size has been exceeded. (after "
                      "partial content)", err)

    def test_error_field_before_content_fails_over_with_its_message(self):
        ev = (b'error: {"code":400,"message":"the request exceeds the '
              b'available context size, try increasing it","type":'
              b'"exceed_context_size_error"}\n\n')
        (rc, out, err), a, b = failover(
            self, HEAD + chunk(ev) + chunk(DONE) + b"0\r\n\r\n",
            HEAD + chunk(EVENT) + chunk(DONE) + b"0\r\n\r\n")
        self.assertEqual((rc, out), (0, b"Hello"), err)
        self.assertEqual((a.requests, b.requests), (1, 1), err)
        self.assertIn("a: api error: the request exceeds the available "
                      "context size", err)

    def test_error_field_that_is_not_json_still_fails(self):
        (rc, out, err), _ = self.chat(HEAD + chunk(EVENT)
                                      + chunk(b"error: boom\n\n")
                                      + chunk(DONE) + b"0\r\n\r\n")
        self.assertEqual((rc, out), (1, b"Hello"), err)
        self.assertIn("after partial content", err)

    def test_other_fields_are_still_ignored(self):
        # "errors", "err", "event: error" name no error of their own
        for line in (b"errors: x\n", b"err: x\n", b"event: error\n",
                     b"error2: x\n"):
            with self.subTest(line=line):
                (rc, out, err), _ = self.chat(
                    HEAD + chunk(line + EVENT) + chunk(DONE)
                    + b"0\r\n\r\n")
                self.assertEqual((rc, out), (0, b"Hello"), err)


class ErrorBodyTests(RawTestCase):
    """Error bodies as providers write them: the message is the
    provider's error.message, wherever the object sits."""

    def test_error_object_in_an_array_as_gemini_sends_it(self):
        # Google's APIs, Gemini's OpenAI compatibility included, put the
        # error object in an array, pretty-printed (PromptFuzz #42,
        # coreply #18): the message is its error.message, not the
        # array's first 80 bytes, mostly blanks
        body = (b'[{\n  "error": {\n    "code": 429,\n    "message": "You '
                b'exceeded your current quota, please check your plan and '
                b'billing details.",\n    "status": "RESOURCE_EXHAUSTED"\n'
                b'  }\n}\n]\n')
        (rc, out, err), _ = self.chat(
            json_answer(body, b"429 Too Many Requests"))
        self.assertEqual((rc, out), (1, b""), err)
        self.assertIn("http error: status 429: You exceeded your current "
                      "quota", err)

    def test_body_that_is_no_json_is_still_shown_as_it_is(self):
        body = (b"<html><head><title>502 Bad Gateway</title></head>"
                b"<body>{oops}</body></html>")
        (rc, out, err), _ = self.chat(
            json_answer(body, b"502 Bad Gateway"))
        self.assertEqual(rc, 1, err)
        self.assertIn("status 502: <html><head><title>502 Bad Gateway", err)


def data(js):
    return b"data: " + js + b"\n\n"


class ProviderStreamTests(RawTestCase):
    """Whole answers as real providers stream them, with the fields and
    chunks around the content that they add: the content, finish_reason
    and usage come out as with a plain OpenAI stream."""

    def assertAnswer(self, events, want, tail, keepalive=b""):
        body = b"".join(chunk(keepalive + e) for e in events)
        (rc, out, err), _ = self.chat(HEAD + body + chunk(DONE)
                                      + b"0\r\n\r\n", args=["-v"])
        self.assertEqual((rc, out), (0, want), err)
        self.assertIn("answered in", err)
        self.assertIn(tail, err)

    def test_openai_with_include_usage(self):
        # usage null in every chunk but the last, whose choices are empty;
        # service_tier, system_fingerprint, refusal and the obfuscation
        # padding OpenAI adds to each chunk are read past
        pre = (b'{"id":"chatcmpl-B","object":"chat.completion.chunk",'
               b'"created":1750000000,"model":"gpt-4o-mini-2024-07-18",'
               b'"service_tier":"default","system_fingerprint":"fp_b",'
               b'"choices":')
        self.assertAnswer([
            data(pre + b'[{"index":0,"delta":{"role":"assistant","content":'
                 b'"","refusal":null},"logprobs":null,"finish_reason":null}'
                 b'],"usage":null,"obfuscation":"4ZbB2"}'),
            data(pre + b'[{"index":0,"delta":{"content":"Hello"},"logprobs"'
                 b':null,"finish_reason":null}],"usage":null,"obfuscation":'
                 b'"Qx"}'),
            data(pre + b'[{"index":0,"delta":{"content":"!"},"logprobs"'
                 b':null,"finish_reason":null}],"usage":null,"obfuscation":'
                 b'"Zk3Lw"}'),
            data(pre + b'[{"index":0,"delta":{},"logprobs":null,'
                 b'"finish_reason":"stop"}],"usage":null,"obfuscation":"a"}'),
            data(pre + b'[],"usage":{"prompt_tokens":8,"completion_tokens":2,'
                 b'"total_tokens":10,"prompt_tokens_details":{"cached_tokens"'
                 b':0,"audio_tokens":0},"completion_tokens_details":{'
                 b'"reasoning_tokens":0,"audio_tokens":0,'
                 b'"accepted_prediction_tokens":0,'
                 b'"rejected_prediction_tokens":0}},"obfuscation":"xyz"}'),
        ], b"Hello!", "(finish_reason stop, tokens 8+2=10)")

    def test_azure_with_content_filter_chunks(self):
        # Azure OpenAI: a first chunk with no choices and the prompt's
        # filter results, content_filter_results in each choice, and (with
        # the asynchronous filter) a choice with no delta after the finish
        filt = (b'{"hate":{"filtered":false,"severity":"safe"},'
                b'"violence":{"filtered":false,"severity":"safe"}}')
        pre = b'{"choices":[{"content_filter_results":' + filt + b','
        post = (b',"index":0,"logprobs":null}],"created":1727000000,"id":'
                b'"chatcmpl-A","model":"gpt-4o-2024-08-06","object":'
                b'"chat.completion.chunk","system_fingerprint":"fp_a",'
                b'"usage":null}')
        self.assertAnswer([
            data(b'{"choices":[],"created":0,"id":"","model":"","object":"",'
                 b'"prompt_filter_results":[{"prompt_index":0,'
                 b'"content_filter_results":' + filt + b'}]}'),
            data(b'{"choices":[{"content_filter_results":{},"delta":{'
                 b'"content":"","refusal":null,"role":"assistant"},'
                 b'"finish_reason":null' + post),
            data(pre + b'"delta":{"content":"Hello"},"finish_reason":null'
                 + post),
            data(pre + b'"delta":{"content":" there"},"finish_reason":null'
                 + post),
            data(b'{"choices":[{"content_filter_results":{},"delta":{},'
                 b'"finish_reason":"stop"' + post),
            data(b'{"choices":[{"content_filter_offsets":{"check_offset":0,'
                 b'"start_offset":0,"end_offset":11},'
                 b'"content_filter_results":' + filt + b',"finish_reason":'
                 b'null,"index":0}],"created":0,"id":"","model":"",'
                 b'"object":""}'),
            data(b'{"choices":[],"created":1727000000,"id":"chatcmpl-A",'
                 b'"model":"gpt-4o-2024-08-06","object":'
                 b'"chat.completion.chunk","usage":{"completion_tokens":2,'
                 b'"prompt_tokens":9,"total_tokens":11}}'),
        ], b"Hello there", "(finish_reason stop, tokens 9+2=11)")

    def test_groq_with_x_groq(self):
        # Groq: x_groq in the first and the finishing chunk, that one with
        # its own usage, then (include_usage) the usage chunk
        pre = (b'{"id":"chatcmpl-C","object":"chat.completion.chunk",'
               b'"created":1745935006,"model":"llama-3.3-70b-versatile",'
               b'"system_fingerprint":"fp_c","choices":')
        usage = (b'{"queue_time":0.05,"prompt_tokens":40,"prompt_time":0.002,'
                 b'"completion_tokens":1,"completion_time":0.001,'
                 b'"total_tokens":41,"total_time":0.003}')
        self.assertAnswer([
            data(pre + b'[{"index":0,"delta":{"role":"assistant","content":'
                 b'""},"logprobs":null,"finish_reason":null}],"x_groq":{"id":'
                 b'"req_01"}}'),
            data(pre + b'[{"index":0,"delta":{"content":"Hi"},"logprobs":'
                 b'null,"finish_reason":null}]}'),
            data(pre + b'[{"index":0,"delta":{},"logprobs":null,'
                 b'"finish_reason":"stop"}],"x_groq":{"id":"req_01",'
                 b'"usage":' + usage + b'}}'),
            data(pre + b'[],"usage":' + usage + b'}'),
        ], b"Hi", "(finish_reason stop, tokens 40+1=41)")

    def test_deepseek_reasoner_with_keep_alive_comments(self):
        # DeepSeek: ": keep-alive" comments while the request waits, then
        # reasoning_content (not the answer) before content; usage in the
        # finishing chunk
        pre = (b'{"id":"d","object":"chat.completion.chunk","created":1,'
               b'"model":"deepseek-reasoner","system_fingerprint":"fp_d",'
               b'"choices":[{"index":0,"delta":')
        self.assertAnswer([
            b": keep-alive\n\n",
            data(pre + b'{"role":"assistant","content":null,'
                 b'"reasoning_content":""},"logprobs":null,"finish_reason":'
                 b'null}]}'),
            data(pre + b'{"content":null,"reasoning_content":"Think"},'
                 b'"logprobs":null,"finish_reason":null}]}'),
            data(pre + b'{"content":"Hi","reasoning_content":null},'
                 b'"logprobs":null,"finish_reason":null}]}'),
            data(pre + b'{"content":"","reasoning_content":null},"logprobs":'
                 b'null,"finish_reason":"stop"}],"usage":{"prompt_tokens":10,'
                 b'"completion_tokens":5,"total_tokens":15,'
                 b'"prompt_tokens_details":{"cached_tokens":0},'
                 b'"completion_tokens_details":{"reasoning_tokens":4},'
                 b'"prompt_cache_hit_tokens":0,"prompt_cache_miss_tokens":10}'
                 b'}'),
        ], b"Hi", "(finish_reason stop, tokens 10+5=15)",
            keepalive=b": keep-alive\n\n")

    def test_openrouter_processing_comments(self):
        pre = (b'{"id":"gen-1","provider":"OpenAI","model":"openai/gpt-4o",'
               b'"object":"chat.completion.chunk","created":1,"choices":'
               b'[{"index":0,"delta":')
        self.assertAnswer([
            b": OPENROUTER PROCESSING\n\n",
            data(pre + b'{"role":"assistant","content":"Hel"},'
                 b'"finish_reason":null,"native_finish_reason":null,'
                 b'"logprobs":null}]}'),
            data(pre + b'{"content":"lo"},"finish_reason":"stop",'
                 b'"native_finish_reason":"stop","logprobs":null}],"usage":'
                 b'{"prompt_tokens":3,"completion_tokens":2,"total_tokens":5,'
                 b'"cost":0.0001}}'),
        ], b"Hello", "(finish_reason stop, tokens 3+2=5)",
            keepalive=b": OPENROUTER PROCESSING\n\n")

    def test_openrouter_error_after_content(self):
        # OpenRouter: an upstream failure mid-stream is a chunk with an
        # error object and finish_reason "error" (HTTP 200, head sent)
        ev = (data(b'{"id":"gen-1","object":"chat.completion.chunk",'
                   b'"created":1,"choices":[{"index":0,"delta":{"content":'
                   b'"Hel"},"finish_reason":null}]}')
              + data(b'{"id":"gen-1","object":"chat.completion.chunk",'
                     b'"created":1,"model":"openai/gpt-4o","provider":'
                     b'"OpenAI","error":{"code":"server_error","message":'
                     b'"Provider disconnected unexpectedly"},"choices":'
                     b'[{"index":0,"delta":{"content":""},"finish_reason":'
                     b'"error"}]}'))
        (rc, out, err), _ = self.chat(HEAD + chunk(ev) + chunk(DONE)
                                      + b"0\r\n\r\n")
        self.assertEqual((rc, out), (1, b"Hel"), err)
        self.assertIn("api error: Provider disconnected unexpectedly (after "
                      "partial content)", err)

    def test_deepseek_not_streamed_with_keep_alive_blank_lines(self):
        # DeepSeek keeps a request that waits alive with blank lines
        # before the JSON body when it is not streamed
        body = (b'{"id":"d","object":"chat.completion","choices":[{"index":0,'
                b'"message":{"role":"assistant","content":"Hi"},'
                b'"finish_reason":"stop"}],"usage":{"prompt_tokens":1,'
                b'"completion_tokens":1,"total_tokens":2}}')
        (rc, out, err), _ = self.chat(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n" + chunk(b"\n")
            + chunk(b"\n") + chunk(body) + b"0\r\n\r\n",
            args=["--no-stream", "-v"])
        self.assertEqual((rc, out), (0, b"Hi"), err)
        self.assertIn("(finish_reason stop, tokens 1+1=2)", err)


class EmptyAnswerTests(unittest.TestCase):
    """Streams that end without content, as real providers send them:
    an empty response (DESIGN 4), failed over to the next provider."""

    def assertFailsOver(self, events):
        (rc, out, err), a, b = failover(
            self, HEAD + chunk(events) + chunk(DONE) + b"0\r\n\r\n",
            HEAD + chunk(EVENT) + chunk(DONE) + b"0\r\n\r\n")
        self.assertEqual((rc, out), (0, b"Hello"), err)
        self.assertEqual((a.requests, b.requests), (1, 1), err)
        self.assertIn("a: empty response", err)

    def test_reasoning_that_used_up_max_tokens(self):
        # a reasoning model (DeepSeek's deepseek-reasoner here) given too
        # few tokens spends them all on reasoning_content, which is not
        # the answer
        self.assertFailsOver(
            b'data: {"choices":[{"index":0,"delta":{"role":"assistant",'
            b'"content":null,"reasoning_content":""},"finish_reason":'
            b'null}]}\n\n'
            b'data: {"choices":[{"index":0,"delta":{"content":null,'
            b'"reasoning_content":"Let me think"},"finish_reason":'
            b'null}]}\n\n'
            b'data: {"choices":[{"index":0,"delta":{"content":"",'
            b'"reasoning_content":null},"finish_reason":"length"}]}\n\n')

    def test_output_filtered_before_any_content(self):
        # Azure OpenAI: prompt_filter_results first, then the answer
        # filtered before its first token
        self.assertFailsOver(
            b'data: {"choices":[],"created":0,"id":"","model":"","object":'
            b'"","prompt_filter_results":[{"prompt_index":0,'
            b'"content_filter_results":{}}]}\n\n'
            b'data: {"choices":[{"content_filter_results":{},"delta":{},'
            b'"finish_reason":"content_filter","index":0}]}\n\n')


class StreamEndTests(RawTestCase):
    def test_done_with_trailing_blanks_ends_the_stream(self):
        # the openai SDKs (Python and Node) end a stream at data that starts
        # with [DONE]: a complete answer is not a "malformed JSON" failure
        (rc, out, err), _ = self.chat(HEAD + chunk(EVENT)
                                      + chunk(b"data: [DONE] \t\n\n")
                                      + b"0\r\n\r\n")
        self.assertEqual(out, b"Hello", err)
        self.assertEqual(rc, 0, err)
        self.assertNotIn("malformed", err)

    def test_longest_known_finish_reason_kept_whole(self):
        # DeepSeek's finish_reason values include
        # "insufficient_system_resource" (28 bytes)
        ev = (b'data: {"choices":[{"delta":{"content":"Hello"},'
              b'"finish_reason":"insufficient_system_resource"}]}\n\n')
        (rc, out, err), _ = self.chat(HEAD + chunk(ev) + chunk(DONE)
                                      + b"0\r\n\r\n", args=["-v"])
        self.assertEqual(rc, 0, err)
        self.assertIn("(finish_reason insufficient_system_resource)", err)


def json_answer(body, status=b"200 OK"):
    return (b"HTTP/1.1 %s\r\nContent-Type: application/json\r\n"
            b"Content-Length: %d\r\n\r\n" % (status, len(body)) + body)


def message_body(n):
    """A whole chat-completion body of exactly n bytes; its content."""
    pre = b'{"choices":[{"message":{"content":"'
    post = b'"}}]}'
    content = b"x" * (n - len(pre) - len(post))
    return pre + content + post, content


class BodyBufferTests(RawTestCase):
    """A whole (non-streamed) body lives in the slot's event buffer
    (LLMC_EVENT_BUF_SIZE): one that fits is answered, a larger one is a
    clear error, never a cut answer; an error body longer than it is cut,
    and its start is the message."""

    def buffer_size(self):
        """The buffer's size, from the error a 64 KiB body gets."""
        (rc, out, err), _ = self.chat(json_answer(message_body(65536)[0]),
                                      args=["--no-stream"])
        self.assertEqual((rc, out), (1, b""), err)
        m = re.search(r"llmc-chat: response too large: response body "
                      r"larger than (\d+) bytes \(LLMC_EVENT_BUF_SIZE\)",
                      err)
        self.assertIsNotNone(m, err)
        return int(m.group(1))

    def test_body_that_fills_the_buffer_is_answered_whole(self):
        body, content = message_body(self.buffer_size())
        (rc, out, err), _ = self.chat(json_answer(body),
                                      args=["--no-stream"])
        self.assertEqual(out, content, err)
        self.assertEqual(rc, 0, err)

    def test_body_one_byte_larger_is_too_large_and_nothing_is_shown(self):
        n = self.buffer_size()
        for framing in ("length", "chunked"):
            with self.subTest(framing=framing):
                body = message_body(n + 1)[0]
                answer = json_answer(body) if framing == "length" else (
                    b"HTTP/1.1 200 OK\r\nContent-Type: application/json"
                    b"\r\nTransfer-Encoding: chunked\r\n\r\n"
                    + chunk(body[:n]) + chunk(body[n:]) + b"0\r\n\r\n")
                (rc, out, err), requests = self.chat(answer,
                                                     args=["--no-stream"])
                self.assertEqual((rc, out, requests), (1, b"", 1), err)
                self.assertIn("llmc-chat: response too large: response "
                              "body larger than %d bytes" % n, err)

    def test_error_body_larger_than_the_buffer_gives_its_start(self):
        # cut, the JSON cannot be read: its first bytes are the message,
        # as for a body that is not JSON
        n = self.buffer_size()
        body = (b'{"error":{"message":"' + b"overloaded " * (n // 5)
                + b'"}}')
        (rc, out, err), requests = self.chat(
            json_answer(body, b"503 Service Unavailable"))
        self.assertEqual((rc, out, requests), (1, b"", 1), err)
        self.assertIn('llmc-chat: http error: status 503: {"error":'
                      '{"message":"overloaded overloaded', err)


class HandshakeServer(Listener):
    """Reads a TLS client's first bytes (its ClientHello), then answers
    them as a server that is not what the client expects: "http" (a
    plain-HTTP server on an https URL), "close" (FIN) or "reset" (RST)."""

    def __init__(self, mode):
        self.mode = mode
        self.hellos = []
        super().__init__()

    @property
    def url(self):
        return "https://%s:%d/v1" % (TEST_HOST, self.port)

    def handle(self, c):
        self.hellos.append(c.recv(65536)[:1])
        if self.mode == "http":
            c.sendall(b"HTTP/1.1 400 Bad Request\r\n"
                      b"Content-Length: 0\r\n\r\n")
        elif self.mode == "reset":
            reset_on_close(c)


class HandshakeFailureTests(unittest.TestCase):
    """A TLS handshake that the server breaks off is a "tls error" that
    says how, and it is retried (DESIGN: a TLS I/O error is retryable);
    a server that answers it in plain HTTP is one too."""

    def handshake(self, mode):
        srv = HandshakeServer(mode)
        self.addCleanup(srv.stop)
        rc, out, err = run_chat(["--base-url", srv.url, "--api-key", API_KEY,
                                 "-m", "m", "--max-retries", "1", "hi"],
                                timeout=TIMEOUT)
        self.assertEqual((rc, out), (1, b""), err)
        # two tries, each opened with a ClientHello (a handshake record)
        self.assertEqual(srv.hellos, [b"\x16", b"\x16"], err)
        return err

    def test_plain_http_server_on_an_https_url(self):
        self.assertRegex(self.handshake("http"),
                         r"llmc-chat: tls error: TLS handshake failed "
                         r"\(mbedTLS -0x[0-9A-F]{4}\)")

    def test_connection_closed_during_the_handshake(self):
        self.assertIn("llmc-chat: tls error: TLS handshake: connection "
                      "closed by peer", self.handshake("close"))

    def test_connection_reset_during_the_handshake(self):
        self.assertIn("llmc-chat: tls error: TLS handshake: connection "
                      "reset by peer", self.handshake("reset"))


class SlowReader(Listener):
    """Reads a request only after a pause, through a small receive buffer,
    so that the client's send would block many times over: "answer" reads
    it whole and answers with the length of the last message's content;
    "reset" reads its first 64 KiB and resets the connection. With tls, it
    is the test CA's server."""

    def __init__(self, mode, tls=False, pause=0.3, rate=0):
        self.mode = mode
        self.pause = pause
        self.rate = rate  # of the body's reading (read_request())
        self.ctx = None
        if tls:
            self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            self.ctx.load_cert_chain(cert_path("server.pem"),
                                     cert_path("server.key"))
        self.bodies = []
        super().__init__()

    def listening(self, sock):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        # a small segment size, which the client's send buffer grows by
        # (loopback's 64 KiB ones let it queue megabytes)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_MAXSEG, 536)

    @property
    def url(self):
        if self.ctx:
            return "https://%s:%d/v1" % (tls_host(), self.port)
        return super().url

    def handle(self, c):
        try:
            if self.ctx:
                c = self.ctx.wrap_socket(c, server_side=True)
            try:
                time.sleep(self.pause)
                self._answer(c)
            finally:
                c.close()
        except OSError:
            pass  # the client gave up: its result says so

    def _answer(self, c):
        if self.mode == "reset":
            read_request(c, 65536)
            reset_on_close(c)
            return
        _, body, n = read_request(c, rate=self.rate)
        if len(body) < n:
            return  # the client closed first
        self.bodies.append(body)
        text = str(len(json.loads(body)["messages"][-1]["content"]))
        ev = b'data: {"choices":[{"delta":{"content":"%s"}}]}\n\n' % (
            text.encode())
        c.sendall(HEAD + chunk(ev) + chunk(DONE) + b"0\r\n\r\n")


class LargeRequestTests(unittest.TestCase):
    """A request body far larger than the socket takes at once goes out
    whole, resumed each time the socket has room (README: a long
    conversation costs no RAM); a server that resets the connection while
    it goes out ends the attempt as an i/o error."""

    # 7 words of 120,000 bytes: 840 KB, within Linux's bound on one
    # argument (128 KiB) and llmc-chat's on the prompt (1 MiB)
    WORDS = ["%02d" % i + "abcdefghij" * 11999 + "xyzyxyzy" for i in range(7)]

    def send(self, srv, *extra):
        self.addCleanup(srv.stop)
        args = ["--base-url", srv.url, "--api-key", API_KEY, "-m", "m",
                "--max-retries", "0"] + list(extra) + self.WORDS
        return run_chat(args, timeout=TIMEOUT * 2)

    def assertWhole(self, srv, result):
        rc, out, err = result
        prompt = " ".join(self.WORDS)
        self.assertEqual((rc, out), (0, str(len(prompt)).encode()), err)
        self.assertEqual(len(srv.bodies), 1)
        self.assertEqual(json.loads(srv.bodies[0])["messages"][-1]["content"],
                         prompt)

    def test_body_larger_than_the_socket_takes_goes_out_whole(self):
        srv = SlowReader("answer")
        self.assertWhole(srv, self.send(srv))

    def test_over_tls_too(self):
        srv = SlowReader("answer", tls=True)
        self.assertWhole(srv, self.send(srv, "--ca-file",
                                        cert_path("ca.pem")))

    def test_first_byte_timeout_runs_from_the_request_sent(self):
        # llmc.h: first_byte_timeout_ms runs from the request sent to the
        # first byte of the response. This server takes the body as it
        # comes, 2 MB a second, for longer than that timeout in all, and
        # answers at once: the time the body takes to go out (a long
        # conversation over a slow link) is no wait for a response. It
        # used to end "no response within 1000 ms" while the body still
        # went out.
        srv = SlowReader("answer", pause=0, rate=2000000)
        self.addCleanup(srv.stop)
        fd, cfg = tempfile.mkstemp(suffix=".json")
        self.addCleanup(os.unlink, cfg)
        with os.fdopen(fd, "w") as f:
            json.dump({"providers": [{"name": "slow", "base_url": srv.url,
                                      "api_key": API_KEY}],
                       "policy": {"max_retries": 0,
                                  "first_byte_timeout_ms": 1000}}, f)
        # control bytes, each sent as \u0001: some 4.8 MB of body, more
        # than the sockets hold
        prompt = b"\x01" * 800000
        t0 = time.monotonic()
        rc, out, err = run_chat(["-c", cfg, "-m", "m", "-"], input=prompt,
                                timeout=TIMEOUT * 2)
        took = time.monotonic() - t0
        self.assertEqual((rc, out), (0, b"800000"), err)
        self.assertEqual(len(srv.bodies), 1)
        # the body took longer to go out than the timeout
        self.assertGreater(took, 1.5)

    def test_reset_while_the_body_goes_out_is_an_io_error(self):
        for tls in (False, True):
            with self.subTest(tls=tls):
                srv = SlowReader("reset", tls=tls)
                rc, out, err = self.send(
                    srv, *(["--ca-file", cert_path("ca.pem")] if tls else []))
                self.assertEqual((rc, out), (1, b""), err)
                self.assertIn("llmc-chat: i/o error", err)


def config_file(tc, providers):
    """A config file, removed after the test tc, with these providers and
    no retries."""
    fd, cfg = tempfile.mkstemp(suffix=".json")
    tc.addCleanup(os.unlink, cfg)
    with os.fdopen(fd, "w") as f:
        json.dump({"providers": providers, "policy": {"max_retries": 0}}, f)
    return cfg


def two_providers(tc, a, b):
    """A config file with a and b (listeners, stopped after the test tc)
    as providers "a" and "b"."""
    tc.addCleanup(a.stop)
    tc.addCleanup(b.stop)
    return config_file(tc, [
        {"name": "a", "base_url": a.url, "api_key": API_KEY},
        {"name": "b", "base_url": b.url, "api_key": API_KEY}])


def failover(test, answer_a, answer_b):
    """llmc-chat -v with providers a and b (raw servers giving answer_a and
    answer_b) and no retries: ((rc, out, err), a, b)."""
    a = RawServer(answer_a)
    b = RawServer(answer_b)
    cfg = two_providers(test, a, b)
    return (run_chat(["-c", cfg, "-m", "m", "-v", "hi"], timeout=TIMEOUT),
            a, b)


class FailedAttemptLeavesNoTraceTests(unittest.TestCase):
    def test_failed_attempts_finish_reason_and_usage_not_the_answers(self):
        # DESIGN 7: the result's finish_reason and usage are the answering
        # provider's. The first provider sends both but no content (an
        # empty response, failed over); the second answers without either:
        # the result has none, not the first provider's.
        empty = (b'data: {"choices":[{"delta":{},"finish_reason":'
                 b'"content_filter"}]}\n\n'
                 b'data: {"choices":[],"usage":{"prompt_tokens":7,'
                 b'"completion_tokens":0,"total_tokens":7}}\n\n')
        (rc, out, err), a, b = failover(
            self, HEAD + chunk(empty) + chunk(DONE) + b"0\r\n\r\n",
            HEAD + chunk(EVENT) + chunk(DONE) + b"0\r\n\r\n")
        self.assertEqual(rc, 0, err)
        self.assertEqual(out, b"Hello", err)
        self.assertEqual((a.requests, b.requests), (1, 1), err)
        self.assertIn("b answered", err)
        self.assertIn("(finish_reason none", err)
        self.assertNotIn("content_filter", err.split("b answered")[1])
        self.assertNotIn("tokens", err.split("b answered")[1])


class RefusingListener(Listener):
    """A provider that refuses a request carrying the field REFUSED with
    STATUS and the body REFUSAL, and streams an answer (answer()) to one
    without it. The request bodies are kept, parsed."""

    def __init__(self):
        self.bodies = []
        super().__init__()

    def handle(self, c):
        _, body, _ = read_request(c)
        req = json.loads(body)
        self.bodies.append(req)
        if self.REFUSED in req:
            c.sendall(json_answer(self.REFUSAL, self.STATUS))
            return
        self.answer(c)

    def answer(self, c):
        c.sendall(HEAD + chunk(EVENT) + chunk(DONE) + b"0\r\n\r\n")


def run_one_provider(tc, srv, name, provider_extra, args):
    """llmc-chat with srv as its one provider (plus provider_extra), no
    retries, and args; returns run_chat's (rc, out, err)."""
    tc.addCleanup(srv.stop)
    cfg = config_file(tc, [dict({"name": name, "base_url": srv.url,
                                 "api_key": API_KEY}, **provider_extra)])
    return run_chat(["-c", cfg] + list(args), timeout=TIMEOUT)


class MistralLike(RefusingListener):
    """Mistral's API: a request with stream_options gets 422 (its
    validation forbids fields it does not know; e.g. avante.nvim #2347,
    openai-agents-python #442), one without is streamed, with usage in
    its last chunk unasked."""

    REFUSED = "stream_options"
    STATUS = b"422 Unprocessable Entity"
    REFUSAL = (b'{"object":"error","message":{"detail":[{"type":'
               b'"extra_forbidden","loc":["body","stream_options",'
               b'"include_usage"],"msg":"Extra inputs are not permitted",'
               b'"input":true}]},"type":"invalid_request_error","param":'
               b'null,"code":null}')

    def answer(self, c):
        # the last piece of content comes with the finish_reason and the
        # usage, in one chunk (rust-genai #164)
        last = (b'data: {"id":"m","object":"chat.completion.chunk",'
                b'"created":1,"model":"mistral-small-latest","choices":'
                b'[{"index":0,"delta":{"content":"!"},"finish_reason":'
                b'"stop"}],"usage":{"prompt_tokens":5,"total_tokens":7,'
                b'"completion_tokens":2}}\n\n')
        c.sendall(HEAD + chunk(EVENT) + chunk(last) + chunk(DONE)
                  + b"0\r\n\r\n")


class StreamOptionsTests(unittest.TestCase):
    """A provider with "stream_options": false is asked for a stream
    without stream_options, which Mistral's API refuses (422)."""

    def run_with(self, provider_extra):
        srv = MistralLike()
        return run_one_provider(self, srv, "mistral", provider_extra,
                                ["-m", "m", "-v", "hi"]), srv

    def test_default_asks_for_usage_and_mistral_refuses_it(self):
        (rc, out, err), srv = self.run_with({})
        self.assertEqual((rc, out), (1, b""), err)
        self.assertEqual(srv.bodies[0]["stream_options"],
                         {"include_usage": True})
        self.assertIn("status 422", err)

    def test_without_stream_options_it_streams_with_usage(self):
        (rc, out, err), srv = self.run_with({"stream_options": False})
        self.assertEqual((rc, out), (0, b"Hello!"), err)
        self.assertEqual(len(srv.bodies), 1, err)
        self.assertNotIn("stream_options", srv.bodies[0])
        self.assertIs(srv.bodies[0]["stream"], True)
        self.assertIn("(finish_reason stop, tokens 5+2=7)", err)

    def test_stream_options_true_is_the_default(self):
        (rc, out, err), srv = self.run_with({"stream_options": True})
        self.assertEqual(srv.bodies[0]["stream_options"],
                         {"include_usage": True})

    def test_not_streamed_sends_no_stream_options_either_way(self):
        for extra in ({"stream": False}, {"stream": False,
                                          "stream_options": False}):
            with self.subTest(extra=extra):
                (rc, out, err), srv = self.run_with(extra)
                self.assertNotIn("stream_options", srv.bodies[0])
                self.assertIs(srv.bodies[0]["stream"], False)


class OpenAIReasoningLike(RefusingListener):
    """OpenAI's o-series and GPT-5 models: a request with max_tokens gets
    400 "Unsupported parameter: 'max_tokens' is not supported with this
    model. Use 'max_completion_tokens' instead." (gollm #33, continue
    #7052, also on Azure: opencode #37964); max_completion_tokens is
    taken."""

    REFUSED = "max_tokens"
    STATUS = b"400 Bad Request"
    REFUSAL = (b'{"error":{"message":"Unsupported parameter: \'max_tokens\' '
               b'is not supported with this model. Use '
               b'\'max_completion_tokens\' instead.","type":'
               b'"invalid_request_error","param":"max_tokens","code":'
               b'"unsupported_parameter"}}')


class MaxCompletionTokensTests(unittest.TestCase):
    """A provider with "max_completion_tokens": true is sent the request's
    limit under that name instead of max_tokens."""

    def run_with(self, provider_extra, *args):
        srv = OpenAIReasoningLike()
        return run_one_provider(self, srv, "openai", provider_extra,
                                ["-m", "gpt-5-mini"] + list(args)
                                + ["hi"]), srv

    def test_default_sends_max_tokens_which_the_model_refuses(self):
        (rc, out, err), srv = self.run_with({}, "--max-tokens", "50")
        self.assertEqual((rc, out), (1, b""), err)
        self.assertEqual(srv.bodies[0]["max_tokens"], 50)
        self.assertIn("status 400: Unsupported parameter: 'max_tokens'", err)

    def test_max_completion_tokens_is_taken(self):
        for stream in (True, False):
            with self.subTest(stream=stream):
                (rc, out, err), srv = self.run_with(
                    {"max_completion_tokens": True, "stream": stream},
                    "--max-tokens", "50")
                self.assertEqual(srv.bodies[0].get("max_completion_tokens"),
                                 50, err)
                self.assertNotIn("max_tokens", srv.bodies[0])
                if stream:
                    self.assertEqual((rc, out), (0, b"Hello"), err)

    def test_without_a_limit_neither_is_sent(self):
        (rc, out, err), srv = self.run_with({"max_completion_tokens": True})
        self.assertEqual((rc, out), (0, b"Hello"), err)
        self.assertNotIn("max_tokens", srv.bodies[0])
        self.assertNotIn("max_completion_tokens", srv.bodies[0])


def content(text):
    """One SSE event whose delta content is text, a JSON string body."""
    return (b'data: {"choices":[{"delta":{"content":"%s"}}]}\n\n'
            % text.encode())


SMILE = "\U0001F600".encode()  # U+1F600, 4 bytes of UTF-8
FFFD = "\uFFFD".encode()


class SplitSurrogateTests(RawTestCase):
    """A server that cuts UTF-16 text into chunks (JavaScript's
    String.slice does) can end one delta with the high half of a pair and
    begin the next with its low half, each escaped as JSON writes a lone
    surrogate. The two halves make one character, as a JavaScript client
    would join them; a half the other does not follow is U+FFFD, as any
    lone surrogate is."""

    def stream(self, *texts):
        """llmc-chat's (rc, out, err) for deltas with these contents, then
        [DONE]."""
        body = b"".join(chunk(content(t)) for t in texts)
        (rc, out, err), _ = self.chat(HEAD + body + chunk(DONE)
                                      + b"0\r\n\r\n")
        return rc, out, err

    def test_pair_split_between_two_deltas_is_one_character(self):
        # the same shape twice, so the second event takes the shape
        # cache's path; then a different shape for the full decoding's
        rc, out, err = self.stream("Smile \\ud83d", "\\ude00!")
        self.assertEqual(out, b"Smile " + SMILE + b"!", err)
        self.assertEqual(rc, 0, err)
        ev = (b'data: {"id":"x","choices":[{"index":0,"delta":'
              b'{"content":"\\ude00 ok"}}]}\n\n')
        (rc, out, err), _ = self.chat(
            HEAD + chunk(content("\\ud83d")) + chunk(ev) + chunk(DONE)
            + b"0\r\n\r\n")
        self.assertEqual(out, SMILE + b" ok", err)
        self.assertEqual(rc, 0, err)

    def test_events_without_content_between_the_halves(self):
        role = b'data: {"choices":[{"delta":{"role":"assistant"}}]}\n\n'
        (rc, out, err), _ = self.chat(
            HEAD + chunk(content("a\\ud83d")) + chunk(role)
            + chunk(content("")) + chunk(content("\\ude00b")) + chunk(DONE)
            + b"0\r\n\r\n")
        self.assertEqual(out, b"a" + SMILE + b"b", err)
        self.assertEqual(rc, 0, err)

    def test_half_without_its_other_half_is_a_replacement_character(self):
        cases = {
            ("a\\ud83d", "b"): b"a" + FFFD + b"b",
            ("a\\ud83d", "\\ud83d\\ude00"): b"a" + FFFD + SMILE,
            ("a", "\\ude00b"): b"a" + FFFD + b"b",
            ("a\\ud83d", "\\ud83d", "\\ude00"): b"a" + FFFD + SMILE,
            # the high half last: U+FFFD at the end, not dropped
            ("a\\ud83d",): b"a" + FFFD,
            ("\\ud83d",): FFFD,
        }
        for texts, want in cases.items():
            with self.subTest(texts=texts):
                rc, out, err = self.stream(*texts)
                self.assertEqual(out, want, err)
                self.assertEqual(rc, 0, err)
        # and without [DONE], a close-delimited body with a finish_reason
        fin = (b'data: {"choices":[{"delta":{},"finish_reason":"stop"}]}'
               b'\n\n')
        head = (b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
                b"\r\n")
        (rc, out, err), _ = self.chat(head + content("x\\ud83d") + fin)
        self.assertEqual(out, b"x" + FFFD, err)
        self.assertEqual(rc, 0, err)

    def test_not_joined_across_providers(self):
        # a held half has not reached the caller: the first provider's
        # stream breaks after it, the request fails over, and the second
        # provider's low half is not joined with the first's high one
        (rc, out, err), a, b = failover(
            self, HEAD + chunk(content("\\ud83d")),  # no end: cut
            HEAD + chunk(content("\\ude00x")) + chunk(DONE) + b"0\r\n\r\n")
        self.assertEqual(out, FFFD + b"x", err)
        self.assertEqual(rc, 0, err)
        self.assertEqual((a.requests, b.requests), (1, 1), err)
        self.assertIn("b answered", err)

    def test_cancel_from_the_on_delta_of_the_joined_pair(self):
        # llmc.h: cancelled from its own on_delta, "nothing more of the
        # answer is delivered", also the rest of the event that completed
        # the pair. llmc-conc cancels #0 from its first on_delta (the
        # pair); #1 gets the whole answer, #2 is cancelled while queued.
        from test_concurrency import run_conc
        srv = RawServer(HEAD + chunk(content("\\ud83d"))
                        + chunk(content("\\ude00 rest")) + chunk(DONE)
                        + b"0\r\n\r\n")
        self.addCleanup(srv.stop)
        items, _ = run_conc(["-j", 1, "cancel", srv.url, "m", "m"])
        r0, r1 = items[0], items[1]
        self.assertEqual((r0["status"], r0["partial"], r0["deltas"],
                          r0["content"]),
                         ("cancelled", True, 1, SMILE.decode()), r0)
        self.assertEqual((r1["status"], r1["content"]),
                         ("ok", SMILE.decode() + " rest"), r1)

    def test_non_streamed_body_ending_with_a_high_half(self):
        body = b'{"choices":[{"message":{"content":"z\\ud83d"}}]}'
        (rc, out, err), _ = self.chat(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
            b"Content-Length: %d\r\n\r\n" % len(body) + body,
            args=["--no-stream"])
        self.assertEqual(out, b"z" + FFFD, err)
        self.assertEqual(rc, 0, err)


class IllFormedUtf8Tests(RawTestCase):
    """JSON text is UTF-8 (RFC 8259 8.1) and an event stream is read with
    the WHATWG UTF-8 decoder, which makes each ill-formed sequence (its
    longest valid start) one U+FFFD; on_delta gets UTF-8 (llmc.h). Raw
    bytes, not escapes, inside the content string."""

    CASES = [
        (b"a\xffb", b"a" + FFFD + b"b"),                  # never a byte
        (b"a\xc3b", b"a" + FFFD + b"b"),                  # truncated
        (b"a\xe2\x82", b"a" + FFFD),                      # cut at the end
        (b"\xe2\x82x", FFFD + b"x"),                      # one for both
        (b"\xed\xa0\x80", FFFD * 3),                      # a surrogate
        (b"\xc0\xaf", FFFD * 2),                          # overlong
        (b"\xf4\x90\x80\x80", FFFD * 4),                  # past U+10FFFF
        (b"\x80z", FFFD + b"z"),                          # stray
        (b"\xc3\xa9\xe4\xb8\xad" + SMILE, "\u00e9\u4e2d".encode() + SMILE),
    ]

    def test_streamed_content(self):
        for raw, want in self.CASES:
            with self.subTest(raw=raw):
                ev = (b'data: {"choices":[{"delta":{"content":"' + raw
                      + b'"}}]}\n\n')
                (rc, out, err), _ = self.chat(HEAD + chunk(ev) + chunk(DONE)
                                              + b"0\r\n\r\n")
                self.assertEqual(out, want, err)
                self.assertEqual(rc, 0, err)

    def test_whole_body_and_parts(self):
        # a body that is not streamed, and content as an array of parts;
        # the parts' text is read as UTF-8 once joined (README), so a
        # sequence split between two parts is one character
        for content_json, want in (
                (b'"ok\xff"', b"ok" + FFFD),
                (b'[{"type":"text","text":"\xffa"},'
                 b'{"type":"text","text":"b\xc0"}]', FFFD + b"ab" + FFFD),
                (b'[{"type":"text","text":"\xe4\xb8"},'
                 b'{"type":"text","text":"\xad!"}]', "\u4e2d!".encode())):
            with self.subTest(content=content_json):
                body = (b'{"choices":[{"message":{"content":' + content_json
                        + b'},"finish_reason":"stop"}]}')
                (rc, out, err), _ = self.chat(
                    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                    b"Content-Length: %d\r\n\r\n" % len(body) + body)
                self.assertEqual(out, want, err)
                self.assertEqual(rc, 0, err)


class Compressing(Listener):
    """A server that compresses what it may: gzip unless the request's
    Accept-Encoding rules it out (no header at all allows any coding,
    RFC 9110 12.5.3), or always when FORCE is set. Keeps the heads."""

    FORCE = False
    STATUS = b"200 OK"

    def __init__(self):
        self.heads = []
        super().__init__()

    def handle(self, c):
        head, _, _ = read_request(c)
        self.heads.append(head)
        accept = [line.split(b":", 1)[1].strip().lower()
                  for line in head.split(b"\r\n")
                  if line.lower().startswith(b"accept-encoding:")]
        body = b'{"choices":[{"message":{"content":"Hello"}}]}'
        coding = b""
        if self.FORCE or not accept or b"gzip" in accept[0]:
            body = gzip.compress(body)
            coding = b"Content-Encoding: gzip\r\n"
        c.sendall(b"HTTP/1.1 %s\r\nContent-Type: application/json\r\n"
                  b"%sContent-Length: %d\r\n\r\n" % (self.STATUS, coding,
                                                     len(body)) + body)


class ForcedGzip(Compressing):
    FORCE = True


class ForcedGzip429(Compressing):
    FORCE = True
    STATUS = b"429 Too Many Requests"


class ContentEncodingTests(unittest.TestCase):
    """llmc decodes no content coding, so it asks for none
    (Accept-Encoding: identity); a server that compresses all the same
    gets a clear error, not "malformed JSON"."""

    def test_identity_asked_so_a_compressing_server_sends_plain(self):
        srv = Compressing()
        rc, out, err = run_one_provider(self, srv, "z", {},
                                        ["-m", "m", "--no-stream", "hi"])
        self.assertEqual((rc, out), (0, b"Hello"), err)
        self.assertIn(b"\r\naccept-encoding: identity\r\n",
                      srv.heads[0].lower())

    def test_compressed_answer_named_and_failed_over(self):
        cfg = two_providers(self, ForcedGzip(), Compressing())
        rc, out, err = run_chat(["-c", cfg, "-m", "m", "--no-stream", "-v",
                                 "hi"], timeout=TIMEOUT)
        self.assertEqual((rc, out), (0, b"Hello"), err)
        self.assertIn("a: malformed response: compressed body "
                      "(Content-Encoding)", err)
        self.assertIn("b answered", err)

    def test_compressed_error_keeps_its_status_not_its_body(self):
        # the status line and headers are readable: a 429 is retried as a
        # 429 (DESIGN 3), and the coded body is left out of the message
        srv = ForcedGzip429()
        rc, out, err = run_one_provider(self, srv, "z", {},
                                        ["-m", "m", "--no-stream",
                                         "--max-retries", "1", "-v", "hi"])
        self.assertEqual((rc, out), (1, b""), err)
        self.assertEqual(len(srv.heads), 2, err)
        self.assertIn("z: http error: status 429\n", err)


class BodyKeeper(RefusingListener):
    """Keeps each request's body, parsed, and streams "Hello" to it."""

    REFUSED = None  # no key of a request body


class Busy(RefusingListener):
    """Keeps each request's body, parsed, and answers it with a 503."""

    REFUSED = "messages"  # every request has them
    STATUS = b"503 Service Unavailable"
    REFUSAL = b'{"error":{"message":"busy"}}'


class ExtraMembersTests(unittest.TestCase):
    """extra_json: the request's members and each provider's own go into
    the body as they are, after llmc's."""

    def test_request_and_provider_members_each_to_their_provider(self):
        a, b = Busy(), BodyKeeper()
        self.addCleanup(a.stop)
        self.addCleanup(b.stop)
        cfg = config_file(self, [
            {"name": "a", "base_url": a.url, "api_key": API_KEY,
             "extra": {"a_only": 1}},
            {"name": "b", "base_url": b.url, "api_key": API_KEY,
             "extra": {"reasoning_effort": "minimal",
                       "stop": ["}", " \" {"]}}])
        rc, out, err = run_chat(
            ["-c", cfg, "-m", "m", "--extra",
             '{"seed": 7, "response_format": {"type": "json_object"}}',
             "hi"], timeout=TIMEOUT)
        self.assertEqual((rc, out), (0, b"Hello"), err)
        self.assertEqual(len(a.bodies), 1)
        self.assertEqual(len(b.bodies), 1)
        own = {"model": "m", "stream": True,
               "stream_options": {"include_usage": True},
               "seed": 7, "response_format": {"type": "json_object"}}
        self.assertEqual(a.bodies[0], dict(
            own, messages=[{"role": "user", "content": "hi"}], a_only=1))
        self.assertEqual(b.bodies[0], dict(
            own, messages=[{"role": "user", "content": "hi"}],
            reasoning_effort="minimal", stop=["}", " \" {"]))

    def test_extra_that_is_not_an_object_is_a_usage_error(self):
        srv = BodyKeeper()
        self.addCleanup(srv.stop)
        cfg = config_file(self, [{"name": "a", "base_url": srv.url,
                            "extra": "seed=7"}])
        rc, _, err = run_chat(["-c", cfg, "-m", "m", "hi"], timeout=TIMEOUT)
        self.assertEqual(rc, 2, err)
        self.assertIn("expected an object for: providers[0].extra", err)
        for bad in ("[1]", "{", '{"seed":7} {}', ""):
            rc, _, err = run_chat(["--base-url", srv.url, "-m", "m",
                                   "--extra", bad, "hi"], timeout=TIMEOUT)
            self.assertEqual(rc, 2, err)
            self.assertIn("--extra needs one JSON object", err)
        self.assertEqual(srv.bodies, [])


if __name__ == "__main__":
    unittest.main()
