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
