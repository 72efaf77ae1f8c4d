"""Connection URLs as they may be shown: every password replaced by `****`."""

from __future__ import annotations

import re

MASK = "****"

# `?password=...` / `&passwd=...` style secrets in the query string.
_QUERY_SECRET = re.compile(r"([?&](?:password|passwd|pwd|pass)=)[^&#]*", re.IGNORECASE)


def mask_url(url: str) -> str:
    """`url` with the password of its user info and any password query parameter masked.

    `redis://:s3cret@host:6379/0` -> `redis://:****@host:6379/0`;
    `mysql+pymysql://app:s3cret@db/legacy` -> `mysql+pymysql://app:****@db/legacy`.
    When in doubt (a password with unencoded `/`, `?` or `@`), more is masked, never less.
    """
    scheme, sep, rest = url.partition("://")
    if not sep:
        return _QUERY_SECRET.sub(r"\1" + MASK, url)
    netloc_end = min((i for i in (rest.find(c) for c in "/?#") if i >= 0), default=len(rest))
    at = rest.rfind("@", 0, netloc_end)
    if at < 0:
        # No user info in the host part; a password holding `/`, `?` or `#` still ends at an `@`.
        at = rest.rfind("@")
    if at >= 0:
        user, colon, password = rest[:at].partition(":")
        if colon and password:
            rest = f"{user}:{MASK}{rest[at:]}"
    return scheme + sep + _QUERY_SECRET.sub(r"\1" + MASK, rest)


def secrets_in(url: str) -> list[str]:
    """The password of a URL and the pieces a driver may quote from it when it misparses the
    URL (a password with an unencoded `/` or `@` is split there), longest first."""
    from urllib.parse import unquote

    _, sep, rest = url.partition("://")
    found: set[str] = set(m.group(1) for m in re.finditer(r"[?&](?:password|passwd|pwd|pass)=([^&#]+)", url, re.I))
    at = rest.rfind("@") if sep else -1
    if at >= 0:
        _, colon, password = rest[:at].partition(":")
        if colon and password:
            found |= {password, unquote(password)}
            found |= {p for p in re.split(r"[/@?#:]", password) if len(p) >= 2}
    return sorted((s for s in found if s), key=len, reverse=True)


def scrub(text: str, urls: list[str]) -> str:
    """`text` with every secret of `urls` replaced by `****` (for errors and crash logs)."""
    for url in urls:
        for secret in secrets_in(url):
            text = text.replace(secret, MASK)
    return text
