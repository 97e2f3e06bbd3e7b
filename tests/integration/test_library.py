"""Integration tests that use the library API directly (llmc-seq) and the
plain (non-sanitizer) llmc-chat build for memory measurements.

llmc-seq BASE_URL N MODEL [CA_FILE] makes N sequential requests on one
client and prints each answer on a line, then "done N".
"""

import errno
import json
import os
import re
import subprocess
import sys
import tempfile
import unittest

from harness import (REPO, TEST_HOST, Server, cert_path, chat_binary,
                     chat_env, refused_port, run_chat, scenario_model,
                     size_content, tool_path, wait_for)

TIMEOUT = 60


# make exports the variables given on its command line: in a run against
# another mbedTLS (make integration BUILD=... CFLAGS=-I... LIBS=...), the
# programs and builds these tests make take the same mbedTLS; else Debian's.
def mbedtls_cflags():
    return [f for f in os.environ.get("CFLAGS", "").split()
            if f.startswith("-I")]


def mbedtls_libs():
    return os.environ.get(
        "LIBS", "-lmbedtls -lmbedx509 -lmbedcrypto -lpthread").split()


def plain_chat(test):
    """The plain (non-sanitizer) llmc-chat of the build under test; its
    directory holds the libllmc.a it links."""
    chat = os.environ.get("LLMC_CHAT_PLAIN")
    if not chat or not os.path.exists(chat):
        test.fail("LLMC_CHAT_PLAIN (the non-sanitizer llmc-chat) not set")
    return chat


def make_env_and_vars():
    """The environment for a make a test runs (none of the running make's
    own variables) and the CFLAGS and LIBS to give it."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL", "BUILD",
                        "CFLAGS", "LIBS")}
    return env, [k + "=" + os.environ[k] for k in ("CFLAGS", "LIBS")
                 if k in os.environ]


def run_seq(url, n, model="t", ca=None, gap_ms=0):
    args = [tool_path("llmc-seq"), url, str(n), model] + ([ca] if ca else [])
    env = chat_env()
    if gap_ms:
        env["LLMC_SEQ_GAP_MS"] = str(gap_ms)
    p = subprocess.run(args, capture_output=True, timeout=TIMEOUT, env=env)
    return p.returncode, p.stdout.decode(), p.stderr.decode()


def expected_answers(n):
    return "".join("answer %d\n" % i for i in range(n)) + "done %d\n" % n


class KeepAliveTests(unittest.TestCase):

    def test_twenty_sequential_requests_use_one_connection(self):
        with Server() as srv:
            rc, out, err = run_seq(srv.url, 20)
            self.assertEqual(rc, 0, err)
            self.assertEqual(out, expected_answers(20))
            st = srv.stats()
            self.assertEqual(st["requests"], 20)
            self.assertEqual(st["connections"], 1)

    def test_sequential_requests_over_tls_reuse_the_connection(self):
        with Server(tls="good") as srv:
            rc, out, err = run_seq(srv.url, 5, ca=cert_path("ca.pem"))
            self.assertEqual(rc, 0, err)
            self.assertEqual(out, expected_answers(5))
            st = srv.stats()
            self.assertEqual(st["requests"], 5)
            self.assertEqual(st["connections"], 1)

    def test_pooled_connection_closed_as_the_request_came_is_sent_again(self):
        # README, Stale keep-alive: a pooled connection that passed its
        # check when it was taken but fails before any byte of the answer
        # (the server timed it out just as the request came) carries the
        # request again on a fresh connection, not as another attempt
        for tls, ca in ((None, None), ("good", cert_path("ca.pem"))):
            with self.subTest(tls=tls), Server(tls=tls) as srv:
                rc, out, err = run_seq(srv.url, 3, ca=ca,
                                       model="t?close_next=1")
                self.assertEqual(rc, 0, err)
                self.assertEqual(out, expected_answers(3))
                self.assertNotIn("attempts", err)
                st = srv.stats()
                self.assertEqual((st["chat_requests"], st["connections"]),
                                 (3, 3))

    def test_pooled_connection_answered_while_idle_is_not_reused(self):
        # A server that ends an idle keep-alive connection with a 408 (as
        # some do) before it closes it. llmc_chat() after llmc_chat() with
        # the application busy in between runs no poll while the
        # connection is idle, so it is checked when it is taken: the 408
        # is not read as the next request's answer (a failed attempt), and
        # a fresh connection carries the request. Plain and TLS.
        for tls, ca in ((None, None), ("good", cert_path("ca.pem"))):
            with self.subTest(tls=tls), Server(tls=tls) as srv:
                rc, out, err = run_seq(srv.url, 3, ca=ca, gap_ms=300,
                                       model="t?idle_close_ms=50&idle_408=1")
                self.assertEqual(rc, 0, err)
                self.assertEqual(out, expected_answers(3))
                self.assertNotIn("attempts", err)
                st = srv.stats()
                self.assertEqual((st["requests"], st["connections"]), (3, 3))

    def assert_trusted(self, ca):
        """llmc-seq with this CA argument is answered over TLS."""
        with Server(tls="good") as srv:
            rc, out, err = run_seq(srv.url, 2, ca=ca)
            self.assertEqual(rc, 0, err)
            self.assertEqual(out, expected_answers(2))

    def assert_refused(self, ca):
        """llmc-seq with this CA argument refuses the test server."""
        with Server(tls="good") as srv:
            rc, out, err = run_seq(srv.url, 1, ca=ca)
            self.assertEqual(rc, 1, out)
            self.assertIn("certificate verification failed", err)
            self.assertEqual(srv.stats()["requests"], 0)

    def test_ca_given_as_in_memory_pem_is_trusted(self):
        self.assert_trusted("pem:" + cert_path("ca.pem"))

    def test_in_memory_pem_of_another_ca_refuses_the_server(self):
        self.assert_refused("pem:" + cert_path("other-ca.pem"))

    def test_tls_setup_hook_supplies_the_trust_anchors(self):
        # no CA given: the hook's chain is the one trusted (as
        # esp_crt_bundle_attach brings ESP-IDF's bundle)
        self.assert_trusted("hook:" + cert_path("ca.pem"))
        self.assert_refused("hook:" + cert_path("other-ca.pem"))

    def test_tls_setup_hook_cannot_turn_verification_off(self):
        # a hook that sets MBEDTLS_SSL_VERIFY_NONE: llmc requires
        # verification again after it, so the untrusted server is refused
        self.assert_refused("hook-none")

    def test_connection_closed_by_server_is_replaced(self):
        # keepalive=0: the server closes after each answer; every request
        # must still succeed, each on a new connection
        with Server() as srv:
            rc, out, err = run_seq(srv.url, 5, model="t?keepalive=0")
            self.assertEqual(rc, 0, err)
            self.assertEqual(out, expected_answers(5))
            self.assertEqual(srv.stats()["connections"], 5)


# A program of the reader's own, written as the README's "The API in
# short" is: a static llmc_client_t, one request, poll until done.
APP_SOURCE = r"""
#include <stdio.h>
#include <llmc/llmc_client.h>

