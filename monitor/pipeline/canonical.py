"""Canonical article URLs and the dedupe key of a feed entry.

Why: the same article reaches us under many spellings (tracking parameters, fragments, upper-case
hosts, default ports, Unicode hosts), and a feed may reuse GUIDs. One canonical spelling and one
stable key per entry are what make "polling twice yields no new article" true. Pure functions.
"""

from __future__ import annotations

import hashlib
import re
import string
from collections import Counter
from collections.abc import Iterable
from urllib.parse import SplitResult, unquote, urlsplit, urlunsplit

import idna

from monitor.errors import InvalidInputError

DEFAULT_PORTS = {"http": 80, "https": 443}
# Parameters that only say how a reader arrived (analytics, ad clicks, newsletters, shares).
TRACKING_PARAMS = frozenset(
    {
        "fbclid",
        "gclid",
        "dclid",
        "gbraid",
        "wbraid",
        "msclkid",
        "yclid",
        "twclid",
        "ttclid",
        "li_fat_id",
        "mc_cid",
        "mc_eid",
        "igshid",
        "igsh",
        "ref_src",
        "ref_url",
        "_hsenc",
        "_hsmi",
        "mkt_tok",
        "oly_anon_id",
        "oly_enc_id",
        "vero_id",
        "vero_conv",
        "_openstat",
        "__twitter_impression",
        "ncid",
        "cmpid",
        "wt.mc_id",
        "at_medium",
        "at_campaign",
        "spm",
        "xtor",
    }
)
TRACKING_PREFIXES = ("utm_", "pk_", "mtm_", "hsa_")
# Characters left as they are in a path or query; everything else is percent-encoded.
_PERCENT_ESCAPE = re.compile(r"%[0-9a-fA-F]{2}")
_LONE_PERCENT = re.compile(r"%(?![0-9a-fA-F]{2})")
_SAFE = frozenset(string.ascii_letters + string.digits + "-._~!$&'()*+,;=:@/?%")


class NotWebUrlError(InvalidInputError):
    """The value is not an absolute http(s) URL with a host, so it names no article."""


def canonical_url(url: str) -> str:
    """The one spelling of `url` used for storage and dedupe; raises `NotWebUrlError`."""
    parts = _split(url)
    host = _canonical_host(parts.hostname or "", url)
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    port = parts.port
    netloc = host if port in (None, DEFAULT_PORTS[parts.scheme]) else f"{host}:{port}"
    userinfo = parts.netloc.rpartition("@")[0]
    if userinfo:
        netloc = f"{userinfo}@{netloc}"
    path = _escape(parts.path) or "/"
    return urlunsplit((parts.scheme, netloc, path, _clean_query(parts.query), ""))


def is_tracking_param(name: str) -> bool:
    """True for parameters that identify a campaign or a click, not the resource."""
    key = unquote(name).strip().lower()
    return key in TRACKING_PARAMS or key.startswith(TRACKING_PREFIXES)


def _split(url: str) -> SplitResult:
    try:
        parts = urlsplit(url.strip())
        parts.port  # noqa: B018 - raises ValueError on a port that is not a number
    except ValueError as exc:
        raise NotWebUrlError(f"not a valid URL: {url!r} ({exc})") from exc
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS:
        raise NotWebUrlError(f"not an http(s) URL: {url!r}")
    if not parts.hostname:
        raise NotWebUrlError(f"URL has no host: {url!r}")
    return parts._replace(scheme=scheme)


def _canonical_host(host: str, url: str) -> str:
    """Lower-case ASCII; Unicode labels as IDNA 2008 punycode (UTS 46 mapping)."""
    host = host.rstrip(".").lower()
    if host.isascii():
        return host
    try:
        return idna.encode(host, uts46=True).decode("ascii")
    except idna.IDNAError as exc:
        raise NotWebUrlError(f"invalid international host name in {url!r}: {exc}") from exc


def _escape(text: str) -> str:
    """Percent-encode unsafe characters (spaces, non-ASCII) and upper-case existing escapes."""
    text = _LONE_PERCENT.sub("%25", text)
    text = _PERCENT_ESCAPE.sub(lambda m: m.group(0).upper(), text)
    if all(char in _SAFE for char in text):
        return text
    return "".join(
        char if char in _SAFE else "".join(f"%{byte:02X}" for byte in char.encode("utf-8"))
        for char in text
    )


def _clean_query(query: str) -> str:
    """Drop tracking parameters; keep the others, spelled and ordered as given."""
    kept = [
        pair for pair in query.split("&") if pair and not is_tracking_param(pair.partition("=")[0])
    ]
    return _escape("&".join(kept))


def shared_guids(guids: Iterable[str | None], feed_urls: Iterable[str | None] = ()) -> set[str]:
    """GUIDs that cannot tell entries apart: repeated within the document, or the feed's own URL.

    Some feeds give every item one GUID (often the feed or home-page URL); keyed by GUID alone,
    every item after the first would be lost as a "duplicate".
    """
    counts = Counter(guid for guid in guids if guid)
    shared = {guid for guid, count in counts.items() if count > 1}
    own = {url.strip() for url in feed_urls if url}
    return shared | (set(counts) & own)


def dedupe_key(
    guid: str | None,
    link: str | None,
    title: str | None,
    content: str | None,
    *,
    guid_is_shared: bool = False,
) -> str:
    """Stable identity of an entry within its feed: GUID -> GUID|link -> link -> title+content.

    As in Miniflux, a GUID wins; a GUID that `shared_guids` found unreliable is combined with the
    link; without a GUID the canonical link is used; with neither, a hash of the text. The kind is
    kept as a readable prefix so a stored key explains itself.
    """
    guid = (guid or "").strip()
    link = (link or "").strip()
    if guid and not guid_is_shared:
        return _key("guid", guid)
    if guid and link:
        return _key("guid+link", f"{guid}|{link}")
    if link:
        return _key("link", link)
    text = " ".join(f"{title or ''}\n{content or ''}".split())
    return _key("guid+text" if guid else "text", f"{guid}|{text}" if guid else text)


def _key(kind: str, value: str) -> str:
    return f"{kind}:{hashlib.sha256(value.encode('utf-8', 'surrogatepass')).hexdigest()}"
