"""Integration tests for the llmc-chat CLI against the scripted test server.

Run all of them with tests/integration/run.py, or a single class/test with
  python3 -m unittest -v test_chat.StreamTests.test_eol_cr   (from this dir)

The CLI under test is $LLMC_CHAT or build/llmc-chat.

CLI contract exercised here:
  stdout   exactly the answer content bytes
  stderr   status lines; on failure "llmc-chat: <kind>..." where kind is one
           of the strings in ERROR_KINDS
  exit     0 success, 1 request failed, 2 usage error
"""

import json
import os
import re
import subprocess
import tempfile
import unittest

from harness import (Nginx, Server, cert_path, chat_binary, refused_port,
                     run_chat, scenario_model, size_content)

ERROR_KINDS = ("dns error", "connect error", "tls error",
               "certificate verification failed", "i/o error",
               "connection closed", "timeout", "http error",
               "malformed response", "response too large", "api error",
               "empty response")

API_KEY = "test-key-0123"
TIMEOUT = 20

NON_ASCII = "Привет, мир! 你好，世界 😀🎉 𝄞 café"


class ChatTestCase(unittest.TestCase):
    """Base class: one test server per class, counters reset per test."""

    server_args = {}

    @classmethod
    def setUpClass(cls):
        cls.server = Server(**cls.server_args).start()

    @classmethod
    def tearDownClass(cls):
        cls.server.stop()

    def setUp(self):
        if not os.access(chat_binary(), os.X_OK):
            self.skipTest("llmc-chat binary not found at %s" % chat_binary())
        self.server.reset()

    # -- helpers ----------------------------------------------------------
    def chat(self, prompt, *extra, server=None, model=None, api_key=API_KEY,
             env=None, timeout=TIMEOUT, **scenario):
        """Run llmc-chat against server (default: the class server).

        prompt is a string (one argument) or a list of arguments; scenario
        keyword options are encoded into the model name."""
        srv = server or self.server
        if model is None:
            model = scenario_model("test", **scenario)
        args = ["--base-url", srv.url, "-m", model]
        if api_key is not None:
            args += ["--api-key", api_key]
        args += list(extra)
        args += prompt if isinstance(prompt, list) else [prompt]
        return self.run_chat(args, env=env, timeout=timeout)

    def run_chat(self, args, env=None, timeout=TIMEOUT):
        try:
            return run_chat(args, env=env, timeout=timeout)
        except subprocess.TimeoutExpired:
            self.fail("llmc-chat did not finish within %d s: %s"
                      % (timeout, " ".join(repr(a) for a in args)))

    def assertSuccess(self, result, expected):
        rc, out, err = result
        if isinstance(expected, str):
            expected = expected.encode("utf-8")
        self.assertEqual(out, expected, "stderr: %s" % err)
        self.assertEqual(rc, 0, "stderr: %s" % err)

    def assertFailure(self, result, kind, *texts, stdout=b""):
        """Exit status 1, "llmc-chat: " + kind on stderr, each of texts on
        stderr, and exactly stdout on stdout (None = don't check)."""
        rc, out, err = result
        self.assertEqual(rc, 1, "stdout: %r stderr: %s" % (out[:200], err))
        self.assertIn("llmc-chat: ", err)
        if isinstance(kind, tuple):
            self.assertTrue(any(k in err for k in kind),
                            "expected one of %r in stderr: %s" % (kind, err))
        elif kind is not None:
            self.assertIn(kind, err)
        for t in texts:
            self.assertIn(str(t), err)
        if stdout is not None:
            if isinstance(stdout, str):
                stdout = stdout.encode("utf-8")
            self.assertEqual(out, stdout)

    def last_body(self):
        last = self.server.last_request()
        self.assertIsNotNone(last, "server received no request")
        return last["body"]


# ---------------------------------------------------------------------------