static llmc_client_t client;

static void on_delta(void *u, const char *text, size_t len)
{
    (void)u;
    fwrite(text, 1, len, stdout);
}

int main(int argc, char **argv)
{
    llmc_provider_t prov = {0};
    llmc_config_t cfg = {0};
    llmc_message_t msg = {"user", "built against libllmc.a", 0};
    llmc_request_t req;
    llmc_callbacks_t cb = {0};
    llmc_result_t res;
    int rc;
    if (argc != 2)
        return 2;
    prov.name = "local";
    prov.base_url = argv[1];
    cfg.providers = &prov;
    cfg.n_providers = 1;
    llmc_policy_default(&cfg.policy);
    rc = llmc_client_init(&client, &cfg);
    if (rc != LLMC_OK) {
        fprintf(stderr, "llmc_client_init: %s (%zu bytes here, %zu in the "
                "library)\n", llmc_strerror(rc), sizeof(client),
                llmc_client_size());
        return 4;
    }
    llmc_request_init(&req);
    req.model = "t";
    req.messages = &msg;
    req.n_messages = 1;
    cb.on_delta = on_delta;
    llmc_chat(&client, &req, &cb, NULL, &res);
    llmc_client_shutdown(&client);
    return res.status == LLMC_OK ? 0 : 1;
}
"""


class ToolVersionTests(unittest.TestCase):
    """Here, not in test_chat: the lwIP step runs test_chat with its own
    tool builds, which have no llmc-gateway."""

    def test_version_names_llmc_and_its_mbedtls(self):
        # every tool: llmc's version, the one the ESP-IDF component's
        # manifest gives too, and the mbedTLS it was built against
        with open(os.path.join(REPO, "include", "llmc", "llmc.h")) as f:
            header = re.search(r'#define LLMC_VERSION "([^"]+)"',
                               f.read()).group(1)
        with open(os.path.join(REPO, "idf_component.yml")) as f:
            manifest = re.search(r'^version: "([^"]+)"$', f.read(),
                                 re.M).group(1)
        self.assertEqual(manifest, header)
        for name in ("llmc-chat", "llmc-check", "llmc-gather",
                     "llmc-gateway"):
            binary = (chat_binary() if name == "llmc-chat"
                      else tool_path(name))
            with self.subTest(tool=name):
                p = subprocess.run([binary, "--version"],
                                   capture_output=True, timeout=10)
                self.assertEqual((p.returncode, p.stderr), (0, b""))
                m = re.fullmatch(rb"(\S+): llmc (\S+), mbedTLS "
                                 rb"(\d+)\.\d+\.\d+ \(TLS 1\.2(, 1\.3)?\)\n",
                                 p.stdout)
                self.assertIsNotNone(m, p.stdout)
                self.assertEqual(m.group(1).decode(), name)
                self.assertEqual(m.group(2).decode(), header)
                # 2.x speaks TLS 1.2 only; 3.x and 4.x 1.3 too, on by
                # default
                self.assertEqual(m.group(4) is not None,
                                 int(m.group(3)) >= 3, p.stdout)
        # a stdout that cannot be written is an error, not a silent 0
        with open("/dev/full", "wb") as full:
            p = subprocess.run([chat_binary(), "--version"], stdout=full,
                               stderr=subprocess.PIPE, timeout=10)
        self.assertEqual(p.returncode, 1)
        self.assertIn(b"llmc-chat: stdout: ", p.stderr)


class ApplicationBuildTests(unittest.TestCase):

    def compile_and_run(self, d, flags):
        """APP_SOURCE compiled in d with flags (after the source, so that
        libraries come after what uses them), run against a test server:
        the finished process."""
        src, app = os.path.join(d, "app.c"), os.path.join(d, "app")
        with open(src, "w") as f:
            f.write(APP_SOURCE)
        p = subprocess.run(["cc", "-std=c99", "-Wall", "-Wextra", "-Werror",
                            src, "-o", app] + flags,
                           capture_output=True, timeout=TIMEOUT)
        self.assertEqual(p.returncode, 0, p.stderr.decode())
        with Server() as srv:
            return subprocess.run([app, srv.url], capture_output=True,
                                  timeout=TIMEOUT, env=chat_env())

    def build_and_run(self, flags_of):
        """APP_SOURCE compiled with flags_of(repo, build) and linked with
        the library build that LLMC_CHAT_PLAIN is in, run against a test
        server: the finished process."""
        build = os.path.dirname(os.path.abspath(plain_chat(self)))
        with tempfile.TemporaryDirectory() as d:
            return self.compile_and_run(
                d, flags_of(REPO, build) + mbedtls_cflags()
                + [os.path.join(build, "libllmc.a")] + mbedtls_libs())

    def test_program_built_with_make_cflags_matches_libllmc(self):
        # build/libllmc.a is built with the Makefile's knobs (or a
        # .config's), and llmc_client_t's size follows them. `make -s
        # cflags` prints the flags that give the library's.
        def make_cflags(repo, build):
            p = subprocess.run(["make", "-s", "--no-print-directory", "-C",
                                repo, "BUILD=" + os.path.relpath(build, repo),
                                "cflags"],
                               capture_output=True, timeout=TIMEOUT)
            self.assertEqual(p.returncode, 0, p.stderr.decode())
            return p.stdout.decode().split()  # as $(make -s cflags) splits
        p = self.build_and_run(make_cflags)
        self.assertEqual(p.returncode, 0, p.stderr.decode())
        self.assertEqual(p.stdout, b"built against libllmc.a")

    def test_readme_api_example_builds_and_runs(self):
        # The README's "The API in short" as a reader copies it, with only
        # its two base_urls pointed here: "openai" at a refused port,
        # "backup" at a test server (which echoes "Hello!"). Built as the
        # README says, warning-free; it fails over and says so.
        with open(os.path.join(REPO, "README.md")) as f:
            readme = f.read()
        section = readme[readme.index("## The API in short"):]
        src = re.search(r"```c\n(.*?)```", section, re.S).group(1)
        build = os.path.dirname(os.path.abspath(plain_chat(self)))
        p = subprocess.run(["make", "-s", "--no-print-directory", "-C",
                            REPO, "BUILD=" + os.path.relpath(build, REPO),
                            "cflags"], capture_output=True, timeout=TIMEOUT)
        self.assertEqual(p.returncode, 0, p.stderr.decode())
        cflags = p.stdout.decode().split()
        with Server() as srv, tempfile.TemporaryDirectory() as d:
            for url, mine in (("https://api.openai.com/v1", "http://%s:%d/v1"
                               % (TEST_HOST, refused_port())),
                              ("http://10.0.0.2:8080/v1", srv.url)):
                self.assertIn('"%s"' % url, src)
                src = src.replace('"%s"' % url, '"%s"' % mine)
            c, app = os.path.join(d, "app.c"), os.path.join(d, "app")
            with open(c, "w") as f:
                f.write(src)
            p = subprocess.run(["cc", "-std=c99", "-Wall", "-Wextra",
                                "-Werror"] + cflags + mbedtls_cflags()
                               + [c, os.path.join(build, "libllmc.a"), "-o",
                                  app] + mbedtls_libs(),
                               capture_output=True, timeout=TIMEOUT)
            self.assertEqual(p.returncode, 0, p.stderr.decode())
            p = subprocess.run([app], capture_output=True, timeout=TIMEOUT,
                               env=chat_env())
        self.assertEqual((p.returncode, p.stdout, p.stderr),
                         (0, b"Hello!\nbackup: ok\n", b""))

    def install_and_build(self, tree, build, d, knob_check):
        """make install from tree (its build dir build) into d/inst, then
        APP_SOURCE built with `pkg-config --cflags --libs llmc` and run
        against a test server; the installed llmc-chat's --version; make
        uninstall, which leaves no file. knob_check(header text) looks at
        the installed llmc_knobs.h."""
        env, make_vars = make_env_and_vars()
        inst = os.path.join(d, "inst")
        make = ["make", "-s", "--no-print-directory", "-C", tree,
                "BUILD=" + build, "DESTDIR=" + inst,
                "PREFIX=/usr"] + make_vars
        p = subprocess.run(make + ["install"], capture_output=True,
                           env=env, timeout=TIMEOUT * 3)
        self.assertEqual(p.returncode, 0, p.stderr.decode())
        with open(os.path.join(inst, "usr/include/llmc/llmc_knobs.h")) as f:
            knob_check(f.read())
        # the files are under DESTDIR, not yet at their prefix
        pc_env = dict(env, PKG_CONFIG_PATH=os.path.join(inst,
                                                        "usr/lib/pkgconfig"))
        p = subprocess.run(["pkg-config", "--define-variable=prefix="
                            + os.path.join(inst, "usr"), "--cflags", "--libs",
                            "llmc"],
                           capture_output=True, env=pc_env, timeout=TIMEOUT)
        self.assertEqual(p.returncode, 0, p.stderr.decode())
        flags = p.stdout.decode().split()
        self.assertIn("-DLLMC_INSTALLED", flags)
        p = self.compile_and_run(d, flags)
        self.assertEqual((p.returncode, p.stdout),
                         (0, b"built against libllmc.a"), p.stderr.decode())
        p = subprocess.run([os.path.join(inst, "usr/bin/llmc-chat"),
                            "--version"], capture_output=True,
                           timeout=TIMEOUT)
        self.assertEqual(p.returncode, 0, p.stderr.decode())
        self.assertTrue(p.stdout.startswith(b"llmc-chat: llmc "), p.stdout)
        p = subprocess.run(make + ["uninstall"], capture_output=True,
                           env=env, timeout=TIMEOUT)
        self.assertEqual(p.returncode, 0, p.stderr.decode())
        left = [os.path.join(r, n) for r, _, names in os.walk(inst)
                for n in names]
        self.assertEqual(left, [])

    def test_installed_library_builds_a_program_with_pkg_config(self):
        # make install puts the knobs libllmc.a was built with beside its
        # headers (the Makefile's 64 slots, not the headers' default of
        # 4); a program built with pkg-config's flags gets the library's
        # llmc_client_t, or llmc_client_init() would refuse it (exit 4)
        build = os.path.dirname(os.path.abspath(plain_chat(self)))
        with tempfile.TemporaryDirectory() as d:
            self.install_and_build(
                REPO, os.path.relpath(build, REPO), d,
                lambda h: self.assertIn("#define LLMC_SLOTS 64\n", h))

    def test_installed_library_built_with_a_config_gives_its_knobs(self):
        # with a .config, the knobs are its generated header: here 3 slots
        # (the headers' default is 4). Built in a copy of the tree at -O0
        import shutil
        with tempfile.TemporaryDirectory() as d:
            tree = os.path.join(d, "tree")
            for sub in ("include", "src", "port", "mk", "examples",
                        "scripts"):
                shutil.copytree(os.path.join(REPO, sub),
                                os.path.join(tree, sub))
            for name in ("Makefile", "Kconfig"):
                shutil.copy(os.path.join(REPO, name), tree)
            with open(os.path.join(tree, ".config"), "w") as f:
                f.write("CONFIG_LLMC_SLOTS=3\n")
            p = subprocess.run(["/usr/bin/python3", "-m", "olddefconfig",
                                "Kconfig"], cwd=tree, capture_output=True,
                               env=dict(os.environ, KCONFIG_CONFIG=".config"))
            self.assertEqual(p.returncode, 0, p.stderr.decode())
            env, make_vars = make_env_and_vars()
            p = subprocess.run(["make", "-s", "-j2", "--no-print-directory",
                                "-C", tree, "BUILD=build", "OPT=-O0", "all"]
                               + make_vars, env=env,
                               capture_output=True, timeout=TIMEOUT * 5)
            self.assertEqual(p.returncode, 0, p.stderr.decode()[-2000:])
            self.install_and_build(
                tree, "build", d,
                lambda h: self.assertIn("#define CONFIG_LLMC_SLOTS 3\n", h))

    def test_program_built_with_other_knobs_is_refused_at_init(self):
        # Compiled with the headers' defaults, the program's client is
        # smaller than the one the library fills in: llmc_client_init()
        # says so, and writes nothing (it would write past the storage).
        p = self.build_and_run(lambda repo, build:
                               ["-I" + os.path.join(repo, "include")])
        self.assertEqual(p.returncode, 4, p.stderr.decode())
        self.assertRegex(p.stderr.decode(),
                         r"^llmc_client_init: config error \(\d+ bytes here, "
                         r"\d+ in the library\)\n$")
        self.assertEqual(p.stdout, b"")


class ThreadSanitizerTests(unittest.TestCase):

    def test_submit_and_cancel_from_a_second_thread_race_free(self):
        # llmc_submit() and llmc_cancel() may be called from another task
        # while one polls (README, "Callbacks and threads"): llmc-conc,
        # library and port built with ThreadSanitizer, has a second thread
        # submit 200 requests as fast as the queue takes them and cancel
        # every third, while the main thread polls. Any data race is a
        # report and exit status 66; every request ends once, answered
        # whole or cancelled.
        conc = tool_path("tsan/llmc-conc")
        if not os.path.exists(conc):
            self.fail("%s not built (make integration builds it)" % conc)
        n = 200
        with Server() as srv:
            env = dict(chat_env(), TSAN_OPTIONS="halt_on_error=1 exitcode=66")
            p = subprocess.run([conc, "-j", "8", "tstress", srv.url,
                                "t?event_delay_ms=2", str(n)],
                               stdin=subprocess.DEVNULL, capture_output=True,
                               timeout=TIMEOUT, env=env)
        err = p.stderr.decode("utf-8", "replace")
        self.assertEqual(p.returncode, 0, err)
        self.assertNotIn("ThreadSanitizer", err)
        lines = [json.loads(x) for x in p.stdout.decode().splitlines()]
        items, summary = lines[:-1], lines[-1]
        self.assertEqual(len(items), n)
        cancelled = 0
        for it in items:
            self.assertEqual(it["done_calls"], 1, it)
            if it["status"] == "cancelled":
                self.assertEqual(it["i"] % 3, 2, it)  # only those cancelled
                cancelled += 1
                continue
            self.assertEqual(it["status"], "ok", it)
            i = it["i"]
            self.assertEqual(it["content"], "stream %02d: alpha %02d bravo "
                             "%02d charlie %02d delta %02d" % (i, i, i, i, i))
        # a cancel that came after its request had ended found nothing; one
        # that came as its answer was being taken may still see it answered
        self.assertLessEqual(cancelled, summary["cancel_ok"])
        self.assertGreater(cancelled, 0)

    def test_submit_during_and_after_shutdown_race_free(self):
        # llmc_client_shutdown() in the polling task while another task
        # submits: the submits that meet the shutdown, and one after it
        # has returned, are refused with LLMC_ERR_STATE, and none of it is
        # a data race (exit status 66). Every request accepted before
        # ends once, answered or cancelled.
        conc = tool_path("tsan/llmc-conc")
        if not os.path.exists(conc):
            self.fail("%s not built (make integration builds it)" % conc)
        with Server() as srv:
            env = dict(chat_env(), TSAN_OPTIONS="halt_on_error=1 exitcode=66")
            p = subprocess.run([conc, "-j", "4", "tshutdown", srv.url,
                                "t?event_delay_ms=2", "8"],
                               stdin=subprocess.DEVNULL, capture_output=True,
                               timeout=TIMEOUT, env=env)
        err = p.stderr.decode("utf-8", "replace")
        self.assertEqual(p.returncode, 0, err)
        self.assertNotIn("ThreadSanitizer", err)
        lines = [json.loads(x) for x in p.stdout.decode().splitlines()]
        items, summary = lines[:-1], lines[-1]
        self.assertEqual(summary["after"], "invalid state")
        self.assertEqual(len(items), summary["accepted"])
        self.assertEqual(summary["done"], summary["accepted"])
        self.assertGreaterEqual(summary["accepted"], 8)
        for it in items:
            self.assertEqual(it["done_calls"], 1, it)
            self.assertIn(it["status"], ("ok", "cancelled"), it)


REPO = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))


def kconfig_compile(values, flags, more=()):
    """src/*.c, and the files `more` names (relative to the tree), compiled
    with the header the root Kconfig generates when `values` ({symbol:
    value}) are set and every other symbol keeps its default, as in
    menuconfig: (values as Kconfig took them, the failed compiler run or
    None). A value Kconfig refuses is not taken."""
    import glob
    import tempfile
    import kconfiglib  # python3-kconfiglib, as `make menuconfig` uses
    kc = kconfiglib.Kconfig(os.path.join(REPO, "Kconfig"), warn=False)
    for name, v in values.items():
        kc.syms[name].set_value(str(v))
    took = {name: kc.syms[name].str_value for name in values}
    with tempfile.TemporaryDirectory() as d:
        kc.write_autoconf(os.path.join(d, "llmc_kconfig.h"))
        p = subprocess.run(["cc", "-std=c99", "-Wall", "-Wextra", "-Werror",
                            "-I" + os.path.join(REPO, "include"),
                            "-I" + os.path.join(REPO, "src"), "-I" + d,
                            "-I" + os.path.join(REPO, "port/posix"),
                            '-DLLMC_CONFIG_FILE="llmc_kconfig.h"'] + flags
                           + sorted(glob.glob(os.path.join(REPO, "src/*.c")))
                           + [os.path.join(REPO, f) for f in more],
                           cwd=d, capture_output=True, timeout=TIMEOUT)
    return took, (p if p.returncode != 0 else None)


# The POSIX port and the tools other than llmc-gateway, as the Makefile
# builds them with the library.
TOOL_SOURCES = ("port/posix/llmc_port_posix.c", "port/posix/llmc_port_posix_os.c",
                "examples/posix/llmc_tool_config.c",
                "examples/posix/llmc_chat.c", "examples/posix/llmc_check.c",
                "examples/posix/llmc_gather.c")


def kconfig_int_limits(kc):
    """(symbol, lowest, highest) of each int symbol of the root Kconfig
    (kc, as kconfiglib read it) that has a range, its bounds as the
    defaults of the others make them."""
    import kconfiglib
    return [(s.name, int(s.ranges[0][0].str_value),
             int(s.ranges[0][1].str_value))
            for s in kc.unique_defined_syms
            if s.type == kconfiglib.INT and s.ranges]


class BuildConfigTests(unittest.TestCase):

    def test_documented_targets_install_packages_before_compiling(self):
        # README: on a fresh Debian 12 machine these targets install what
        # they need (scripts/deps.sh): that must come before the first
        # compiler run, which needs mbedTLS's and jsmn's headers.
        import re
        import tempfile
        repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        repo = os.path.dirname(repo)
        compile_line = re.compile(r"(^| )(cc|gcc|clang|[a-z0-9-]+-gcc) ")
        for target in ("demo", "bench", "size", "soak", "fuzz", "check"):
            with self.subTest(target=target), \
                    tempfile.TemporaryDirectory() as d:
                env, _ = make_env_and_vars()
                p = subprocess.run(["make", "-n", "--no-print-directory",
                                    "BUILD=" + d, target], cwd=repo, env=env,
                                   capture_output=True, timeout=TIMEOUT)
                self.assertEqual(p.returncode, 0, p.stderr.decode())
                lines = p.stdout.decode().splitlines()
                deps = [i for i, l in enumerate(lines) if "deps.sh" in l]
                cc = [i for i, l in enumerate(lines) if compile_line.search(l)]
                self.assertTrue(deps and cc, p.stdout.decode()[:500])
                self.assertLess(deps[0], cc[0], "\n".join(lines[:cc[0] + 1]))

    def test_every_knob_at_the_ends_of_its_kconfig_range_compiles(self):
        # A value menuconfig (or ESP-IDF's menuconfig, same Kconfig)
        # accepts must build: the headers' #error checks may not refuse
        # it. Each int knob at its lowest and highest, the others at their
        # defaults; syntax only, which is where #error and a constant that
        # does not fit its field show.
        # Every int knob has a range: without one, Kconfig takes any
        # integer, also one its field cannot hold or one that breaks
        # every request (a timeout of 0).
        import kconfiglib
        from concurrent.futures import ThreadPoolExecutor
        kc = kconfiglib.Kconfig(os.path.join(REPO, "Kconfig"), warn=False)
        for s in kc.unique_defined_syms:
            if s.type == kconfiglib.INT:
                with self.subTest(knob=s.name):
                    self.assertTrue(s.ranges, "no range in Kconfig")
        cases = [(name, v) for name, lo, hi in kconfig_int_limits(kc)
                 for v in (lo, hi)]
        with ThreadPoolExecutor(2) as ex:
            runs = list(ex.map(lambda c: kconfig_compile(
                {c[0]: c[1]}, ["-fsyntax-only"]), cases))
        for (name, v), (took, p) in zip(cases, runs):
            with self.subTest(knob=name, value=v):
                self.assertEqual(took[name], str(v))
                self.assertTrue(p is None, p and p.stderr.decode()[-600:])

    def test_every_knob_at_its_kconfig_minimum_or_maximum_at_once_builds(self):
        # The smallest configuration Kconfig allows (one provider, one
        # slot, ...) and the largest, compiled as the Makefile (-O2) and
        # the MCU builds (-Os) do: warnings that need the optimiser
        # (array bounds) must not stop either. The POSIX port and the
        # tools built on the library come along at -O2 (llmc-gather's
        # message once did not fit a 16-byte LLMC_MSG_LEN); llmc-gateway
        # refuses, with an #error, knobs too small for its connections.
        sys.path.insert(0, os.path.join(REPO, "scripts"))
        import kconfig_ends  # as make check's unit-min-knobs step sets them
        for end in (0, 1):
            _, values = kconfig_ends.at_end(os.path.join(REPO, "Kconfig"), end)
            for opt in ("-O2", "-Os"):
                with self.subTest(end=("lowest", "highest")[end], opt=opt):
                    more = TOOL_SOURCES if opt == "-O2" else ()
                    took, p = kconfig_compile(values, [opt, "-c"], more)
                    self.assertEqual(took, values)
                    self.assertTrue(p is None,
                                    p and p.stderr.decode()[-600:])

    def test_policy_default_the_policy_cannot_hold_is_refused(self):
        # A default policy value set with -D (or an sdkconfig.h written
        # by hand) that its field cannot hold, or a timeout of 0 that would
        # end every request at once, stops the build, also without
        # -Werror: ESP-IDF's -Werror=all leaves -Woverflow a warning, and a
        # negative value converts without one.
        for knob, v in (("MAX_RETRIES", 256), ("MAX_RETRIES", -1),
                        ("COOLDOWN_AFTER", 300), ("COOLDOWN_AFTER", -1),
                        ("CONNECT_TIMEOUT_MS", 0), ("DEADLINE_MS", 0),
                        ("FIRST_BYTE_TIMEOUT_MS", 0), ("IDLE_TIMEOUT_MS", 0),
                        ("IDLE_TIMEOUT_MS", 4294967296),
                        ("BACKOFF_BASE_MS", -1), ("BACKOFF_MAX_MS", -1),
                        ("COOLDOWN_MS", -1)):
            with self.subTest(knob=knob, value=v):
                p = subprocess.run(["cc", "-std=c99", "-fsyntax-only",
                                    "-I" + os.path.join(REPO, "include"),
                                    "-I" + os.path.join(REPO, "src"),
                                    "-DLLMC_DEFAULT_%s=%d" % (knob, v),
                                    os.path.join(REPO, "src/llmc_client.c")],
                                   capture_output=True, timeout=TIMEOUT)
                self.assertNotEqual(p.returncode, 0)
                self.assertIn(b"#error", p.stderr)

    def test_library_follows_a_config_that_was_removed(self):
        # `make defconfig` writes .config and the build follows it; once
        # .config is gone the build goes back to the Makefile's own knobs,
        # and objects built with the .config's must not be kept. Run in a
        # copy of the tree, so that the checkout's own .config is left alone.
        import shutil
        import tempfile
        repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        repo = os.path.dirname(repo)
        with tempfile.TemporaryDirectory() as d:
            for sub in ("include", "src", "port", "mk"):
                shutil.copytree(os.path.join(repo, sub), os.path.join(d, sub))
            for name in ("Makefile", "Kconfig"):
                shutil.copy(os.path.join(repo, name), d)
            with open(os.path.join(d, "size.c"), "w") as f:
                f.write('#include <stdio.h>\n#include <stddef.h>\n'
                        'size_t llmc_client_size(void);\n'
                        'int main(void) { printf("%zu", llmc_client_size());'
                        ' return 0; }\n')

            env, make_vars = make_env_and_vars()

            def client_size():
                p = subprocess.run(["make", "-s", "--no-print-directory",
                                    "BUILD=build", "OPT=-O0",
                                    "build/libllmc.a"] + make_vars, cwd=d,
                                   env=env, capture_output=True,
                                   timeout=TIMEOUT * 3)
                self.assertEqual(p.returncode, 0, p.stderr.decode())
                p = subprocess.run(["cc", "size.c", "build/libllmc.a"]
                                   + mbedtls_libs() + ["-o", "size"], cwd=d,
                                   capture_output=True, timeout=TIMEOUT)
                self.assertEqual(p.returncode, 0, p.stderr.decode())
                return int(subprocess.run([os.path.join(d, "size")],
                                          capture_output=True,
                                          check=True).stdout)

            host = client_size()
            p = subprocess.run(["/usr/bin/python3", "-m", "olddefconfig",
                                "Kconfig"], cwd=d, capture_output=True,
                               env=dict(os.environ, KCONFIG_CONFIG=".config"))
            self.assertEqual(p.returncode, 0, p.stderr.decode())
            mcu = client_size()
            self.assertLess(mcu, host)  # 4 slots instead of 64
            os.remove(os.path.join(d, ".config"))
            self.assertEqual(client_size(), host)


def max_rss_kib(args):
    """Run a command; return (stdout bytes, exit code, peak RSS in KiB).
    /usr/bin/time measures the program itself: the rusage of a child forked
    from Python would count the Python parent's pages copied before exec."""
    import tempfile
    with tempfile.NamedTemporaryFile("r") as f:
        p = subprocess.run(["/usr/bin/time", "-f", "%M", "-o", f.name] + args,
                           stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                           env=chat_env(), timeout=TIMEOUT)
        return p.stdout, p.returncode, int(f.read().split()[-1])


def peak_heap_bytes(args):
    """Peak heap of a run, from valgrind's massif: deterministic, unlike RSS
    (which moves by a few hundred KiB from run to run)."""
    import tempfile
    with tempfile.TemporaryDirectory() as d:
        out = os.path.join(d, "massif.out")
        p = subprocess.run(["valgrind", "--tool=massif", "--massif-out-file="
                            + out] + args, stdout=subprocess.PIPE,
                           stderr=subprocess.DEVNULL, env=chat_env(),
                           timeout=TIMEOUT * 2)
        peak = 0
        with open(out) as f:
            for line in f:
                if line.startswith("mem_heap_B="):
                    peak = max(peak, int(line.split("=")[1]))
        return p.stdout, p.returncode, peak


class MemoryTests(unittest.TestCase):

    def peaks_for_10_b_and_1_mib(self, *options, **server):
        """The plain llmc-chat's peak heap for a 10-byte and for a 1 MiB
        answer (each answer checked), from a Server(**server)."""
        chat = plain_chat(self)
        with Server(**server) as srv:
            base = [chat, "--base-url", srv.url] + list(options) + ["-m"]
            small, rc1, h_small = peak_heap_bytes(base + ["t?size=10", "x"])
            big, rc2, h_big = peak_heap_bytes(
                base + ["t?size=1048576&piece=64", "x"])
        self.assertEqual((rc1, rc2), (0, 0))
        self.assertEqual(small, size_content(10).encode())
        self.assertEqual(big, size_content(1048576).encode())
        return h_small, h_big

    def test_one_mib_answer_uses_the_same_heap_as_ten_bytes(self):
        h_small, h_big = self.peaks_for_10_b_and_1_mib()
        print("\n  peak heap: 10 B answer %d B, 1 MiB answer %d B"
              % (h_small, h_big))
        self.assertEqual(h_small, h_big)

    def test_one_mib_answer_over_tls_uses_no_more_heap(self):
        # over https the heap is mbedTLS's (its record buffers and
        # handshake): fixed per connection, whatever the answer's length.
        # Not equal to the byte: ECDHE's random numbers take a few hundred
        # bytes more or less from run to run (make bench shows the peaks);
        # holding even one 16 KB record of the answer would exceed this.
        h_small, h_big = self.peaks_for_10_b_and_1_mib(
            "--ca-file", cert_path("ca.pem"), tls="good")
        print("\n  peak heap over TLS: 10 B answer %d B, 1 MiB answer %d B"
              % (h_small, h_big))
        self.assertGreater(h_small, 16384)  # mbedTLS's buffers are counted
        self.assertLess(abs(h_big - h_small), 2048)

    def plain_chat_with(self, shim):
        """The plain llmc-chat and the path of an LD_PRELOAD shim built
        beside it (tests/integration/<shim>.c)."""
        chat = plain_chat(self)
        path = os.path.join(os.path.dirname(chat), shim + ".so")
        self.assertTrue(os.path.exists(path), path)
        return chat, path

    def short_heap(self, keep, handshake=False):
        """The plain llmc-chat, and the environment that has its calloc
        hand out at most keep blocks of 16 KB or more at a time; with
        handshake, the TLS handshake needs one more while it runs, as
        mbedTLS 4's does (tests/integration/fail_calloc.c, which stands
        in for it on older ones; mbedTLS 4 needs no stand-in, and a static
        one could not be interposed)."""
        chat, shim = self.plain_chat_with("fail_calloc")
        if handshake and self.mbedtls_major(chat) >= 4:
            handshake = False
        return chat, {"LD_PRELOAD": shim, "LLMC_FAIL_CALLOC_MIN": "16384",
                      "LLMC_FAIL_CALLOC_KEEP": str(keep),
                      "LLMC_FAIL_CALLOC_HANDSHAKE": "1" if handshake else "0"}

    def failed_short_of_heap(self, keep, handshake=False):
        """llmc-chat, one provider, one retry, on short_heap(keep,
        handshake): it fails and no request goes out. Its stderr."""
        chat, env = self.short_heap(keep, handshake)
        with Server(tls="good") as srv:
            rc, out, err = run_chat(
                ["--base-url", srv.url, "--api-key", "sk-heap-test-1", "-m", "t",
                 "--ca-file", cert_path("ca.pem"), "--max-retries", "1",
                 "hi"], binary=chat, env=env)
            self.assertEqual(srv.stats()["requests"], 0)
        self.assertEqual((rc, out), (1, b""), err)
        return err

    def two_providers_first_500(self, srv, d):
        """A config: "first" answers 500 (its connection stays pooled),
        "second" answers."""
        cfg = os.path.join(d, "providers.json")
        with open(cfg, "w") as f:
            json.dump({"providers": [
                {"name": "first", "base_url": srv.url, "api_key": "k",
                 "model": scenario_model("t", status=500)},
                {"name": "second", "base_url": srv.url, "api_key": "k",
                 "model": "t"}],
                "policy": {"max_retries": 0},
                "ca_file": cert_path("ca.pem")}, f)
        return cfg

    def test_tls_setup_short_of_heap_says_out_of_memory(self):
        # a heap too short for mbedTLS's record buffers (some 16 KB each),
        # as on a board with too many TLS connections open: each attempt
        # ends with mbedTLS's code and says so, and no request goes out
        err = self.failed_short_of_heap(0)
        # MBEDTLS_ERR_SSL_ALLOC_FAILED; mbedTLS 4 has PSA's code for it
        why = re.escape("tls error: TLS setup failed (mbedTLS -0x") + \
            "(7F00|008D)" + re.escape(", out of memory)")
        self.assertRegex(err, "llmc-chat: " + why)
        # the result and 2 attempts
        self.assertEqual(len(re.findall(why, err)), 3, err)

    def test_out_of_sockets_says_so(self):
        # socket() failing as at the process's descriptor limit (EMFILE,
        # ENFILE) or short of kernel memory (ENOBUFS, ENOMEM) is named;
        # another failure stays a socket error
        chat, shim = self.plain_chat_with("fail_socket")
        out_of = "out of sockets or network buffers"
        with Server() as srv:
            for err, why in ((errno.EMFILE, out_of), (errno.ENFILE, out_of),
                             (errno.ENOBUFS, out_of), (errno.ENOMEM, out_of),
                             (errno.EACCES, "socket error")):
                with self.subTest(errno=errno.errorcode[err]):
                    rc, out, stderr = run_chat(
                        ["--base-url", srv.url, "-m", "t", "--max-retries",
                         "0", "hi"], binary=chat,
                        env={"LD_PRELOAD": shim,
                             "LLMC_FAIL_SOCKET": str(err)})
                    self.assertEqual((rc, out), (1, b""), stderr)
                    self.assertIn("llmc-chat: connect error: " + why, stderr)
            self.assertEqual(srv.stats()["requests"], 0)

    def mbedtls_major(self, chat):
        """The major version of the mbedTLS chat was built with (its
        --version)."""
        p = subprocess.run([chat, "--version"], capture_output=True,
                           timeout=10)
        m = re.search(rb", mbedTLS (\d+)\.", p.stdout)
        self.assertIsNotNone(m, p.stdout)
        return int(m.group(1))

    def test_idle_tls_connection_gives_its_heap_to_a_new_one(self):
        # heap for one TLS connection's record buffers (two large blocks;
        # three with mbedTLS 4, whose handshake holds one more while it
        # runs): the first provider answers 500 and its connection stays
        # pooled, idle, holding them; the second provider's connection
        # finds no heap until llmc closes the idle one, then answers
        chat, env = self.short_heap(
            2 if self.mbedtls_major(plain_chat(self)) < 4 else 3)
        with Server(tls="good") as srv, \
                tempfile.TemporaryDirectory() as d:
            cfg = self.two_providers_first_500(srv, d)
            rc, out, err = run_chat(["-c", cfg, "room"], binary=chat,
                                    env=env)
            # both connections over before the count is read
            wait_for(lambda: srv.stats()["open"] == 0, 5.0, "open == 0")
            st = srv.stats()
        self.assertEqual((rc, out), (0, b"room"), err)
        self.assertEqual((st["requests"], st["connections"]), (2, 2))
        # each closed by llmc with a close_notify, the first to make room,
        # the second at shutdown
        self.assertEqual(st["tls_close_notify"], 2, st)

    def test_handshake_short_of_heap_takes_an_idle_connection_s(self):
        # heap for two connections' record buffers (4 large blocks), and a
        # handshake that needs one more while it runs (mbedTLS 4's): the
        # second provider's connection is set up beside the idle pooled
        # one, and its handshake finds no heap. llmc closes the idle one
        # and connects again, within the same attempt. The handshake's
        # first step runs in a later poll, or at once where the port's
        # connect has finished when it returns (syncconnect)
        chat, env = self.short_heap(4, handshake=True)
        sync = os.path.join(os.path.dirname(chat), "syncconnect",
                            "llmc-chat")
        # mbedTLS 4 needs heap to encrypt the idle one's close_notify too
        # (PSA_ERROR_INSUFFICIENT_MEMORY while the handshake holds the
        # rest): it is closed without one
        notifies = 2 if self.mbedtls_major(chat) < 4 else 1
        for binary in (chat, sync):
            with self.subTest(binary=binary), Server(tls="good") as srv, \
                    tempfile.TemporaryDirectory() as d:
                cfg = self.two_providers_first_500(srv, d)
                rc, out, err = run_chat(["-v", "-c", cfg, "room"],
                                        binary=binary, env=env)
                wait_for(lambda: srv.stats()["open"] == 0, 5.0, "open == 0")
                st = srv.stats()
                self.assertEqual((rc, out), (0, b"room"), err)
                self.assertNotIn("out of memory", err)
                self.assertIn("attempt 2: second: ok", err)
                self.assertNotIn("attempt 3", err)
                # the connection whose handshake failed, and the one after
                self.assertEqual((st["requests"], st["connections"]), (2, 3))
                # the idle one closed to make room and the answering one
                # at shutdown, each with a close_notify
                self.assertEqual(st["tls_close_notify"], notifies, st)

    def test_handshake_short_of_heap_with_nothing_to_close_says_so(self):
        # room for the record buffers but not for the handshake, and no
        # idle connection to close: each attempt says so
        err = self.failed_short_of_heap(2, handshake=True)
        # MBEDTLS_ERR_SSL_ALLOC_FAILED; mbedTLS 4 has PSA's code for it
        why = re.escape("tls error: TLS handshake failed (mbedTLS -0x") + \
            "(7F00|008D)" + re.escape(", out of memory)")
        # the result, 2 attempts
        self.assertEqual(len(re.findall(why, err)), 3, err)

    def test_four_mib_answer_does_not_grow_rss(self):
        chat = plain_chat(self)
        with Server() as srv:
            base = [chat, "--base-url", srv.url, "-m"]
            _, rc1, rss_small = max_rss_kib(base + ["t?size=10", "x"])
            big, rc2, rss_big = max_rss_kib(
                base + ["t?size=4194304&piece=256", "x"])
        self.assertEqual((rc1, rc2), (0, 0))
        self.assertEqual(len(big), 4194304)
        print("\n  peak RSS: 10 B answer %d KiB, 4 MiB answer %d KiB"
              % (rss_small, rss_big))
        # run-to-run noise is a few hundred KiB; holding any part of a
        # 4 MiB answer would show as megabytes
        self.assertLess(rss_big - rss_small, 1024)


if __name__ == "__main__":
    unittest.main()
