"""Operational endpoints of the enrollment sync: what URL may name one."""

from __future__ import annotations

from urllib.parse import urlsplit


def endpoint_url_problem(url: object) -> str | None:
    """Why url cannot be an operational endpoint, or None: an absolute http(s) URL with a host."""
    if not isinstance(url, str) or not url:
        return "must be an http:// or https:// URL"
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises on a bad port
    except ValueError as exc:
        return f"not a URL: {exc}"
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return "must be an http:// or https:// URL with a host"
    if any(ch.isspace() for ch in url) or len(url) > 2000:
        return "must be a URL without spaces, at most 2000 characters"
    return None
