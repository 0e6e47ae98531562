"""Full single sign-on logins per second over real HTTP, beside the raw cost of one signature.

The AMS (IdP/OP) and the LMS (SP/RP) run as real servers — ``sandbox serve ams|lms`` under gunicorn
(``gevent`` workers by default, ``--worker-class gthread`` for threads) on free 127.0.0.1 ports, over
one temporary SQLite database — and a pool of client processes plays browsers (cookies kept, redirects
followed, the AMS login form fetched and posted, the auto-submitting SAML form submitted). The browsers
are :class:`Browser`, a small HTTP/1.1 client on plain sockets with one keep-alive connection per host:
the clients share the two cores with the servers, so they are kept lean (``http.client`` cost 2.0 ms of
browser CPU per SAML sign-in and 1.15 per OIDC sign-in where these sockets cost 1.3 and 0.9; httpx cost
twice ``http.client``). One login is everything a person's browser does, ending on the LMS's ``/me``
probe:

- SAML (SP-initiated, HTTP-Redirect AuthnRequest signed by the LMS, HTTP-POST Response): LMS
  ``/login`` → AMS ``/saml/sso`` (the login form, served in place) → POST the form (answered with the
  auto-posting response) → POST LMS ``/saml/acs`` → LMS ``/me`` (5 requests);
- OIDC (code flow + PKCE): LMS ``/login`` → AMS ``/oidc/authorize`` (the login form) → POST the form
  (answered with the redirect to the callback) → LMS ``/oidc/callback`` (which calls the AMS token and
  userinfo endpoints) → LMS ``/me`` (7 requests, two of them LMS → AMS).

The AMS and the LMS each run one gevent worker: two server processes for two cores. gevent workers (a
greenlet per request, one thread) cost less CPU per request than thread workers: about 125 µs against
205 µs of gunicorn's own per request on a trivial app, and no contention for a process's GIL. Measured
on two cores, alternating configurations in one window (medians of three, logins/s, server CPU ms per
login in brackets):

=====================================  ==============  ==============
configuration (per app)                SAML            OIDC
=====================================  ==============  ==============
1 gevent worker (the default)          139 (12.2)      194 (7.7)
1 gthread worker, 3 threads            112 (15.0)      110 (12.5)
2 gthread workers, 3 threads each      110 (16.5)      142 (12.5)
=====================================  ==============  ==============

Against two gevent workers per app, alternating in another window: OIDC 173 and 190 against 149 and 161,
SAML 120 and 146 against 110 and 106.

Two workers per app put four server processes on two cores: each sign-in then costs a third more server
CPU, whatever the worker class (the processes time-share the cores). One thread worker cannot use more than
one core for its app (its GIL), and the AMS carries more than half of each sign-in. With ``--worker-class
gthread``, 3 threads per worker did best on two cores (against 2, 4 and 8; 8 threads cost about 20 %
more CPU per OIDC sign-in).

Each protocol runs three times; the printed table shows the median. Beside it, in the same run and process:

- ``sign_verify_inprocess``: one enveloped RSA-SHA256 signature by :class:`XmlsecBackend` plus one
  verification with python-xmlsec;
- ``sign_verify_xmlsec1``: the same through pysaml2's default backend (the ``xmlsec1`` binary, run per
  signature and per verification) — only when the binary is installed;
- ``saml_response_build``: a whole signed Response built by the tenant IdP (pysaml2 + our backend);
- ``id_token_sign_verify``: one RS256 ID token signed and verified with joserfc.

The machine is shared: numbers are noisy, which is why each login figure is a median of three runs.

Usage::

    .venv/bin/python benchmarks/sso.py [--seconds 10] [--clients 16] [--client-processes 2]
                                       [--workers 1] [--worker-class gevent] [--threads 3]

Results are printed and written to ``benchmarks/results/sso.json`` (``--results`` elsewhere).
"""

from __future__ import annotations

import argparse
import base64
import json
import multiprocessing
import os
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urljoin, urlsplit

import httpx
import psutil
import xmlsec
from lxml import etree

