"""Links in a message: one-click unsubscribe, tracked clicks and the open pixel.

Every link carries a token signed with the workspace secret (tenure.tokens), so the server can
trust the customer and message it names without a lookup table, and a forged one changes nothing.
Routes served by `tenure serve`: /u/{token} (unsubscribe), /t/c/{token} (click, redirects to the
signed URL), /t/o/{token} (open pixel).
"""

from __future__ import annotations

import html as htmllib
import re

from tenure import tokens

# An <a ...> start tag (quoted attribute values may hold '>') and, inside it, its href value.
_A_TAG = re.compile(r"""<a\b(?:[^>"']|"[^"]*"|'[^']*')*>""", re.IGNORECASE)
_HREF = re.compile(r"""(\bhref\s*=\s*)("[^"]*"|'[^']*'|[^\s"'>]+)""", re.IGNORECASE)
_BODY_END = re.compile(r"</body\s*>", re.IGNORECASE)


def _base(public_url: str) -> str:
    return public_url.rstrip("/")


def unsubscribe_url(public_url: str, secret: str, *, key: str, customer_id: str) -> str | None:
    """`{public_url}/u/{token}`; None when there is no public URL to serve it."""
    if not public_url:
        return None
    token = tokens.sign(secret, "unsubscribe", {"k": key, "c": customer_id})
    return f"{_base(public_url)}/u/{token}"


def track_html(html: str, *, public_url: str, secret: str, key: str, customer_id: str) -> str:
    """Route every http(s) link of `<a>` tags through the click tracker and add an open pixel.

    mailto:, tel:, anchors and links already on `public_url` (the unsubscribe link, tracked
    links) are left alone: an unsubscribe must never depend on the tracker. Without a public URL
    there is no tracker: the HTML is returned unchanged."""
    if not public_url:
        return html
    base = _base(public_url)

    def rewrite_href(m: re.Match) -> str:
        quoted = m.group(2)
        raw = quoted[1:-1] if quoted[:1] in "\"'" else quoted
        url = htmllib.unescape(raw).strip()
        if not url.lower().startswith(("http://", "https://")) or url.startswith(base + "/"):
            return m.group(0)
        token = tokens.sign(secret, "click", {"k": key, "c": customer_id, "u": url})
        return f'{m.group(1)}"{base}/t/c/{token}"'

    def rewrite_tag(m: re.Match) -> str:
        return _HREF.sub(rewrite_href, m.group(0), count=1)

    out = _A_TAG.sub(rewrite_tag, html)
    pixel_token = tokens.sign(secret, "open", {"k": key, "c": customer_id})
    pixel = (f'<img src="{base}/t/o/{pixel_token}" width="1" height="1" alt="" '
             'style="display:block;border:0;width:1px;height:1px">')
    ends = list(_BODY_END.finditer(out))
    if not ends:
        return out + pixel
    at = ends[-1].start()
    return out[:at] + pixel + out[at:]


def list_unsubscribe_headers(*, unsubscribe_url: str | None, mailto: str = "") -> dict[str, str]:
    """List-Unsubscribe (RFC 2369) with the link and/or the mailto form; List-Unsubscribe-Post
    (RFC 8058 one-click) only when there is an http(s) link for the mail client to POST to."""
    parts, headers = [], {}
    web = bool(unsubscribe_url) and unsubscribe_url.lower().startswith(("https://", "http://"))
    if web:
        parts.append(f"<{unsubscribe_url}>")
    if mailto:
        address = mailto.removeprefix("mailto:")
        parts.append(f"<mailto:{address}?subject=unsubscribe>")
    if parts:
        headers["List-Unsubscribe"] = ", ".join(parts)
    if web:
        headers["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    return headers