class StreamTests(ChatTestCase):

    def test_stream_chunked_framing(self):
        prompt = "hello chunked world"
        self.assertSuccess(self.chat(prompt, framing="chunked"), prompt)

    def test_stream_content_length_framing(self):
        prompt = "hello content length"
        self.assertSuccess(self.chat(prompt, framing="length"), prompt)

    def test_stream_close_delimited_framing(self):
        prompt = "hello close delimited"
        self.assertSuccess(self.chat(prompt, framing="close"), prompt)

    def test_eol_lf(self):
        prompt = "line feed endings"
        self.assertSuccess(self.chat(prompt, eol="lf"), prompt)

    def test_eol_crlf(self):
        prompt = "crlf endings"
        self.assertSuccess(self.chat(prompt, eol="crlf"), prompt)

    def test_eol_cr(self):
        prompt = "bare cr endings"
        self.assertSuccess(self.chat(prompt, eol="cr"), prompt)

    def test_eol_crlf_split_between_reads(self):
        # One byte per write: the CR and LF of every line arrive in separate
        # reads and must count as one line ending (several data lines per
        # event make a spurious blank line visible).
        prompt = "crlf split"
        self.assertSuccess(self.chat(prompt, eol="crlf", multiline=1, write=1,
                                     piece=64, framing="length"), prompt)

    def test_eol_crlf_split_between_chunks(self):
        # Every body byte is its own HTTP chunk.
        prompt = "crlf in one-byte chunks, Ж😀"
        self.assertSuccess(self.chat(prompt, eol="crlf", multiline=1, chunk=1),
                           prompt)

    def test_eol_cr_with_comments_and_multiline_data(self):
        prompt = 'all, "together", now'
        self.assertSuccess(self.chat(prompt, eol="cr", comments=1,
                                     multiline=1, framing="length"), prompt)

    def test_comment_lines(self):
        prompt = "comments are ignored"
        self.assertSuccess(self.chat(prompt, comments=1), prompt)

    def test_multiline_data(self):
        prompt = 'multi, line: {"json"}, [1, 2]'
        self.assertSuccess(self.chat(prompt, multiline=1), prompt)

    def test_comment_between_data_lines(self):
        # A comment line between two data lines of one event is ignored.
        prompt = "comment inside an event"
        self.assertSuccess(self.chat(prompt, multiline=1, comments=1), prompt)

    def test_chunks_not_aligned_with_events(self):
        prompt = "chunk boundaries fall anywhere, Ж😀"
        self.assertSuccess(self.chat(prompt, chunk=7), prompt)

    def test_whole_stream_in_one_chunk(self):
        prompt = "all events arrive together"
        self.assertSuccess(self.chat(prompt, chunk=1000000, piece=2), prompt)

    def test_whole_stream_in_one_write_content_length(self):
        prompt = "all events in one write"
        self.assertSuccess(self.chat(prompt, chunk=1000000, piece=2,
                                     framing="length"), prompt)

    def test_data_without_space_after_colon(self):
        prompt = "no space after colon"
        self.assertSuccess(self.chat(prompt, space=0), prompt)

    def test_done_marker_ends_stream(self):
        prompt = "done marker"
        self.assertSuccess(self.chat(prompt), prompt)
        self.assertEqual(self.server.stats()["requests"], 1)

    def test_stream_without_done_ends_by_chunked_framing(self):
        prompt = "no done chunked"
        self.assertSuccess(self.chat(prompt, done=0, framing="chunked"), prompt)

    def test_stream_without_done_ends_by_content_length(self):
        prompt = "no done length"
        self.assertSuccess(self.chat(prompt, done=0, framing="length"), prompt)

    def test_stream_without_done_ends_by_close(self):
        prompt = "no done close"
        self.assertSuccess(self.chat(prompt, done=0, framing="close"), prompt)

    def test_usage_chunk_with_empty_choices(self):
        prompt = "usage chunk follows"
        self.assertSuccess(self.chat(prompt, usage=1), prompt)

    def test_non_ascii_raw_utf8(self):
        self.assertSuccess(self.chat(NON_ASCII), NON_ASCII)

    def test_non_ascii_escaped(self):
        # ascii=1: every non-ASCII character is a \\uXXXX escape, astral
        # characters as surrogate pairs.
        self.assertSuccess(self.chat(NON_ASCII, ascii=1), NON_ASCII)

    def test_non_ascii_escaped_one_code_point_per_event(self):
        self.assertSuccess(self.chat(NON_ASCII, ascii=1, piece=1), NON_ASCII)

    def test_non_ascii_raw_split_between_reads(self):
        # Multi-byte UTF-8 sequences are split across reads.
        self.assertSuccess(self.chat("Ж😀世", write=1, piece=64,
                                     framing="length"), "Ж😀世")

    def test_content_parts(self):
        # Mistral's reasoning models: content as an array of parts; the
        # answer is the "text" parts', the "thinking" part is left out
        self.assertSuccess(self.chat(NON_ASCII, parts=1, ascii=1, piece=1),
                           NON_ASCII)

    def test_content_parts_thinking_only_is_an_empty_response(self):
        self.assertFailure(self.chat("nothing", parts=1, empty=1),
                           "empty response")

    def test_escaped_text_option(self):
        text = 'quote " backslash \\ slash / tab \t newline \n end'
        self.assertSuccess(self.chat("ignored", text=text, ascii=1), text)

    def test_write_1_stream(self):
        prompt = "byte by byte"
        self.assertSuccess(self.chat(prompt, write=1, piece=64), prompt)

    def test_one_mib_stream(self):
        n = 1048576
        self.assertSuccess(self.chat("big", size=n, piece=64), size_content(n))

    def test_prompt_words_joined_with_spaces(self):
        words = ["several", "prompt", "words"]
        self.assertSuccess(self.chat(words), "several prompt words")
        msgs = self.last_body()["messages"]
        self.assertEqual(msgs[-1], {"role": "user",
                                    "content": "several prompt words"})

    def stdin_chat(self, data):
        return run_chat(["--base-url", self.server.url, "-m", "test",
                         "--api-key", API_KEY, "-"], input=data,
                        timeout=TIMEOUT)

    def test_prompt_read_from_stdin_with_a_lone_dash(self):
        # byte for byte, its newlines and trailing newline included
        prompt = "line one\nline two, é 😀\n"
        self.assertSuccess(self.stdin_chat(prompt.encode("utf-8")), prompt)
        self.assertEqual(self.last_body()["messages"][-1]["content"], prompt)

    def test_dash_among_other_words_is_a_word(self):
        self.assertSuccess(self.chat(["a", "-", "b"]), "a - b")

    def test_stdin_prompt_empty_too_long_or_not_utf8_is_a_usage_error(self):
        for data, text in ((b"", "the prompt on stdin is empty"),
                           (b"x" * (1 << 20) + b"y",
                            "prompt too long (1 MiB at most)"),
                           (b"caf\xe9\n", "not UTF-8")):
            with self.subTest(text=text):
                self.server.reset()
                rc, out, err = self.stdin_chat(data)
                self.assertEqual((rc, out), (2, b""), err)
                self.assertIn(text, err)
                self.assertIsNone(self.server.last_request())
        # exactly 1 MiB fits
        data = b"z" * (1 << 20)
        rc, out, err = self.stdin_chat(data)
        self.assertEqual((rc, out), (0, data), err[:300])

    def test_request_asks_for_stream_with_usage(self):
        model = scenario_model("test", piece=3)
        self.assertSuccess(self.chat("x y", model=model), "x y")
        last = self.server.last_request()
        body = last["body"]
        self.assertEqual(last["method"], "POST")
        self.assertEqual(last["path"], "/v1/chat/completions")
        self.assertIs(body["stream"], True)
        self.assertEqual(body["stream_options"], {"include_usage": True})
        self.assertEqual(body["model"], model)
        self.assertEqual(last["headers"].get("authorization"),
                         "Bearer " + API_KEY)

    def test_max_tokens_in_request(self):
        self.assertSuccess(self.chat("limit", "--max-tokens", "7"), "limit")
        self.assertEqual(self.last_body()["max_tokens"], 7)

    def test_control_characters_round_trip(self):
        prompt = ('ctl\x01\x02\x1b\x1f tab\t nl\n cr\r quote" '
                  'back\\slash \\n \\u0041 del\x7f end')
        system = 'sys "quoted" \\ back \t tab \x01\x1f ctl\nline'
        self.assertSuccess(self.chat(prompt, "--system", system), prompt)
        self.assertEqual(self.last_body()["messages"],
                         [{"role": "system", "content": system},
                          {"role": "user", "content": prompt}])


class NonStreamTests(ChatTestCase):

    def test_no_stream_request_body(self):
        prompt = "not streamed"
        self.assertSuccess(self.chat(prompt, "--no-stream"), prompt)
        self.assertIs(self.last_body()["stream"], False)

    def test_non_stream_content_length(self):
        prompt = "non stream length"
        self.assertSuccess(self.chat(prompt, "--no-stream", framing="length"),
                           prompt)

    def test_non_stream_chunked(self):
        prompt = "non stream chunked " * 20
        self.assertSuccess(self.chat(prompt, "--no-stream",
                                     framing="chunked"), prompt)

    def test_non_stream_close_delimited(self):
        prompt = "non stream close"
        self.assertSuccess(self.chat(prompt, "--no-stream", framing="close"),
                           prompt)

    def test_write_1_non_stream(self):
        prompt = "non stream byte by byte"
        self.assertSuccess(self.chat(prompt, "--no-stream", write=1), prompt)

    def test_non_stream_content_parts(self):
        prompt = "non stream parts"
        self.assertSuccess(self.chat(prompt, "--no-stream", parts=1), prompt)

    def test_non_stream_non_ascii_escaped(self):
        self.assertSuccess(self.chat(NON_ASCII, "--no-stream", ascii=1),
                           NON_ASCII)



