"""Helpers for the llmc integration tests.

Server      the scripted OpenAI-compatible test server, as a subprocess
Nginx       nginx as a TLS-terminating reverse proxy in front of a Server
certs()     directory with the test certificates (generated once)
run_chat()  run the llmc-chat CLI
"""

import json
import os
import shutil
import socket
import ssl
import struct
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import warnings

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
SERVER_SCRIPT = os.path.join(REPO, "tests", "server", "llmc_test_server.py")
CERT_SCRIPT = os.path.join(REPO, "scripts", "gen-test-certs.sh")
CERT_DIR = os.path.join(REPO, "build", "test-certs")
NGINX = os.environ.get("LLMC_NGINX", "/usr/sbin/nginx")

# The address test servers listen on and the tools under test connect to:
# loopback unless LLMC_TEST_HOST says otherwise. scripts/check.d/lwip.sh
# sets it to the host side of a TAP device (the lwIP build of the tools
# reaches the host only through it, and resolves no names, so TLS servers
# are then addressed by this IP too; the test certificates carry it).
TEST_HOST = os.environ.get("LLMC_TEST_HOST", "127.0.0.1")

# Skip reasons starting with this prefix are treated by run.py as
# intentional; any other skip is reported as a failure.
DOCUMENTED_SKIP = "documented: "

# Environment variables that would leak configuration into the CLI under
# test; they are removed from the environment passed to run_chat().
SCRUBBED_ENV = ("OPENAI_BASE_URL", "OPENAI_API_KEY", "OPENAI_MODEL",
                "SSL_CERT_FILE", "SSL_CERT_DIR")

TLS_CERTS = {
    # tls mode -> (certificate, key, CA that issued it[, server options])
    "good": ("server.pem", "server.key", "ca.pem"),
    "wrong-host": ("wrong-host.pem", "wrong-host.key", "ca.pem"),
    "unknown-ca": ("unknown-ca-server.pem", "unknown-ca-server.key",
                   "other-ca.pem"),
    "expired": ("expired.pem", "expired.key", "ca.pem"),
    "not-yet-valid": ("not-yet-valid.pem", "not-yet-valid.key", "ca.pem"),
    "client-only": ("client-only.pem", "client-only.key", "ca.pem"),
    # OpenSSL loads a certificate signed with SHA-1 only at level 0
    "sha1-signed": ("sha1-signed.pem", "sha1-signed.key", "ca.pem",
                    ["--tls-seclevel", "0"]),
    # a good certificate, served over TLS 1.0 or 1.1 at most
    "tls1.0": ("server.pem", "server.key", "ca.pem",
               ["--tls-max-version", "1.0"]),
    "tls1.1": ("server.pem", "server.key", "ca.pem",
               ["--tls-max-version", "1.1"]),
}

_cert_lock = threading.Lock()


def chat_binary():
    return os.environ.get("LLMC_CHAT", os.path.join(REPO, "build", "llmc-chat"))


def tool_path(name):
    """Path of a helper program built next to the CLI ($LLMC_BUILD or
    build/)."""
    return os.path.join(os.environ.get("LLMC_BUILD",
                                       os.path.join(REPO, "build")), name)


_certs_checked = False


def certs():
    """Return the test certificate directory, generating it on first use
    (the script also regenerates a set made by an older version of it)."""
    global _certs_checked
    with _cert_lock:
        if not _certs_checked:
            subprocess.run(["sh", CERT_SCRIPT, CERT_DIR], check=True,
                           stdout=subprocess.DEVNULL)
            _certs_checked = True
    return CERT_DIR


def cert_path(name):
    return os.path.join(certs(), name)


def free_port():
    """A TCP port on TEST_HOST that was free a moment ago."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.bind((TEST_HOST, 0))
        return s.getsockname()[1]
    finally:
        s.close()


_held_sockets = []


def refused_port():
    """A port on TEST_HOST where connections are refused.

    The port is kept bound (but not listening) by this process for its
    lifetime, so nothing else can start listening on it."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind((TEST_HOST, 0))
    _held_sockets.append(s)
    return s.getsockname()[1]


