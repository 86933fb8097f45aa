"""One HTTP POST with retries, shared by the SMS, webhook and task channels.

2xx is sent. 5xx, 408, 429, timeouts and connection errors are transient: tried again with
exponential backoff up to `attempts` times, then left to a later run (Outcome retry). Any other
status (4xx, an unfollowed redirect) is final: the same request would be refused again.
"""

from __future__ import annotations

import httpx
from tenacity import Retrying, retry_if_exception_type, stop_after_attempt, wait_exponential

from tenure.channels.base import Outcome
from tenure.errors import ConfigError

_TRANSIENT_4XX = (408, 429)  # request timeout, rate limited: the provider asks us to come back


class _Transient(Exception):
    pass


def check_url(url: str, setting: str) -> None:
    if not url.lower().startswith(("http://", "https://")):
        raise ConfigError(f"{setting} is {url!r}, not an http(s) URL", fix=f"set {setting} in tenure.toml")


def post(client: httpx.Client, url: str, *, label: str, attempts: int, backoff: float,
         **request) -> tuple[Outcome, httpx.Response | None]:
    """POST `request` (content/json/data/headers/auth) to `url`; the Outcome and the last response."""
    tries = 0

    def once() -> httpx.Response:
        nonlocal tries
        tries += 1
        response = client.post(url, **request)
        if response.status_code >= 500 or response.status_code in _TRANSIENT_4XX:
            raise _Transient(f"{response.status_code} {response.reason_phrase}")
        return response

    retrying = Retrying(stop=stop_after_attempt(attempts), wait=wait_exponential(multiplier=backoff, max=60),
                        retry=retry_if_exception_type((_Transient, httpx.TransportError)), reraise=True)
    try:
        response = retrying(once)
    except _Transient as exc:
        return Outcome("retry", f"{label}: {exc} after {tries} attempt(s)"), None
    except httpx.TransportError as exc:
        return Outcome("retry", f"{label}: {type(exc).__name__} {exc} after {tries} attempt(s)".strip()), None
    if response.is_success:
        return Outcome("sent", f"{label}: {response.status_code} after {tries} attempt(s)"), response
    reply = " ".join(response.text.split())[:200]
    detail = f"{label}: {response.status_code} {response.reason_phrase}" + (f": {reply}" if reply else "")
    return Outcome("failed", detail), response