class ErrorTests(ChatTestCase):

    def check_http_error(self, status):
        result = self.chat("fail", status=status)
        self.assertFailure(result, "http error", status,
                           "test error %d" % status)

    def test_http_error_400(self):
        self.check_http_error(400)

    def test_http_error_401(self):
        self.check_http_error(401)

    def test_http_error_404(self):
        self.check_http_error(404)

    def test_http_error_429(self):
        self.check_http_error(429)

    def test_http_error_500(self):
        self.check_http_error(500)

    def test_http_error_503(self):
        self.check_http_error(503)

    def test_http_error_content_length_body(self):
        result = self.chat("fail", status=503, framing="length",
                           msg="server overloaded")
        self.assertFailure(result, "http error", 503, "server overloaded")

    def test_http_500_plain_text_body(self):
        result = self.chat("fail", status=500, errbody="text",
                           msg="plain failure text")
        self.assertFailure(result, "http error", 500)

    def test_http_500_empty_body(self):
        result = self.chat("fail", status=500, errbody="none")
        self.assertFailure(result, "http error", 500)

    def test_big_event_response_too_large(self):
        # piece=4: "abcd" arrives before the 100000-byte event.
        result = self.chat("abcdefgh", big_event=100000)
        self.assertFailure(result, "response too large", stdout=b"abcd")

    def test_mid_stream_error(self):
        prompt = "one two three four"
        result = self.chat(prompt, mid_error=2, msg="overloaded mid-stream")
        self.assertFailure(result, "api error", "overloaded mid-stream",
                           stdout=prompt[:8])

    def test_reset_after_headers(self):
        result = self.chat("reset", reset="headers")
        self.assertFailure(result, ("i/o error", "connection closed"))

    def test_reset_after_content(self):
        # The first piece is delivered 200 ms before the reset.
        result = self.chat("abcdefgh", reset="content", event_delay_ms=200)
        self.assertFailure(result, ("i/o error", "connection closed"),
                           stdout=b"abcd")

    def test_truncated_chunked_stream_fails(self):
        # The server closes normally (FIN) after the first content event,
        # before the terminating chunk.
        result = self.chat("abcdefgh", truncate=1, framing="chunked",
                           event_delay_ms=100)
        self.assertFailure(result, ("connection closed", "i/o error"),
                           stdout=b"abcd")

    def test_truncated_content_length_stream_fails(self):
        # The server closes normally before Content-Length bytes were sent.
        result = self.chat("abcdefgh", truncate=1, framing="length",
                           event_delay_ms=100)
        self.assertFailure(result, ("connection closed", "i/o error"),
                           stdout=b"abcd")

    def test_truncated_close_delimited_stream_fails(self):
        # No Content-Length, not chunked: the close ends the body, so only
        # [DONE] or a finish_reason tells a whole stream from a cut one.
        result = self.chat("abcdefgh", truncate=1, framing="close",
                           event_delay_ms=100)
        self.assertFailure(result, "connection closed",
                           "before the response ended", "partial",
                           stdout=b"abcd")

    def test_close_delimited_stream_without_done_or_finish_reason_fails(self):
        result = self.chat("abcdefgh", done=0, finish="", framing="close")
        self.assertFailure(result, "connection closed", "partial",
                           stdout=b"abcdefgh")

    def test_framed_stream_without_done_or_finish_reason_stands(self):
        # chunked framing says where the body ends: the stream is whole
        self.assertSuccess(self.chat("framed", done=0, finish="",
                                     framing="chunked"), "framed")

    def test_truncated_non_stream_body_fails(self):
        result = self.chat("truncated body", "--no-stream", truncate=1,
                           framing="length")
        self.assertFailure(result, ("connection closed", "i/o error"))

    def test_empty_response(self):
        self.assertFailure(self.chat("nothing", empty=1), "empty response")

    def test_connection_refused(self):
        port = refused_port()
        result = self.run_chat(["--base-url", "http://127.0.0.1:%d/v1" % port,
                                "--api-key", API_KEY, "-m", "test", "hello"])
        self.assertFailure(result, "connect error")

    def test_api_key_not_in_stderr(self):
        secret = "sk-llmc-DISTINCTIVE-7f3a9c1e5d"
        with Server(require_auth="the-right-key") as srv:
            rc, out, err = self.chat("secret", server=srv, api_key=secret)
            self.assertFailure((rc, out, err), "http error", 401)
            self.assertNotIn(secret, err)
            self.assertNotIn("DISTINCTIVE", err)
            last = srv.last_request()
            self.assertEqual(last["headers"]["authorization"],
                             "Bearer " + secret)

    def test_api_key_quoted_json_escaped_is_masked(self):
        # A key quoted back in a body llmc shows as raw text ({"detail":
        # ...}, no error.message) is masked in its JSON-escaped form too:
        # PHP's json_encode writes "/" as "\\/", every encoder escapes
        # '"' and '\\', and .NET's System.Text.Json writes "+" (and
        # HTML-sensitive bytes) as \\u002B.
        for secret, words, errbody in (
                ("sk-llmc/SLASHED/7f3a", ("SLASHED", "7f3a"), "detail"),
                ('sk-"QUOTED"\\BACK\\9e2b', ("QUOTED", "BACK", "9e2b"),
                 "detail"),
                ("sk-Q7/r9+Zx2Lw0pV5mN", ("Q7", "Zx2Lw0pV5mN"), "detail_u")):
            with self.subTest(secret=secret):
                result = self.chat("secret", api_key=secret, status=401,
                                   errbody=errbody, echo_auth=1,
                                   msg="bad key")
                rc, out, err = result
                self.assertFailure(result, "http error", 401)
                self.assertIn("detail", err)
                for word in words:
                    self.assertNotIn(word, err, err)

    def test_short_api_key_quoted_back_is_masked(self):
        # however short the key, the whole of it is found
        for secret in ("k9Z", "Q"):
            with self.subTest(secret=secret):
                result = self.chat("secret", api_key=secret, status=401,
                                   echo_auth=1, msg="bad key")
                rc, out, err = result
                self.assertFailure(result, "http error", 401)
                self.assertIn("bad key Bearer " + "*" * len(secret), err)

    def test_header_injection_in_api_key_refused(self):
        rc, out, err = self.chat("inject", api_key="abc\r\nX-Evil: 1")
        self.assertNotEqual(rc, 0, "stderr: %s" % err)
        self.assertEqual(out, b"")
        self.assertEqual(self.server.stats()["requests"], 0)

    def test_usage_error_exit_2(self):
        rc, out, err = self.run_chat(["--definitely-not-an-option"])
        self.assertEqual(rc, 2, err)
        self.assertEqual(out, b"")
        self.assertEqual(self.server.stats()["requests"], 0)


    def test_temperature_that_is_no_number_in_range_is_a_usage_error(self):
        # strtof() takes "nan" (which is in no range and would go unsent)
        # and "" (read as 0, a temperature nobody asked for)
        for t in ("nan", "NAN", "-nan", "", "2.5", "-1", "1x"):
            with self.subTest(temperature=t):
                rc, out, err = self.run_chat(
                    ["--base-url", self.server.url, "--temperature", t,
                     "hello"])
                self.assertEqual(rc, 2, err)
                self.assertIn("--temperature needs 0..2", err)
                self.assertEqual(out, b"")
        self.assertEqual(self.server.stats()["requests"], 0)

    def test_text_that_is_not_utf8_is_a_usage_error(self):
        # JSON is UTF-8: a prompt, system text or --extra field in another
        # encoding (Latin-1 here) would make a body every provider refuses
        # with 400
        for args, what, pos in (
                ([b"caf\xe9 au lait"], "the prompt", 4),
                ([b"ok", b"caf\xc3"], "the prompt", 7),
                ([b"--system", b"\xed\xa0\x80", b"hi"], "--system", 1),
                ([b"--system", b"ok\xc0\xaf", b"hi"], "--system", 3),
                ([b"-m", b"m\xff", b"hi"], "-m", 2),
                ([b"--extra", b'{"stop":"caf\xe9"}', b"hi"], "--extra", 13)):
            with self.subTest(args=args):
                rc, out, err = self.run_chat(
                    ["--base-url", self.server.url] + args)
                self.assertEqual(rc, 2, err)
                self.assertEqual(
                    err, "llmc-chat: %s is not UTF-8 (byte %d)\n"
                    % (what, pos))
                self.assertEqual(out, b"")
        self.assertEqual(self.server.stats()["requests"], 0)
        # well-formed UTF-8 of every length goes out
        text = "caf\u00e9 \u20ac \U0001f600"
        self.assertSuccess(self.chat(text.encode()), text)

    def test_help_prints_the_usage_to_stdout(self):
        for opt in ("--help", "-h"):
            with self.subTest(opt=opt):
                rc, out, err = self.run_chat([opt])
                self.assertEqual(rc, 0, err)
                self.assertTrue(out.startswith(b"usage: llmc-chat "),
                                (out, err))
                self.assertEqual(err, "")