def unanswered_port(host=None, port=0):
    """A port on host (TEST_HOST) where a connect never completes: a
    listener with a backlog of 0 whose accept queue is full of this
    process's own connections, so the kernel drops further SYNs (as a
    firewall that drops packets would). Checked before it is handed out: a
    connect to it must still be pending after 200 ms. Kept for the
    process's lifetime. port 0: any free one."""
    host = host or TEST_HOST
    lst = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    lst.bind((host, port))
    lst.listen(0)
    port = lst.getsockname()[1]
    _held_sockets.append(lst)
    for _ in range(3):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setblocking(False)
        s.connect_ex((host, port))
        _held_sockets.append(s)
    probe = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    probe.settimeout(0.2)
    try:
        probe.connect((host, port))
    except (socket.timeout, TimeoutError):
        return port
    finally:
        probe.close()
    raise RuntimeError("a connect to the full listener on port %d completed:"
                       " this kernel does not drop SYNs on a full accept "
                       "queue" % port)


def late_refused_port(host, port):
    """A port on host where a connect is refused only about a second after
    it began, as when a route fails late: a full listener (see
    unanswered_port()) that goes away as soon as a connect to it waits, so
    that the retransmitted SYN (the kernel's first retransmission comes 1 s
    later) gets the refusal. Returns an event set when it went away."""
    lst = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    lst.bind((host, port))
    lst.listen(0)
    fill = []
    for _ in range(3):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setblocking(False)
        s.connect_ex((host, port))
        fill.append(s)
    time.sleep(0.05)
    mine = {s.getsockname()[1] for s in fill}
    # /proc/net/tcp: the remote address in the kernel's byte order
    want = "%08X:%04X" % (struct.unpack("=I", socket.inet_aton(host))[0],
                          port)
    gone = threading.Event()

    def waiting():
        with open("/proc/net/tcp") as f:
            for line in f.read().splitlines()[1:]:
                x = line.split()
                if (x[2] == want and x[3] == "02" and  # SYN_SENT
                        int(x[1].split(":")[1], 16) not in mine):
                    return True
        return False

    def watch():
        while not waiting():
            time.sleep(0.005)
        lst.close()
        for s in fill:
            s.close()
        gone.set()

    threading.Thread(target=watch, daemon=True).start()
    return gone


def wait_for(cond, timeout=5.0, what="condition"):
    """Wait until cond() is true (checked every 20 ms) or fail."""
    end = time.monotonic() + timeout
    while True:
        v = cond()
        if v:
            return v
        if time.monotonic() > end:
            raise AssertionError("timed out waiting for %s" % what)
        time.sleep(0.02)


def wait_for_port(port, timeout=10.0, host=None, proc=None):
    host = host or TEST_HOST
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            return False
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return True
        except OSError:
            time.sleep(0.02)
    return False


def tls_host():
    """The host name in https URLs: localhost on loopback, else TEST_HOST
    (the certificates name both)."""
    return "localhost" if TEST_HOST == "127.0.0.1" else TEST_HOST


def _flag(name):
    return "--" + name.replace("_", "-")


