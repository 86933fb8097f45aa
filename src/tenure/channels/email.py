"""Email channel over SMTP (smtplib): one connection kept open across a batch.

Each send is one SMTP transaction: MAIL FROM, RCPT TO, then `in_flight()`, then DATA. Replies:
2xx sent; 4xx, a dropped connection or a timeout retry; 5xx at RCPT or DATA failed (a bad
recipient, content refused). A connection dropped before `in_flight()` (a stale connection) is
reopened once and the message tried again; one dropped after it is reported as retry, never
resent within the call, since it may have arrived.

A wrong setting is not a message's fault, so it raises ConfigError (the batch stops, every
message stays pending) rather than failing messages one by one: `security = "starttls"` and a
server that does not offer STARTTLS (no mail is ever sent in clear text then), a refused login
or certificate, a sender address the server refuses. `open()` also raises TenureError when the
server cannot be reached at all.

The Message-ID is `<{key}@{domain of from_address}>`: the same message sent again (after a crash,
with messaging.resend_unknown) carries the same id, so a receiver or a mailbox can spot the copy.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import smtplib
import ssl
from collections.abc import Callable
import io
from email import generator
from email.charset import QP, Charset
from email.header import Header
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.policy import compat32
from email.utils import format_datetime, formataddr

from tenure.channels.base import Message, Outcome
from tenure.channels.settings import EmailSettings
from tenure.errors import ConfigError, TenureError


# The classic MIME classes (compat32), not EmailMessage with policy.SMTP: the same message
# built and serialised in 0.7 ms instead of 3.8 ms, which is most of a dispatcher's own time per
# email. compat32 does not refuse a line break in a header, so _header does.
_UTF8 = Charset("utf-8")
_UTF8.body_encoding = QP  # quoted-printable: bodies stay readable in the raw message
_WIRE = compat32.clone(linesep="\r\n", max_line_length=998)  # RFC 5322 limit: a long link stays whole


def _header(name: str, value: str) -> str | Header:
    if "\r" in value or "\n" in value:
        raise ValueError(f"header {name!r} contains a line break")
    return value if value.isascii() else Header(value, "utf-8")


def wire(msg: MIMEMultipart | MIMEText) -> bytes:
    """The message as it goes over SMTP: CRLF line ends."""
    buf = io.BytesIO()
    generator.BytesGenerator(buf, mangle_from_=False, policy=_WIRE).flatten(msg)
    return buf.getvalue()


def message_id(key: str, from_address: str) -> str:
    domain = from_address.rpartition("@")[2] or "tenure"
    return f"<{re.sub(r'[^A-Za-z0-9._-]', '-', key)}@{domain}>"


class EmailChannel:
    name = "email"

    def __init__(self, settings: EmailSettings, *, password: str | None = None,
                 clock: Callable[[], dt.datetime] | None = None) -> None:
        self.settings = settings
        self._password = password if password is not None else os.environ.get(settings.password_env, "")
        self._clock = clock or (lambda: dt.datetime.now(dt.timezone.utc))
        self._conn: smtplib.SMTP | None = None

    @property
    def _where(self) -> str:
        return f"the SMTP server at {self.settings.host}:{self.settings.port}"

    def open(self) -> None:
        if self._conn is None:
            try:
                self._conn = self._connect()
            except OSError as exc:
                raise TenureError(f"email: cannot reach {self._where}: {exc}",
                                  fix="check email.host, email.port and email.security") from None

    def _connect(self) -> smtplib.SMTP:
        """A ready connection. Raises ConfigError for a setting's fault, OSError for the network's."""
        s = self.settings
        if s.username and not self._password:
            raise ConfigError(f"email.username is set but the environment variable {s.password_env} is not",
                              fix=f"export {s.password_env}=<the SMTP password>")
        context = ssl.create_default_context(cafile=s.ca_file or None)
        try:
            if s.security == "tls":
                conn = smtplib.SMTP_SSL(s.host, s.port, timeout=s.timeout_seconds, context=context)
            else:
                conn = smtplib.SMTP(s.host, s.port, timeout=s.timeout_seconds)
        except ssl.SSLCertVerificationError as exc:
            raise self._untrusted(exc) from None
        try:
            conn.ehlo()
            if s.security == "starttls":
                if not conn.has_extn("starttls"):
                    raise ConfigError(f"email: {self._where} does not offer STARTTLS; nothing is sent in clear text",
                                      fix='use security = "tls" (port 465), or "none" only for a relay on this machine')
                conn.starttls(context=context)
                conn.ehlo()
            if s.username:
                conn.login(s.username, self._password)
        except ssl.SSLCertVerificationError as exc:
            conn.close()
            raise self._untrusted(exc) from None
        except (smtplib.SMTPAuthenticationError, smtplib.SMTPNotSupportedError) as exc:
            conn.close()
            raise ConfigError(f"email: {self._where} refused the login of {s.username!r}: {_reply(exc)}",
                              fix=f"check email.username and the password in ${s.password_env}") from None
        except BaseException:
            conn.close()
            raise
        return conn

    def _untrusted(self, exc: ssl.SSLCertVerificationError) -> ConfigError:
        return ConfigError(f"email: the certificate of {self._where} is not trusted: {exc.verify_message}",
                           fix="check email.host, or set email.ca_file to the CA that signed it")

    def build(self, message: Message) -> MIMEMultipart | MIMEText:
        s = self.settings
        text = MIMEText(message.text, "plain", _UTF8)
        if message.html:
            msg = MIMEMultipart("alternative")
            msg.attach(text)
            msg.attach(MIMEText(message.html, "html", _UTF8))
        else:
            msg = text
        sender = formataddr((s.from_name, s.from_address), charset="utf-8") if s.from_name else s.from_address
        headers = {"From": sender, "To": message.recipient, "Subject": message.subject or "",
                   "Date": format_datetime(self._clock()), "Message-ID": message_id(message.key, s.from_address)}
        if s.reply_to:
            headers["Reply-To"] = s.reply_to
        headers.update(message.headers)
        for name, value in headers.items():
            msg[name] = _header(name, value)
        return msg

    def send(self, message: Message, in_flight: Callable[[], None]) -> Outcome:
        if not message.recipient:
            return Outcome("failed", "email: the customer has no email address")
        if not message.recipient.isascii():  # would need SMTPUTF8, which smtplib's commands do not speak
            return Outcome("failed", f"email: {message.recipient!r} is not an ASCII address")
        mid = message_id(message.key, self.settings.from_address)
        try:
            raw = wire(self.build(message))
        except ValueError as exc:  # a line break in a header value: refused rather than injected
            return Outcome("failed", f"email: cannot build the message: {exc}")
        flown = False

        def mark() -> None:
            nonlocal flown
            flown = True
            in_flight()

        attempt = 1
        while True:
            try:
                if self._conn is None:
                    self._conn = self._connect()
                return self._transaction(message.recipient, raw, mark, mid)
            except OSError as exc:  # smtplib's exceptions are OSErrors too
                self._drop()
                if flown:  # the server may have queued it before the line broke: not safe to resend
                    return Outcome("unknown", f"email: connection to {self._where} lost during DATA: {exc!r}")
                if attempt == 2:
                    return Outcome("retry", f"email: connection to {self._where} failed twice: {exc!r}")
                attempt += 1

    def _transaction(self, to: str, raw: bytes, mark: Callable[[], None], mid: str) -> Outcome:
        conn = self._conn
        code, reply = conn.mail(self.settings.from_address)
        if code >= 500:
            self._reset()
            raise ConfigError(f"email: {self._where} refuses the sender {self.settings.from_address}: "
                              f"{code} {_text(reply)}", fix="check email.from_address and email.username")
        if code != 250:
            return self._reset(_map(code, reply, "MAIL FROM"))
        code, reply = conn.rcpt(to)
        if code not in (250, 251):
            return self._reset(_map(code, reply, "RCPT TO"))
        mark()
        try:
            code, reply = conn.data(raw)
        except smtplib.SMTPDataError as exc:  # DATA itself refused (no 354): nothing was sent
            code, reply = exc.smtp_code, exc.smtp_error
            return self._reset(_map(code, reply, "DATA"))
        outcome = _map(code, reply, "DATA")
        return Outcome(outcome.status, outcome.detail, provider_id=mid if outcome.status == "sent" else None)

    def _reset(self, outcome: Outcome | None = None) -> Outcome | None:
        # End the refused transaction so the connection serves the next message.
        try:
            self._conn.rset()
        except OSError:
            self._drop()
        return outcome

    def _drop(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            finally:
                self._conn = None

    def close(self) -> None:
        if self._conn is not None:
            try:
                self._conn.quit()
            except OSError:
                pass
            self._drop()


def _text(reply) -> str:
    return (reply.decode(errors="replace") if isinstance(reply, bytes) else str(reply)).replace("\n", " ")


def _reply(exc: Exception) -> str:
    code, reply = getattr(exc, "smtp_code", ""), getattr(exc, "smtp_error", exc)
    return f"{code} {_text(reply)}".strip()


def _map(code: int, reply, stage: str) -> Outcome:
    detail = f"email: {stage}: {code} {_text(reply)}"
    if 200 <= code < 300:
        return Outcome("sent", detail)
    if 500 <= code < 600:
        return Outcome("failed", detail)
    return Outcome("retry", detail)