class TlsTests(ChatTestCase):
    server_args = {"tls": "good"}

    def test_https_good_cert_with_ca_file(self):
        prompt = "over tls"
        self.assertSuccess(self.chat(prompt, "--ca-file", cert_path("ca.pem")),
                           prompt)

    def test_ca_file_that_cannot_be_read_is_named(self):
        # the default bundle is missing where Debian's ca-certificates is
        # not installed: the error says which file, not only "config error"
        missing = os.path.join(tempfile.gettempdir(), "llmc-no-such-ca.pem")
        rc, out, err = self.chat("x", "--ca-file", missing)
        self.assertEqual((rc, out), (2, b""), err)
        self.assertIn("cannot read the CA file %s: No such file or "
                      "directory" % missing, err)
        self.assertEqual(self.server.stats()["requests"], 0)

    def test_https_non_stream_with_ca_file(self):
        prompt = "over tls, not streamed"
        self.assertSuccess(self.chat(prompt, "--no-stream", "--ca-file",
                                     cert_path("ca.pem")), prompt)

    def test_https_tiny_records(self):
        # Every TLS record carries at most 3 bytes of plaintext.
        prompt = "small records Ж😀"
        self.assertSuccess(self.chat(prompt, "--ca-file", cert_path("ca.pem"),
                                     write=3, piece=64), prompt)

    def test_https_close_delimited_stream(self):
        prompt = "tls close framing"
        self.assertSuccess(self.chat(prompt, "--ca-file", cert_path("ca.pem"),
                                     framing="close"), prompt)

    def test_https_reset_after_content(self):
        # the reset reaches llmc through mbedTLS: the socket's own error
        result = self.chat("abcdefgh", "--ca-file", cert_path("ca.pem"),
                           reset="content", event_delay_ms=200)
        self.assertFailure(result, "i/o error", "connection reset by peer",
                           "partial", stdout=b"abcd")

    def test_https_record_that_does_not_decrypt(self):
        # TLS's own failure mid-stream, not the socket's: mbedTLS's code
        # for a record whose tag does not match (MBEDTLS_ERR_SSL_INVALID_MAC)
        result = self.chat("abcdefgh", "--ca-file", cert_path("ca.pem"),
                           bad_record=1, event_delay_ms=100)
        self.assertFailure(result, "tls error",
                           "TLS connection failed (mbedTLS -0x7180)",
                           "partial", stdout=b"abcd")

    def test_https_cut_stream_fails_with_or_without_close_notify(self):
        # a close inside the body, with the TLS alert or a bare FIN, is a
        # cut answer, never a whole one
        for framing in ("chunked", "close"):
            for notify in (1, 0):
                with self.subTest(framing=framing, close_notify=notify):
                    result = self.chat("abcdefgh", "--ca-file",
                                       cert_path("ca.pem"), truncate=1,
                                       framing=framing, close_notify=notify,
                                       event_delay_ms=100)
                    self.assertFailure(result, "connection closed",
                                       "partial", stdout=b"abcd")

    def test_https_test_ca_not_trusted_by_default(self):
        # Without --ca-file the system bundle is used; it does not contain
        # the test CA.
        result = self.chat("untrusted")
        self.assertFailure(result, ("certificate verification failed",
                                    "tls error"))
        self.assertEqual(self.server.stats()["requests"], 0)

    def assertCertRejected(self, tls, why):
        """A server with the tls certificate gets no request, and the
        failure says why verification failed."""
        with Server(tls=tls) as srv:
            result = self.chat(tls, "--ca-file", cert_path("ca.pem"),
                               server=srv)
            self.assertFailure(result, "certificate verification failed",
                               why)
            self.assertEqual(srv.stats()["requests"], 0)

    def test_https_wrong_host_rejected(self):
        self.assertCertRejected("wrong-host",
                                "certificate does not match the host name")

    def test_https_unknown_ca_rejected(self):
        self.assertCertRejected("unknown-ca",
                                "certificate not signed by a trusted CA")

    def test_https_expired_certificate_rejected(self):
        self.assertCertRejected("expired", "certificate expired")

    def test_https_certificate_not_yet_valid_rejected(self):
        # what a board whose clock was never set sees for every
        # certificate: the message points at the clock
        self.assertCertRejected("not-yet-valid", "certificate not yet valid")

    def test_https_certificate_for_clients_only_rejected(self):
        # trusted and for this host, but its extended key usage is
        # clientAuth alone: not a server's certificate
        self.assertCertRejected("client-only", "certificate not for a TLS "
                                "server (key usage)")

    def test_https_certificate_signed_with_sha1_rejected(self):
        # a reason llmc does not name: mbedTLS's flags, here
        # MBEDTLS_X509_BADCERT_BAD_MD (a hash its profile refuses) alone
        self.assertCertRejected("sha1-signed", "certificate rejected "
                                "(verify flags 0x00004000)")

    def test_https_server_with_tls_older_than_1_2_refused(self):
        # RFC 8996: TLS 1.0 and 1.1 are not negotiated, though Debian's
        # mbedTLS 2.28 is built with both; the server, whose certificate is
        # good, gets no request
        for tls in ("tls1.0", "tls1.1"):
            with self.subTest(tls=tls), Server(tls=tls) as srv:
                result = self.chat(tls, "--ca-file", cert_path("ca.pem"),
                                   server=srv)
                self.assertFailure(result, "tls error",
                                   "TLS handshake failed (mbedTLS -0x")
                self.assertEqual(srv.stats()["requests"], 0)

    def test_ca_file_from_config(self):
        with tempfile.TemporaryDirectory() as tmp:
            cfg = os.path.join(tmp, "providers.json")
            with open(cfg, "w") as f:
                json.dump({"providers": [{
                    "name": "local", "base_url": self.server.url,
                    "api_key": API_KEY, "model": "test"}],
                    "ca_file": cert_path("ca.pem")}, f)
            rc, out, err = self.run_chat(["-c", cfg, "config ca"])
            self.assertSuccess((rc, out, err), "config ca")