from simulator.ams.idp.saml.xmlsec_backend import XmlsecBackend, key_reference
from simulator.ams.idp.testing import form_fields
from simulator.config import SandboxConfig, load_config
from simulator.core.db import Database
from simulator.scenario.target import free_ports

RESULTS = Path(__file__).resolve().parent / "results" / "sso.json"
ADMIN_KEY = "bench-admin"
ADMIN = {"Authorization": f"Bearer {ADMIN_KEY}"}
TENANT = "bench"
EMAIL, PASSWORD = "active.member@demo.test", "demo"


def rate(action: Callable[[], Any], seconds: float) -> dict[str, float]:
    """Operations per second of ``action`` over about ``seconds`` (after one warm-up call)."""
    action()
    count, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        action()
        count += 1
    elapsed = time.perf_counter() - start
    return {
        "per_second": round(count / elapsed, 1),
        "ms_each": round(1000 * elapsed / count, 2),
        "runs": count,
    }


# --- raw costs, in process ----------------------------------------------------------------------------


def _unsigned_response(idp: Any, sp_entity: str) -> tuple[str, str]:
    info = idp.unsolicited(sp_entity)
    signed = base64.b64decode(
        idp.authn_response(info, {"email": "a@example.org"}, "M1", "a@example.org", 300)
    )
    root = etree.fromstring(signed)
    assertion = root.find("{urn:oasis:names:tc:SAML:2.0:assertion}Assertion")
    signature = assertion.find("{http://www.w3.org/2000/09/xmldsig#}Signature")
    for name in ("DigestValue", "SignatureValue"):
        signature.find(f".//{{http://www.w3.org/2000/09/xmldsig#}}{name}").text = ""
    return etree.tostring(root, encoding="unicode"), assertion.get("ID")


def _verify_inprocess(xml: str, node_id: str, certificate_pem: bytes) -> None:
    root = etree.fromstring(xml.encode())
    xmlsec.tree.add_ids(root, ["ID"])
    node = root.xpath("//*[@ID=$id]", id=node_id)[0]
    context = xmlsec.SignatureContext()
    context.key = xmlsec.Key.from_memory(certificate_pem, xmlsec.constants.KeyDataFormatCertPem)
    context.verify(node.find("{http://www.w3.org/2000/09/xmldsig#}Signature"))


def crypto_benchmarks(db: Database, ams_url: str, seconds: float) -> dict[str, Any]:
    """Raw signing costs, measured in this process against the benchmark tenant's active key."""
    from joserfc import jwt
    from joserfc.jwk import RSAKey

    from simulator.ams.idp import keys
    from simulator.ams.idp.registry import register_service_provider
    from simulator.ams.idp.saml.idp import tenant_idp
    from simulator.ams.idp.testing import SamlTestSp
    from simulator.core.settings import SsoSettings

    sp = SamlTestSp.create(ams_url, TENANT, [], entity_id="https://raw-sp.example.org/metadata")
    with db.session() as session:
        register_service_provider(session, TENANT, sp.metadata(), sign="assertion")
        key = keys.active_key(session, TENANT)
    idp = tenant_idp(db, TENANT, ams_url, SsoSettings())
    template, node_id = _unsigned_response(idp, sp.settings["sp"]["entityId"])
    backend = XmlsecBackend()
    results: dict[str, Any] = {}

    def inprocess() -> None:
        signed = backend.sign_statement(template, "", key_reference(key.kid), node_id)
        _verify_inprocess(signed, node_id, key.certificate_pem)

    results["sign_verify_inprocess"] = rate(inprocess, seconds)
    binary = shutil.which("xmlsec1")
    if binary:
        from saml2.sigver import CryptoBackendXmlSec1

        workdir = Path(tempfile.mkdtemp())
        key_file, cert_file = workdir / "key.pem", workdir / "cert.pem"
        key_file.write_bytes(key.private_key_pem)
        cert_file.write_bytes(key.certificate_pem)
        legacy = CryptoBackendXmlSec1(binary)
        node = "urn:oasis:names:tc:SAML:2.0:assertion:Assertion"

        def with_binary() -> None:
            signed = legacy.sign_statement(template, node, str(key_file), node_id)
            if not legacy.validate_signature(signed, str(cert_file), "pem", node, node_id):
                raise RuntimeError("xmlsec1 did not verify its own signature")

        results["sign_verify_xmlsec1"] = rate(with_binary, seconds)
        shutil.rmtree(workdir)
    else:
        results["sign_verify_xmlsec1"] = "skipped: the xmlsec1 binary is not installed"

    info = idp.unsolicited(sp.settings["sp"]["entityId"])
    attributes = {"email": "a@example.org", "member_type": "regular", "member_status": "active"}
    results["saml_response_build"] = rate(
        lambda: idp.authn_response(info, attributes, "M1", "a@x.org", 300), seconds
    )
    signing_key = RSAKey.import_key(key.private_key_pem.decode(), {"kid": key.kid})
    public_key = RSAKey.import_key(key.public_jwk())
    claims = {"iss": f"{ams_url}/t/{TENANT}", "sub": "M1", "aud": "client", "exp": 2**31, "iat": 0}
    results["id_token_sign_verify"] = rate(
        lambda: jwt.decode(jwt.encode({"alg": "RS256", "kid": key.kid}, claims, signing_key), public_key),
        seconds,
    )
    return results


