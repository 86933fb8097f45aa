"""Real servers for channel tests: an SMTP sink (aiosmtpd) and an HTTP sink (http.server).

Both listen on 127.0.0.1 and a free port, run in a thread, record what they receive in a
thread-safe list, and are context managers. Failures are programmable (SMTP replies for the next
N messages, a queue of HTTP statuses and delays), so error mapping, retries and crashes can be
tested against the real protocol rather than a mock.
"""

from __future__ import annotations

import email
import email.message
import email.policy
import json
import socket
import ssl
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Certs:
    """A throw-away CA (trustme) and a server certificate for 127.0.0.1 and localhost."""

    def __init__(self, folder: Path) -> None:
        import trustme

        self.ca = trustme.CA()
        cert = self.ca.issue_cert("127.0.0.1", "localhost")
        self.server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        cert.configure_cert(self.server_context)
        self.ca_file = Path(folder) / "test-ca.pem"
        self.ca.cert_pem.write_to_path(str(self.ca_file))


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    message: email.message.EmailMessage
    raw: bytes
    tls: bool               # the connection was encrypted (implicit TLS or after STARTTLS)
    login: str | None       # the user name that authenticated, if any
    session: int            # one number per SMTP connection

    @property
    def message_id(self) -> str | None:
        return self.message["Message-ID"]


class SmtpSink:
    """aiosmtpd on 127.0.0.1. `tls_context` alone: implicit TLS; with `require_starttls`: STARTTLS
    offered and required before MAIL. `auth=(user, password)`: login required. `fail_with="451 try
    later"`: the reply to the next `fail_times` messages, at MAIL, RCPT or DATA (`fail_at`)."""

    def __init__(self, *, tls_context: ssl.SSLContext | None = None, require_starttls: bool = False,
                 auth: tuple[str, str] | None = None, fail_with: str | None = None, fail_times: int = 1,
                 fail_at: str = "data") -> None:
        self.port = free_port()
        self._tls, self._starttls, self._auth = tls_context, require_starttls, auth
        self._lock = threading.Lock()
        self._messages: list[Received] = []
        self.events: list[tuple[str, str]] = []  # ("rcpt", address), ("data", message-id), in order
        self._failures: list[tuple[str, str]] = []
        self._connections = 0
        self.controller: Controller | None = None
        if fail_with:
            self.fail_next(fail_with, times=fail_times, at=fail_at)

    def fail_next(self, reply: str, *, times: int = 1, at: str = "data") -> None:
        assert at in ("mail", "rcpt", "data")
        with self._lock:
            self._failures += [(at, reply)] * times

    def _failure(self, at: str) -> str | None:
        with self._lock:
            if self._failures and self._failures[0][0] == at:
                return self._failures.pop(0)[1]
        return None

    def _session(self, session) -> int:
        # Numbered on the session object itself: id() of a closed session can be reused.
        if getattr(session, "sink_number", None) is None:
            with self._lock:
                self._connections += 1
                session.sink_number = self._connections
        return session.sink_number

    # aiosmtpd handler hooks
    async def handle_MAIL(self, server, session, envelope, address, mail_options):
        failure = self._failure("mail")
        if failure:
            return failure
        envelope.mail_from, envelope.mail_options = address, list(mail_options)
        return "250 OK"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        failure = self._failure("rcpt")
        if failure:
            return failure
        envelope.rcpt_tos.append(address)
        with self._lock:
            self.events.append(("rcpt", address))
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        failure = self._failure("data")
        if failure:
            return failure
        raw = envelope.original_content or envelope.content
        message = email.message_from_bytes(raw, policy=email.policy.default)
        tls = server.transport.get_extra_info("ssl_object") is not None
        login = session.auth_data if session.authenticated else None
        number = self._session(session)
        with self._lock:
            self._messages.append(Received(envelope.mail_from, list(envelope.rcpt_tos), message, raw, tls, login,
                                           number))
            self.events.append(("data", message["Message-ID"]))
        return "250 OK queued"

    def _authenticate(self, server, session, envelope, mechanism, auth_data) -> AuthResult:
        ok = (auth_data.login.decode(), auth_data.password.decode()) == self._auth
        # handled=False: aiosmtpd itself answers a refusal with 535.
        return AuthResult(success=ok, handled=False, auth_data=auth_data.login.decode() if ok else None)

    def start(self) -> SmtpSink:
        kwargs: dict = {"server_hostname": "sink.test"}
        if self._tls is not None and self._starttls:
            kwargs.update(tls_context=self._tls, require_starttls=True)
        elif self._tls is not None:
            kwargs.update(ssl_context=self._tls)
        if self._auth:
            # aiosmtpd sees STARTTLS but not implicit TLS as encryption: allow AUTH on the latter.
            kwargs.update(authenticator=self._authenticate, auth_required=True,
                          auth_require_tls=self._starttls)
        self.controller = Controller(self, hostname="127.0.0.1", port=self.port, **kwargs)
        self.controller.start()
        return self

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None

    def restart(self) -> None:
        """Stop (dropping every open connection) and listen again on the same port."""
        self.stop()
        self.start()

    def __enter__(self) -> SmtpSink:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def messages(self) -> list[Received]:
        with self._lock:
            return list(self._messages)

    def message_ids(self) -> list[str]:
        return [m.message_id for m in self.messages]


@dataclass
class Reply:
    status: int = 200
    body: bytes | str | dict | list = b""
    delay: float = 0.0            # seconds before answering (longer than the client's timeout: a timeout)


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    at: float = field(default_factory=time.monotonic)

    def header(self, name: str) -> str | None:
        return next((v for k, v in self.headers.items() if k.lower() == name.lower()), None)

    def json(self):
        return json.loads(self.body)


class HttpSink:
    """ThreadingHTTPServer on 127.0.0.1. Each request is recorded, then answered by the next of
    `replies` (an int status or a Reply), or by `default` once they run out."""

    def __init__(self, replies=(), *, default: int | Reply = 200) -> None:
        self._lock = threading.Lock()
        self._queue = [r if isinstance(r, Reply) else Reply(r) for r in replies]
        self._default = default if isinstance(default, Reply) else Reply(default)
        self._requests: list[Request] = []
        self.server: ThreadingHTTPServer | None = None

    def reply(self, *replies: int | Reply) -> None:
        with self._lock:
            self._queue += [r if isinstance(r, Reply) else Reply(r) for r in replies]

    def _handle(self, handler: BaseHTTPRequestHandler) -> None:
        length = int(handler.headers.get("Content-Length") or 0)
        request = Request(handler.command, handler.path, dict(handler.headers.items()), handler.rfile.read(length))
        with self._lock:
            self._requests.append(request)
            reply = self._queue.pop(0) if self._queue else self._default
        if reply.delay:
            time.sleep(reply.delay)
        body = reply.body
        if isinstance(body, (dict, list)):
            body = json.dumps(body)
        body = body.encode() if isinstance(body, str) else body
        try:
            handler.send_response(reply.status)
            handler.send_header("Content-Type", "application/json" if body[:1] in (b"{", b"[") else "text/plain")
            handler.send_header("Content-Length", str(len(body)))
            handler.end_headers()
            handler.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):  # the client gave up (a timeout test)
            pass

    def __enter__(self) -> HttpSink:
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                sink._handle(self)

            do_GET = do_PUT = do_PATCH = do_DELETE = do_POST

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    @property
    def requests(self) -> list[Request]:
        with self._lock:
            return list(self._requests)