class ProxyTests(ChatTestCase):
    """nginx terminates TLS and proxies to the plain-HTTP test server."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        try:
            cls.nginx = Nginx(cls.server.port).start()
        except Exception:
            cls.server.stop()
            raise

    @classmethod
    def tearDownClass(cls):
        cls.nginx.stop()
        super().tearDownClass()

    def proxied(self, prompt, *extra, **scenario):
        return self.run_chat(["--base-url", self.nginx.url,
                              "--api-key", API_KEY,
                              "--ca-file", cert_path("ca.pem"),
                              "-m", scenario_model("test", **scenario)]
                             + list(extra) + [prompt])

    def test_nginx_proxy_stream(self):
        prompt = "through the proxy, " + NON_ASCII
        self.assertSuccess(self.proxied(prompt), prompt)
        self.assertEqual(self.server.stats()["requests"], 1)

    def test_nginx_proxy_stream_from_length_framed_upstream(self):
        prompt = "proxied length framing"
        self.assertSuccess(self.proxied(prompt, framing="length", eol="crlf"),
                           prompt)

    def test_nginx_proxy_non_stream(self):
        prompt = "through the proxy, not streamed"
        self.assertSuccess(self.proxied(prompt, "--no-stream"), prompt)

    def test_nginx_proxy_http_error(self):
        result = self.proxied("fail", status=429, msg="proxied limit")
        self.assertFailure(result, "http error", 429, "proxied limit")


class ConfigTests(ChatTestCase):

    def test_env_fallback_base_url_and_key(self):
        key = "env-key-4242"
        rc, out, err = self.run_chat(["-m", "test", "from", "env"],
                                     env={"OPENAI_BASE_URL": self.server.url,
                                          "OPENAI_API_KEY": key})
        self.assertSuccess((rc, out, err), "from env")
        last = self.server.last_request()
        self.assertEqual(last["headers"]["authorization"], "Bearer " + key)

    def test_config_file_with_env_key(self):
        key = "cfg-env-key-9001"
        with Server(require_auth=key) as srv, \
                tempfile.TemporaryDirectory() as tmp:
            cfg = os.path.join(tmp, "providers.json")
            with open(cfg, "w") as f:
                json.dump({"providers": [{
                    "name": "local", "base_url": srv.url,
                    "api_key": "env:LLMC_TEST_PROVIDER_KEY",
                    "model": "cfgmodel?text=configured+answer"}]}, f)
            rc, out, err = self.run_chat(["-c", cfg, "hello"],
                                         env={"LLMC_TEST_PROVIDER_KEY": key})
            self.assertSuccess((rc, out, err), "configured answer")
            last = srv.last_request()
            self.assertEqual(last["headers"]["authorization"], "Bearer " + key)
            self.assertEqual(last["body"]["model"],
                             "cfgmodel?text=configured+answer")

    def test_empty_api_key_with_a_config_leaves_the_first_without_a_key(self):
        # as an empty key does without -c: no Authorization header, rather
        # than a bearer auth with no token that the client refuses
        with tempfile.TemporaryDirectory() as tmp:
            cfg = os.path.join(tmp, "providers.json")
            with open(cfg, "w") as f:
                json.dump({"providers": [{
                    "name": "local", "base_url": self.server.url,
                    "api_key": "from-the-file",
                    "model": "k?text=no+key+sent"}]}, f)
            self.assertSuccess(self.run_chat(["-c", cfg, "--api-key", "",
                                              "hello"]), "no key sent")
            self.assertNotIn("authorization",
                             self.server.last_request()["headers"])
            self.assertSuccess(self.run_chat(["-c", cfg, "--api-key", "k2",
                                              "hello"]), "no key sent")
            self.assertEqual(
                self.server.last_request()["headers"]["authorization"],
                "Bearer k2")

    def test_config_file_with_a_byte_order_mark(self):
        # as some Windows editors save it: the mark is skipped (RFC 8259
        # 8.1), the rest read as it is; one anywhere else is refused
        with tempfile.TemporaryDirectory() as tmp:
            cfg = os.path.join(tmp, "providers.json")
            text = json.dumps({"providers": [{
                "name": "local", "base_url": self.server.url,
                "model": "bom?text=read+past+the+mark"}]}).encode()
            with open(cfg, "wb") as f:
                f.write(b"\xef\xbb\xbf" + text)
            self.assertSuccess(self.run_chat(["-c", cfg, "hello"]),
                               "read past the mark")
            with open(cfg, "wb") as f:
                f.write(b" \xef\xbb\xbf" + text)
            rc, out, err = self.run_chat(["-c", cfg, "hello"])
            self.assertEqual(rc, 2, err)
            self.assertIn("not valid JSON", err)
            # a byte that is not UTF-8 is counted in the file, mark too
            with open(cfg, "wb") as f:
                f.write(b"\xef\xbb\xbf{\xff}")
            rc, out, err = self.run_chat(["-c", cfg, "hello"])
            self.assertEqual(rc, 2, err)
            self.assertIn("not UTF-8 (byte 5)", err)

    def test_url_llmc_cannot_take_is_refused_with_what_it_takes(self):
        # llmc_client_init() answers LLMC_ERR_URL alone; the tool says what
        # a URL must be, including the host length the build allows (a
        # host that does not fit LLMC_HOST_MAX is refused, never cut)
        host = "h" * 64 + ".example"  # longer than the Linux build's 63
        for url in ("ftp://127.0.0.1/v1", "http://%s/v1" % host,
                    "https://%s:8443/v1" % host):
            with self.subTest(url=url):
                rc, out, err = self.run_chat(
                    ["hello"], env={"OPENAI_BASE_URL": url,
                                    "OPENAI_API_KEY": "k"})
                self.assertEqual(rc, 2, err)
                self.assertEqual(out, b"")
                self.assertIn("cannot start the client: bad url (each "
                              "base_url and token_url is http:// or "
                              "https://, with a host name of at most 63 "
                              "bytes: LLMC_HOST_MAX)", err)

    def test_config_file_that_cannot_be_read_says_why(self):
        # a missing file, a directory, a file that is not one object and
        # one that is not UTF-8 are different mistakes, and each message
        # says which
        with tempfile.TemporaryDirectory() as tmp:
            arr = os.path.join(tmp, "array.json")
            with open(arr, "w") as f:
                f.write("[]")
            latin1 = os.path.join(tmp, "latin1.json")
            with open(latin1, "wb") as f:
                f.write(b'{"providers": [{"name": "a", "base_url": '
                        b'"http://127.0.0.1:1/v1", "model": "caf\xe9"}]}')
            missing = os.path.join(tmp, "missing.json")
            cases = ((missing, "config: cannot open: %s: No such file or "
                               "directory" % missing),
                     (tmp, "config: cannot read: %s: Is a directory" % tmp),
                     (arr, "config: not valid JSON (one object): %s" % arr),
                     (latin1, "config: not UTF-8 (byte 80): %s" % latin1))
            for path, expected in cases:
                with self.subTest(path=path):
                    rc, out, err = self.run_chat(["-c", path, "hello"])
                    self.assertEqual(rc, 2, err)
                    self.assertEqual(out, b"")
                    self.assertIn(expected, err)

    def test_refused_provider_settings_say_which_and_why(self):
        # llmc_client_init() answers a bare LLMC_ERR_URL or LLMC_ERR_CONFIG;
        # among several providers the tool names the one refused (not its
        # URL, which may hold user info), and a cause it can see
        url = self.server.url
        iam = [{"name": "i%d" % k, "base_url": url, "key_id": "kid",
                "secret": "s3cr3t-value", "token_url": url}
               for k in range(5)]
        cases = (
            ([{"name": "a", "base_url": url},
              {"name": "b", "base_url": "http://user:pw-123@host/v1"}],
             r"LLMC_HOST_MAX\): providers\[1\]\.base_url$"),
            ([{"name": "a", "base_url": url},
              {"name": "b", "base_url": url, "key_id": "kid",
               "secret": "s3cr3t-value", "token_url": "iam.example/t"}],
             r"LLMC_HOST_MAX\): providers\[1\]\.token_url$"),
            # 4 in the Linux build, 2 at the board knobs
            (iam, r"config error \(5 providers have key_id and secret, "
                  r"those not working included; this build holds tokens "
                  r"for [1-4]: LLMC_IAM_PROVIDERS\)"),
            ([{"name": "", "base_url": url}],
             r'config: a provider\'s "name" is empty: providers\[0\]$'),
        )
        with tempfile.TemporaryDirectory() as tmp:
            cfg = os.path.join(tmp, "providers.json")
            for providers, expected in cases:
                with self.subTest(expected=expected):
                    with open(cfg, "w") as f:
                        json.dump({"providers": providers}, f)
                    rc, out, err = self.run_chat(["-c", cfg, "hello"])
                    self.assertEqual(rc, 2, err)
                    self.assertEqual(out, b"")
                    self.assertRegex(err, re.compile(expected, re.M))
                    self.assertNotIn("pw-123", err)
                    self.assertNotIn("s3cr3t", err)
        self.assertEqual(self.server.stats()["requests"], 0)

    def test_unknown_key_is_a_config_error_that_names_it(self):
        # a misspelt key would otherwise leave its setting at the default
        # without a word
        prov = '"name": "a", "base_url": "%s"' % self.server.url
        cases = {
            '{"providers": [{%s}], "polcy": {}}' % prov:
                'unknown key "polcy" in the file',
            '{"providers": [{%s, "api-key": "k"}]}' % prov:
                'unknown key "api-key" in providers[0]',
            '{"providers": [{%s}], "policy": {"max_retires": 5}}' % prov:
                'unknown key "max_retires" in policy',
            '{"providers": [{%s}], "policy": {"shufle": true}}' % prov:
                'unknown key "shufle" in policy',
            '{"providers": [{%s}], "x%s": 1}' % (prov, "y" * 60):
                'unknown key "x%s..." in the file' % ("y" * 39),
        }
        self.assertConfigErrors(cases)

    def test_key_given_twice_is_a_config_error_that_names_it(self):
        # which one counts would be a guess ("providers" twice joined both
        # lists), and the other's setting would be lost without a word
        prov = '"name": "a", "base_url": "%s"' % self.server.url
        cases = {
            '{"providers": [{%s}], "providers": [{%s}]}' % (prov, prov):
                'key "providers" given twice in the file',
            '{"providers": [{%s}, {"name": "b", "base_url": "%s", '
            '"model": "m", "model": "n"}]}' % (prov, self.server.url):
                'key "model" given twice in providers[1]',
            '{"providers": [{%s}], "policy": {"max_retries": 1, '
            '"shuffle": true, "max_retries": 2}}' % prov:
                'key "max_retries" given twice in policy',
        }
        self.assertConfigErrors(cases)

    def assertConfigErrors(self, cases):
        """Each config text of cases is refused with exit status 2,
        nothing on stdout and "llmc-chat: config: " + its message."""
        with tempfile.TemporaryDirectory() as tmp:
            for text, want in cases.items():
                with self.subTest(want=want):
                    cfg = self.write_config(tmp, text)
                    rc, out, err = self.run_chat(["-c", cfg, "hello"])
                    self.assertEqual(rc, 2, err)
                    self.assertEqual(err,
                                     "llmc-chat: config: %s\n" % want)
                    self.assertEqual(out, b"")

    def test_config_errors_say_where(self):
        prov = '"name": "a", "base_url": "%s"' % self.server.url
        two = '{%s}, {"name": "b", "base_url": "%s", ' % (prov,
                                                         self.server.url)
        cases = {
            '{"providers": [{%s}], "policy": {"max_retries": -1}}' % prov:
                'expected a non-negative integer for: policy.max_retries',
            '{"providers": [{%s}], "policy": {"shuffle": 1}}' % prov:
                'expected true or false for: policy.shuffle',
            '{"providers": [%s"working": "no"}]}' % two:
                'expected true or false for: providers[1].working',
            '{"providers": [%s"api_key": 5}]}' % two:
                'expected a string for: providers[1].api_key',
            '{"providers": [{%s}, {"name": "b"}]}' % prov:
                'every provider needs "name" and "base_url"; this one '
                'lacks one: providers[1]',
            '{"providers": [%s"key_id": "kid"}]}' % two:
                'Evolution IAM needs both "key_id" and "secret"; this one '
                'has one: providers[1]',
            '{"providers": [{%s}, 7]}' % prov:
                'a provider must be an object: providers[1]',
        }
        self.assertConfigErrors(cases)

    def test_empty_strings_are_refused_where_they_say(self):
        # an empty key would go out as "Authorization: Bearer " with no
        # token, an empty model as "model": "", ...; as with "env:NAME" set
        # empty, that is a config error, which says where
        url = self.server.url
        prov = '"name": "a", "base_url": "%s"' % url
        two = '{%s}, {"name": "b", "base_url": "%s", ' % (prov, url)
        cases = {}
        for key in ("api_key", "model", "project_id", "key_id", "secret",
                    "token_url", "base_url"):
            extra = ('"key_id": "k", "secret": "s", '
                     if key in ("project_id", "token_url") else "")
            if key == "key_id":
                extra = '"secret": "s", '
            elif key == "secret":
                extra = '"key_id": "k", '
            text = ('{"providers": [%s%s"%s": ""}]}' % (two, extra, key)
                    if key != "base_url" else
                    '{"providers": [{%s}, {"name": "b", "base_url": ""}]}'
                    % prov)
            cases[text] = ("expected a non-empty string for: "
                           "providers[1].%s" % key)
        # a provider that is not working too: a literal is no key at hand
        cases['{"providers": [%s"api_key": "", "working": false}]}' % two] = \
            "expected a non-empty string for: providers[1].api_key"
        cases['{"providers": [{%s}], "ca_file": ""}' % prov] = \
            "expected a non-empty string for: ca_file"
        self.assertConfigErrors(cases)
        self.assertEqual(self.server.stats()["requests"], 0)

    def test_duplicate_provider_names_are_refused(self):
        # results, --ignore and /health know providers by name: two of one
        # name would be told apart by none of them
        url = self.server.url
        a = '{"name": "a", "base_url": "%s"}' % url
        b = '{"name": "b", "base_url": "%s"}' % url
        off = '{"name": "a", "base_url": "%s", "working": false}' % url
        self.assertConfigErrors({
            '{"providers": [%s, %s]}' % (a, a):
                "duplicate provider name: providers[1].name",
            '{"providers": [%s, %s, %s]}' % (a, b, off):
                "duplicate provider name: providers[2].name",
        })

    def test_integers_of_any_length_take_the_largest_their_field_holds(self):
        # README: a value too large for its field takes the largest it
        # holds, however many digits it is written with
        big = "9" * 34
        with tempfile.TemporaryDirectory() as tmp:
            cfg = self.write_config(
                tmp, '{"providers": [{"name": "a", "base_url": "%s"}], '
                     '"max_inflight": %s, "policy": {"deadline_ms": %s, '
                     '"max_retries": %s, "cooldown_ms": %s}}'
                     % (self.server.url, "7" * 60, big, "1" * 40, big))
            self.assertSuccess(self.run_chat(["-c", cfg, "hello"]), "hello")
            # still an integer, still not negative
            for bad in ("-" + big, big + ".5", big + "e3"):
                with self.subTest(value=bad):
                    cfg = self.write_config(
                        tmp, '{"providers": [{"name": "a", "base_url": '
                             '"%s"}], "policy": {"deadline_ms": %s}}'
                             % (self.server.url, bad))
                    rc, out, err = self.run_chat(["-c", cfg, "hello"])
                    self.assertEqual(rc, 2, err)
                    self.assertEqual(err, "llmc-chat: config: expected a "
                                     "non-negative integer for: "
                                     "policy.deadline_ms\n")

    def test_env_secret_of_a_provider_that_is_not_working_is_not_needed(self):
        # a provider switched off because its key is not at hand: the
        # config still loads; switched on, the missing key is an error
        var = "LLMC_TEST_KEY_NOT_SET"
        other = ('{"name": "off", "base_url": "%s", "api_key": "env:%s", '
                 '"key_id": "env:%s", "secret": "s", "working": %%s}'
                 % (self.server.url, var, var))
        good = '{"name": "a", "base_url": "%s"}' % self.server.url
        with tempfile.TemporaryDirectory() as tmp:
            cfg = self.write_config(tmp, '{"providers": [%s, %s]}'
                                    % (other % "false", good))
            self.assertSuccess(self.run_chat(["-c", cfg, "hello"]), "hello")
            for env in ({}, {var: ""}):  # not set, or set empty
                with self.subTest(env=env):
                    cfg = self.write_config(tmp, '{"providers": [%s, %s]}'
                                            % (other % "true", good))
                    rc, out, err = self.run_chat(["-c", cfg, "hello"],
                                                 env=env)
                    self.assertEqual(rc, 2, err)
                    # which variable, and where (never a value)
                    self.assertEqual(err, "llmc-chat: config: environment "
                                     "variable %s not set or empty for: "
                                     "providers[0].api_key\n" % var)
            # the top level's ca_file says where too
            cfg = self.write_config(tmp, '{"providers": [%s], "ca_file": '
                                    '"env:%s"}' % (good, var))
            rc, out, err = self.run_chat(["-c", cfg, "hello"])
            self.assertEqual(rc, 2, err)
            self.assertEqual(err, "llmc-chat: config: environment variable "
                             "%s not set or empty for: ca_file\n" % var)

    def test_env_value_that_is_not_utf8_is_a_config_error(self):
        # the file must be UTF-8, so that request bodies are: a model (or
        # key, or name) from the environment must be too, and is named
        # by its variable, never shown. A CA file's path is any bytes.
        var = "LLMC_TEST_NOT_UTF8"
        value = "caf\udce9-secret"  # b"caf\xe9-secret" in the environment
        with tempfile.TemporaryDirectory() as tmp:
            for field in ("model", "api_key", "name"):
                prov = {"name": "a", "base_url": self.server.url,
                        field: "env:" + var}
                cfg = self.write_config(tmp, json.dumps({"providers": [prov]}))
                with self.subTest(field=field):
                    self.server.reset()
                    rc, out, err = self.run_chat(["-c", cfg, "hello"],
                                                 env={var: value})
                    self.assertEqual((rc, out), (2, b""), err)
                    self.assertEqual(err, "llmc-chat: config: environment "
                                     "variable %s is not UTF-8 for: "
                                     "providers[0].%s\n" % (var, field))
                    self.assertIsNone(self.server.last_request())
            # a path is bytes: the file named is looked for, whatever it is
            cfg = self.write_config(tmp, json.dumps(
                {"providers": [{"name": "a", "base_url": self.server.url}],
                 "ca_file": "env:" + var}))
            self.assertSuccess(self.run_chat(["-c", cfg, "hello"],
                                             env={var: value}), "hello")

    def test_env_name_or_base_url_of_a_provider_not_working_is_named(self):
        # its keys may be missing, but a provider not working is still
        # named and its URL still checked: a name or base_url from a
        # variable that is not set is that variable's error, not "lacks
        # one" of a provider that does give both
        var = "LLMC_TEST_URL_NOT_SET"
        good = '{"name": "a", "base_url": "%s"}' % self.server.url
        with tempfile.TemporaryDirectory() as tmp:
            for field in ("name", "base_url"):
                off = {"name": "off", "base_url": self.server.url,
                       "working": False}
                off[field] = "env:" + var
                cfg = self.write_config(tmp, '{"providers": [%s, %s]}'
                                        % (good, json.dumps(off)))
                with self.subTest(field=field):
                    rc, out, err = self.run_chat(["-c", cfg, "hello"])
                    self.assertEqual(rc, 2, err)
                    self.assertEqual(err, "llmc-chat: config: environment "
                                     "variable %s not set or empty for: "
                                     "providers[1].%s\n" % (var, field))

    def test_base_url_and_api_key_replace_the_first_providers(self):
        key = "cli-key-5150"
        with Server(require_auth=key) as srv, \
                tempfile.TemporaryDirectory() as tmp:
            cfg = self.write_config(tmp, json.dumps({"providers": [
                {"name": "first", "base_url": "http://127.0.0.1:9/v1",
                 "api_key": "file-key", "model": "test"},
                {"name": "second", "base_url": "http://127.0.0.1:9/v1"}]}))
            rc, out, err = self.run_chat(["-c", cfg, "--base-url", srv.url,
                                          "--api-key", key, "hello"])
            self.assertSuccess((rc, out, err), "hello")
            self.assertEqual(srv.last_request()["headers"]["authorization"],
                             "Bearer " + key)

    def test_config_error_never_shows_a_secret(self):
        # llmc_tool_config.h: cfg->err "never contains a secret"; the name
        # of a field of the wrong type must not pull in the rest of the file
        secret = "sk-written-in-the-file-31337"
        with tempfile.TemporaryDirectory() as tmp:
            cfg = os.path.join(tmp, "providers.json")
            with open(cfg, "w") as f:
                f.write('{"providers": [{"name": "a", "base_url": "%s", '
                        '"model": 5, "api_key": "%s"}]}' %
                        (self.server.url, secret))
            rc, out, err = self.run_chat(["-c", cfg, "hello"])
            self.assertEqual(rc, 2, err)
            self.assertIn("model", err)
            self.assertNotIn(secret[:8], err)
            self.assertEqual(out, b"")

    def write_config(self, tmp, text):
        cfg = os.path.join(tmp, "providers.json")
        with open(cfg, "w") as f:
            f.write(text)
        return cfg

    def test_invalid_json_config_is_a_config_error(self):
        # jsmn alone accepts each of these; the configuration must be JSON
        prov = '{"name": "a", "base_url": "%s"}' % self.server.url
        filler = ",".join(["1"] * 4085)
        cases = {
            "not a literal": '{"providers": [%s], "policy": '
                             '{"shuffle": tx}}' % prov,
            "missing comma": '{"providers": [%s] "policy": {}}' % prov,
            "second document": '{"providers": [%s]} {"max_inflight": 1}'
                               % prov,
            # the last of the loader's 4096 tokens, a key without a value
            "key without a value at the token bound":
                '{"providers": [%s], "a": [%s], "ca_file"}' % (prov, filler),
        }
        for name, text in cases.items():
            with self.subTest(case=name), \
                    tempfile.TemporaryDirectory() as tmp:
                rc, out, err = self.run_chat(["-c",
                                              self.write_config(tmp, text),
                                              "hello"])
                self.assertEqual(rc, 2, err)
                self.assertIn("llmc-chat: config: ", err)
                self.assertNotIn("runtime error", err)
                self.assertEqual(out, b"")

    def test_config_strings_decode_surrogate_pairs(self):
        # "\ud83d\ude00" is one code point, U+1F600, in UTF-8: 4 bytes
        with tempfile.TemporaryDirectory() as tmp:
            cfg = self.write_config(
                tmp, '{"providers": [{"name": "a", "base_url": "%s", '
                     '"model": "m\\ud83d\\ude00\\u00e9"}]}'
                     % self.server.url)
            rc, out, err = self.run_chat(["-c", cfg, "hello"])
            self.assertSuccess((rc, out, err), "hello")
            self.assertEqual(self.last_body()["model"], "m\U0001F600\u00e9")


if __name__ == "__main__":
    unittest.main()