# --- the servers ------------------------------------------------------------------------------------


def start_servers(config: SandboxConfig, workers: int, logdir: Path) -> list[subprocess.Popen[bytes]]:
    """``sandbox serve ams`` and ``sandbox serve lms`` (gunicorn), each in its own process group."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("SANDBOX_")}
    env.update(
        SANDBOX_DATA_DIR=str(config.data_dir),
        SANDBOX_ADMIN_KEY=ADMIN_KEY,
        SANDBOX_AMS_PORT=str(config.ams_port),
        SANDBOX_LMS_PORT=str(config.lms_port),
        SANDBOX_CONSOLE_PORT=str(config.console_port),
        SANDBOX_THREADS=str(config.threads),
        SANDBOX_WORKER_CLASS=config.worker_class,
        SANDBOX_LOG_LEVEL="WARNING",
    )
    processes = []
    for app in ("ams", "lms"):
        log = (logdir / f"{app}.log").open("wb")
        command = [sys.executable, "-m", "simulator.cli", "serve", app, "--workers", str(workers)]
        processes.append(
            subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        )
    deadline = time.monotonic() + 60
    for url in (config.ams_url, config.lms_url):
        while True:
            if any(process.poll() is not None for process in processes):
                stop_servers(processes)
                raise RuntimeError(f"a server exited during start-up; see {logdir}")
            try:
                if httpx.get(f"{url}/healthz", timeout=1.0).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                stop_servers(processes)
                raise RuntimeError(f"{url} did not answer within 60 s")
            time.sleep(0.2)
    return processes


def stop_servers(processes: list[subprocess.Popen[bytes]]) -> None:
    for process in processes:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
    for process in processes:
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


# --- the browsers -----------------------------------------------------------------------------------


REDIRECTS = frozenset({301, 302, 303, 307, 308})
MAX_REDIRECTS = 10


class Browser:
    """Just enough of a browser for a sign-in: keep-alive connections, cookies, redirects, form posts.

    Cookies are kept per host name (not port, as browsers do: the AMS and the LMS share 127.0.0.1) and
    sent on every request to that host; paths, expiry and attributes are not interpreted, which is
    enough here because every URL of a sign-in lies under ``/t/{tenant}/``. HTTP/1.1 is spoken on plain
    sockets (:class:`KeptAliveConnection`): the browsers share the two cores with the servers.
    """

    def __init__(self) -> None:
        self.connections: dict[str, KeptAliveConnection] = {}
        self.cookies: dict[str, dict[str, str]] = {}

    def close(self) -> None:
        for connection in self.connections.values():
            connection.close()

    def clear_cookies(self) -> None:
        self.cookies.clear()

    def request(self, method: str, url: str, form: dict[str, str] | None = None) -> tuple[int, str, str]:
        """Status, final URL and text after following redirects (303 and 302 turn a POST into a GET)."""
        for _ in range(MAX_REDIRECTS):
            status, location, text = self._send(method, url, form)
            if status not in REDIRECTS or location is None:
                return status, url, text
            url = urljoin(url, location)
            if status in (301, 302, 303):
                method, form = "GET", None
        raise RuntimeError(f"more than {MAX_REDIRECTS} redirects, last to {url}")

    def _send(self, method: str, url: str, form: dict[str, str] | None) -> tuple[int, str | None, str]:
        parts = urlsplit(url)
        jar = self.cookies.setdefault(parts.hostname or "", {})
        target = parts.path + (f"?{parts.query}" if parts.query else "")
        head = [f"{method} {target} HTTP/1.1", f"Host: {parts.netloc}"]
        if jar:
            head.append("Cookie: " + "; ".join(f"{name}={value}" for name, value in jar.items()))
        body = b""
        if form is not None:
            body = urlencode(form).encode("ascii")
            head += ["Content-Type: application/x-www-form-urlencoded", f"Content-Length: {len(body)}"]
        message = ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body
        for attempt in range(2):  # a kept-alive connection the server closed meanwhile is opened again
            connection = self.connections.get(parts.netloc)
            if connection is None:
                connection = self.connections[parts.netloc] = KeptAliveConnection(
                    parts.hostname or "127.0.0.1", parts.port or 80
                )
            try:
                status, headers, payload = connection.exchange(message)
                break
            except ConnectionError:
                connection.close()
                del self.connections[parts.netloc]
                if attempt:
                    raise
        if "close" in headers.get("connection", []):
            connection.close()
            del self.connections[parts.netloc]
        for header in headers.get("set-cookie", []):
            name, _, rest = header.partition("=")
            jar[name.strip()] = rest.split(";", 1)[0]
        location = headers.get("location")
        return status, location[0] if location else None, payload.decode()


class KeptAliveConnection:
    """One HTTP/1.1 connection: send a request, read one response (``Content-Length`` bodies only, which
    is what the sandbox's apps send)."""

    def __init__(self, host: str, port: int) -> None:
        self.socket = socket.create_connection((host, port), timeout=30)
        self.socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buffer = b""

    def close(self) -> None:
        self.socket.close()

    def exchange(self, message: bytes) -> tuple[int, dict[str, list[str]], bytes]:
        """Status, headers (lower-case names, every value) and body of the response to ``message``."""
        self.socket.sendall(message)
        while b"\r\n\r\n" not in self.buffer:
            self._receive()
        head, _, self.buffer = self.buffer.partition(b"\r\n\r\n")
        status_line, *lines = head.decode("latin-1").split("\r\n")
        headers: dict[str, list[str]] = {}
        for line in lines:
            name, _, value = line.partition(":")
            headers.setdefault(name.strip().lower(), []).append(value.strip())
        if "content-length" not in headers:
            raise RuntimeError(f"a response without Content-Length: {status_line}")
        length = int(headers["content-length"][0])
        while len(self.buffer) < length:
            self._receive()
        body, self.buffer = self.buffer[:length], self.buffer[length:]
        return int(status_line.split(" ", 2)[1]), headers, body

    def _receive(self) -> None:
        chunk = self.socket.recv(65536)
        if not chunk:
            raise ConnectionError("the server closed the connection")
        self.buffer += chunk


def browser_login(browser: Browser, lms_url: str, protocol: str) -> None:
    """One whole sign-in as a browser does it, from the LMS's /login to its /me probe."""
    browser.clear_cookies()
    status, url, page = browser.request("GET", f"{lms_url}/t/{TENANT}/login?return_to=/t/{TENANT}/me")
    if status != 200 or 'name="password"' not in page:
        raise RuntimeError(f"expected the AMS login form, got {status} at {url}")
    action, fields = form_fields(page)
    fields.update({"email": EMAIL, "password": PASSWORD})
    status, url, landed = browser.request("POST", urljoin(url, action), fields)
    if protocol == "saml":
        action, fields = form_fields(landed)
        status, url, landed = browser.request("POST", action, fields)
    if status != 200 or json.loads(landed).get("email") != EMAIL:
        raise RuntimeError(f"the sign-in did not land on /me: {status} {landed[:300]}")


def _client_thread(lms_url: str, protocol: str, stop_at: float, counts: list[int], errors: list[str]) -> None:
    browser = Browser()
    try:
        while time.monotonic() < stop_at:
            try:
                browser_login(browser, lms_url, protocol)
            except (OSError, RuntimeError, AssertionError, ValueError) as exc:
                errors.append(f"{type(exc).__name__}: {exc}")
                continue
            counts.append(1)
    finally:
        browser.close()


def _client_process(
    lms_url: str, protocol: str, threads: int, start_at: float, seconds: float
) -> tuple[int, list[str], float]:
    time.sleep(max(0.0, start_at - time.time()))
    cpu_before = time.process_time()
    stop_at = time.monotonic() + seconds
    counts: list[int] = []
    errors: list[str] = []
    workers = [
        threading.Thread(target=_client_thread, args=(lms_url, protocol, stop_at, counts, errors))
        for _ in range(threads)
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return len(counts), errors[:5], time.process_time() - cpu_before


def server_cpu_seconds(servers: list[subprocess.Popen[bytes]]) -> float:
    """CPU time (user + system) used so far by the server processes and their gunicorn workers."""
    total = 0.0
    for server in servers:
        root = psutil.Process(server.pid)
        for process in [root, *root.children(recursive=True)]:
            try:
                times = process.cpu_times()
            except psutil.NoSuchProcess:
                continue
            total += times.user + times.system
    return total


def login_rate(
    pool: Any,
    servers: list[subprocess.Popen[bytes]],
    lms_url: str,
    protocol: str,
    clients: int,
    processes: int,
    seconds: float,
) -> dict[str, Any]:
    """Logins per second of ``clients`` concurrent browsers spread over ``processes`` processes.

    Also reports the CPU milliseconds per login spent by the servers and by the browsers: on a machine
    with two cores, their sum bounds the rate (2000 ms of CPU per second at most).
    """
    start_at = time.time() + 0.5
    server_cpu = server_cpu_seconds(servers)
    shares = [clients // processes + (1 if i < clients % processes else 0) for i in range(processes)]
    jobs = [
        pool.apply_async(_client_process, (lms_url, protocol, share, start_at, seconds)) for share in shares
    ]
    done = [job.get() for job in jobs]
    server_cpu = server_cpu_seconds(servers) - server_cpu
    logins = sum(count for count, _, _ in done)
    client_cpu = sum(cpu for _, _, cpu in done)
    errors = [error for _, found, _ in done for error in found]
    if errors:
        print(f"  {protocol}: {len(errors)} failed sign-ins, e.g. {errors[0]}", file=sys.stderr)
    return {
        "per_second": round(logins / seconds, 1),
        "logins": logins,
        "errors": len(errors),
        "server_cpu_ms_per_login": round(1000 * server_cpu / max(logins, 1), 2),
        "client_cpu_ms_per_login": round(1000 * client_cpu / max(logins, 1), 2),
    }


def configure_tenant(console: Any, config: SandboxConfig) -> None:
    created = console.post("/api/tenants", json={"id": TENANT}, headers=ADMIN)
    if created.status_code != 201:
        raise RuntimeError(f"could not create the tenant: {created.get_json()}")


def register_lms(console: Any, config: SandboxConfig) -> None:
    registered = console.post(
        f"/api/tenants/{TENANT}/saml/service-providers",
        json={"metadata_url": f"{config.lms_url}/t/{TENANT}/saml/metadata"},
        headers=ADMIN,
    )
    if registered.status_code != 201:
        raise RuntimeError(f"could not register the LMS as SP: {registered.get_json()}")


def set_protocol(console: Any, protocol: str) -> None:
    patched = console.patch(
        f"/api/tenants/{TENANT}/settings", json={"sso": {"protocol": protocol}}, headers=ADMIN
    )
    if patched.status_code != 200:
        raise RuntimeError(f"could not switch to {protocol}: {patched.get_json()}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="Time per login run (three runs each).")
    parser.add_argument("--raw-seconds", type=float, default=2.0, help="Time per in-process measurement.")
    parser.add_argument("--clients", type=int, default=16, help="Concurrent browsers.")
    parser.add_argument("--client-processes", type=int, default=2, help="Processes the browsers run in.")
    parser.add_argument("--workers", type=int, default=1, help="gunicorn worker processes per app.")
    parser.add_argument(
        "--worker-class", choices=["gevent", "gthread"], default="gevent", help="gunicorn worker class."
    )
    parser.add_argument("--threads", type=int, default=3, help="Threads per gthread worker.")
    parser.add_argument("--runs", type=int, default=3, help="Runs per protocol (the median is reported).")
    parser.add_argument("--protocols", default="saml,oidc", help="Comma-separated: saml, oidc.")
    parser.add_argument("--results", type=Path, default=RESULTS, help="Where to write the JSON results.")
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="sso-bench-"))
    ams_port, lms_port, console_port = free_ports(3)
    config = load_config(
        env={},
        overrides={
            "data_dir": str(workdir),
            "admin_key": ADMIN_KEY,
            "ams_port": ams_port,
            "lms_port": lms_port,
            "console_port": console_port,
            "threads": args.threads,
            "worker_class": args.worker_class,
        },
    )
    db = Database(config.resolved_database_url)
    db.upgrade()
    from simulator.console.app import create_app as create_console

    console = create_console(config, db).test_client()
    configure_tenant(console, config)
    servers = start_servers(config, args.workers, workdir)
    results: dict[str, Any] = {
        "machine": {
            "python": platform.python_version(),
            "processor": platform.machine(),
            "cpus": os.cpu_count(),
        },
        "setup": {
            "transport": f"real HTTP on 127.0.0.1 (gunicorn {args.worker_class}), socket browsers "
            "(keep-alive)",
            "database": "SQLite (WAL) in a temporary directory",
            "ams_lms_workers": args.workers,
            "worker_class": args.worker_class,
            "threads_per_worker": args.threads if args.worker_class == "gthread" else None,
            "clients": args.clients,
            "client_processes": args.client_processes,
            "seconds_per_run": args.seconds,
            "runs": args.runs,
        },
    }
    try:
        register_lms(console, config)
        context = multiprocessing.get_context("spawn")
        with context.Pool(args.client_processes) as pool:
            for protocol in args.protocols.split(","):
                set_protocol(console, protocol)
                warm = Browser()
                browser_login(warm, config.lms_url, protocol)
                warm.close()
                runs = [
                    login_rate(
                        pool,
                        servers,
                        config.lms_url,
                        protocol,
                        args.clients,
                        args.client_processes,
                        args.seconds,
                    )
                    for _ in range(args.runs)
                ]
                results[f"{protocol}_logins_http"] = {
                    "per_second_median": statistics.median(run["per_second"] for run in runs),
                    "server_cpu_ms_per_login_median": statistics.median(
                        run["server_cpu_ms_per_login"] for run in runs
                    ),
                    "client_cpu_ms_per_login_median": statistics.median(
                        run["client_cpu_ms_per_login"] for run in runs
                    ),
                    "runs": runs,
                }
        results.update(crypto_benchmarks(db, config.ams_url, args.raw_seconds))
    finally:
        stop_servers(servers)
        db.dispose()
        shutil.rmtree(workdir, ignore_errors=True)
    args.results.parent.mkdir(parents=True, exist_ok=True)
    args.results.write_text(json.dumps(results, indent=2) + "\n")
    print_table(results)


def print_table(results: dict[str, Any]) -> None:
    print(f"{'measurement':34} {'per second':>12}  notes")
    for name in ("saml_logins_http", "oidc_logins_http"):
        if name in results:
            result = results[name]
            runs = ", ".join(str(run["per_second"]) for run in result["runs"])
            print(
                f"{name:34} {result['per_second_median']:>12}  median of {runs}; CPU ms per login: "
                f"servers {result['server_cpu_ms_per_login_median']}, "
                f"browsers {result['client_cpu_ms_per_login_median']}"
            )
    for name in (
        "sign_verify_inprocess",
        "sign_verify_xmlsec1",
        "saml_response_build",
        "id_token_sign_verify",
    ):
        value = results.get(name)
        if isinstance(value, dict):
            print(f"{name:34} {value['per_second']:>12}  {value['ms_each']} ms each")
        elif value is not None:
            print(f"{name:34} {'-':>12}  {value}")


if __name__ == "__main__":
    main()