class Server:
    """Run tests/server/llmc_test_server.py on an ephemeral port.

    scenario   default scenario query string (--scenario)
    tls        None or a key of TLS_CERTS: 'good', 'wrong-host',
               'unknown-ca', 'expired', 'not-yet-valid', 'client-only',
               'sha1-signed'
    **opts     further server options, e.g. require_auth="k" becomes
               --require-auth k; True adds a bare flag.
    """

    def __init__(self, scenario=None, tls=None, **opts):
        if tls is not None and tls not in TLS_CERTS:
            raise ValueError("unknown tls mode %r" % tls)
        self.scenario = scenario
        self.tls = tls
        self.opts = opts
        self.proc = None
        self.port = None
        self.tmpdir = None

    # -- lifecycle --------------------------------------------------------
    def start(self):
        self.tmpdir = tempfile.mkdtemp(prefix="llmc-srv-")
        port_file = os.path.join(self.tmpdir, "port")
        cmd = [sys.executable, SERVER_SCRIPT, "--host", TEST_HOST,
               "--port", "0", "--port-file", port_file]
        if self.scenario:
            cmd += ["--scenario", self.scenario]
        if self.tls:
            entry = TLS_CERTS[self.tls]
            cmd += ["--tls-cert", cert_path(entry[0]),
                    "--tls-key", cert_path(entry[1])]
            cmd += entry[3] if len(entry) > 3 else []
        for name, value in self.opts.items():
            if value is None or value is False:
                continue
            if value is True:
                cmd.append(_flag(name))
            else:
                cmd += [_flag(name), str(value)]
        self.log = open(os.path.join(self.tmpdir, "server.log"), "wb")
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL,
                                     stderr=self.log)
        deadline = time.monotonic() + 10.0
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                break
            try:
                with open(port_file) as f:
                    text = f.read().strip()
                if text:
                    self.port = int(text)
                    break
            except FileNotFoundError:
                pass
            time.sleep(0.01)
        # The port file is written only after the socket is listening, so
        # no probe connection is needed (it would show up in the stats).
        if self.port is None:
            self.stop()
            raise RuntimeError("test server did not start: %s" % self.server_log())
        return self

    def stop(self):
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.terminate()
                try:
                    self.proc.wait(5)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait()
            self.proc = None
        if getattr(self, "log", None):
            self.log.close()
            self.log = None
        if self.tmpdir:
            shutil.rmtree(self.tmpdir, ignore_errors=True)
            self.tmpdir = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
        return False

    def server_log(self):
        if not self.tmpdir:
            return ""
        try:
            with open(os.path.join(self.tmpdir, "server.log"), "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    # -- addresses --------------------------------------------------------
    @property
    def host(self):
        return tls_host() if self.tls else TEST_HOST

    @property
    def scheme(self):
        return "https" if self.tls else "http"

    @property
    def url(self):
        return "%s://%s:%d/v1" % (self.scheme, self.host, self.port)

    @property
    def ca_file(self):
        """CA certificate that issued this server's certificate."""
        if not self.tls:
            return None
        return cert_path(TLS_CERTS[self.tls][2])

    # -- control ----------------------------------------------------------
    def _control(self, method, path, body=None):
        sock = socket.create_connection((TEST_HOST, self.port), timeout=10)
        try:
            if self.tls:
                ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
                ctx.check_hostname = False
                ctx.verify_mode = ssl.CERT_NONE
                if self.tls in ("tls1.0", "tls1.1"):
                    # what such a server serves, OpenSSL 3 speaks only at
                    # security level 0
                    ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore", DeprecationWarning)
                        ctx.minimum_version = ssl.TLSVersion.TLSv1
                sock = ctx.wrap_socket(sock, server_hostname="localhost")
            data = b"" if body is None else json.dumps(body).encode()
            req = ("%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                   "Content-Length: %d\r\nConnection: close\r\n\r\n"
                   % (method, path, len(data))).encode() + data
            sock.sendall(req)
            chunks = []
            while True:
                try:
                    c = sock.recv(65536)
                except (ssl.SSLError, OSError):
                    break
                if not c:
                    break
                chunks.append(c)
        finally:
            sock.close()
        raw = b"".join(chunks)
        head, _, payload = raw.partition(b"\r\n\r\n")
        status = int(head.split(b" ", 2)[1])
        if status != 200:
            raise RuntimeError("%s %s -> %d" % (method, path, status))
        return json.loads(payload.decode("utf-8"))

    def stats(self):
        return self._control("GET", "/stats")

    def reset(self):
        return self._control("POST", "/stats/reset")

    def revoke(self):
        return self._control("POST", "/iam/revoke")

    def last_request(self):
        return self.stats()["last_request"]


NGINX_CONF = """\
daemon off;
master_process off;
worker_processes 1;
pid {tmp}/nginx.pid;
error_log {tmp}/error.log warn;

events {{
    worker_connections 256;
}}

http {{
    access_log off;
    client_body_temp_path {tmp}/client_body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;

    upstream llmc_upstream {{
        server {host}:{upstream};
        keepalive 8;
    }}

    server {{
        listen {host}:{port} ssl;
        server_name localhost;
        ssl_certificate {cert};
        ssl_certificate_key {key};
        ssl_protocols TLSv1.2 TLSv1.3;
        ssl_session_cache shared:llmc_ssl:1m;
        ssl_session_timeout 10m;
        keepalive_timeout 60s;
        client_max_body_size 16m;

        location / {{
            proxy_pass http://llmc_upstream;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $host;
            proxy_buffering off;
            proxy_request_buffering off;
            proxy_read_timeout 60s;
        }}
    }}
}}
"""


class Nginx:
    """nginx terminating TLS (certificate for localhost/127.0.0.1 issued by
    the test CA) and proxying to a plain-HTTP upstream on 127.0.0.1."""

    def __init__(self, upstream_port):
        self.upstream_port = upstream_port
        self.proc = None
        self.port = None
        self.tmpdir = None

    @property
    def url(self):
        return "https://%s:%d/v1" % (tls_host(), self.port)

    @property
    def ca_file(self):
        return cert_path("ca.pem")

    def start(self):
        if not os.access(NGINX, os.X_OK):
            raise RuntimeError("nginx not found at %s" % NGINX)
        cdir = certs()
        last_err = ""
        for _ in range(5):
            self.tmpdir = tempfile.mkdtemp(prefix="llmc-nginx-")
            self.port = free_port()
            conf = os.path.join(self.tmpdir, "nginx.conf")
            with open(conf, "w") as f:
                f.write(NGINX_CONF.format(
                    tmp=self.tmpdir, host=TEST_HOST,
                    upstream=self.upstream_port,
                    port=self.port, cert=os.path.join(cdir, "server.pem"),
                    key=os.path.join(cdir, "server.key")))
            self.proc = subprocess.Popen(
                [NGINX, "-p", self.tmpdir, "-e",
                 os.path.join(self.tmpdir, "error.log"), "-c", conf],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE)
            if wait_for_port(self.port, 10.0, proc=self.proc):
                return self
            last_err = self.error_log()
            if self.proc.poll() is not None:
                last_err += self.proc.stderr.read().decode("utf-8", "replace")
            self.stop()
        raise RuntimeError("nginx did not start: %s" % last_err)

    def error_log(self):
        try:
            with open(os.path.join(self.tmpdir, "error.log")) as f:
                return f.read()
        except (OSError, TypeError):
            return ""

    def stop(self):
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.terminate()
                try:
                    self.proc.wait(5)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait()
            if self.proc.stderr:
                self.proc.stderr.close()
            self.proc = None
        if self.tmpdir:
            shutil.rmtree(self.tmpdir, ignore_errors=True)
            self.tmpdir = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
        return False


def chat_env(extra=None):
    env = {k: v for k, v in os.environ.items() if k not in SCRUBBED_ENV}
    if extra:
        env.update(extra)
    return env


def run_chat(args, input=None, timeout=30, env=None, binary=None):
    """Run llmc-chat with args; return (returncode, stdout bytes, stderr text).

    env: extra environment variables (OPENAI_* from the caller's environment
    are removed first so tests are hermetic). binary: another build of the
    CLI than chat_binary()."""
    cmd = [binary or chat_binary()] + [a if isinstance(a, bytes) else str(a)
                                       for a in args]
    p = subprocess.run(cmd, input=input, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=timeout,
                       env=chat_env(env),
                       stdin=None if input is not None else subprocess.DEVNULL)
    return p.returncode, p.stdout, p.stderr.decode("utf-8", "replace")


def size_content(n):
    """The content the server produces for scenario option size=N."""
    pattern = "0123456789abcdefghijklmnopqrstuvwxyz\n"
    return (pattern * (n // len(pattern) + 1))[:n]


def scenario_model(name="test", **opts):
    """Build a model string carrying a scenario, e.g.
    scenario_model(framing="length") -> 'test?framing=length'."""
    if not opts:
        return name
    return name + "?" + urllib.parse.urlencode(opts)
