"""Guarded HTTP download for adapters: host allow-list (SSRF guard) and a size cap."""

from __future__ import annotations

from typing import Iterable, Mapping
from urllib.parse import urlsplit

import httpx

from hub.errors import PayloadInvalid, RetriableDeliveryError


class TooLarge(PayloadInvalid):
    """The file is over the configured limit; kept as a placeholder with this reason."""


def host_allowed(url: str, allowed_hosts: Iterable[str]) -> bool:
    """True when url is http(s) and its host is one of allowed_hosts (``*.x.com`` allowed)."""
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        return False
    host = parts.hostname.lower()
    for allowed in allowed_hosts:
        allowed = allowed.lower()
        if allowed.startswith("*.") and (host.endswith(allowed[1:]) or host == allowed[2:]):
            return True
        if ":" in allowed:  # host:port entries (local test servers)
            if f"{host}:{parts.port}" == allowed:
                return True
        elif host == allowed:
            return True
    return False


def fetch_limited(
    url: str,
    *,
    allowed_hosts: Iterable[str],
    max_bytes: int,
    headers: Mapping[str, str] | None = None,
    auth: tuple[str, str] | None = None,
    timeout: float = 30.0,
    follow_redirects_to: Iterable[str] = (),
    who: str = "",
) -> tuple[bytes, str]:
    """Download url (bytes, content type), refusing other hosts and anything over max_bytes.

    Redirects are followed only to hosts in ``follow_redirects_to`` (e.g. a provider's CDN);
    credentials are never sent to a redirect target.
    """
    allowed = list(allowed_hosts)
    if not host_allowed(url, allowed):
        raise PayloadInvalid(f"{who}refused to fetch {urlsplit(url).hostname!r}: not a provider media host")
    redirect_hosts = list(follow_redirects_to)
    current, send_auth = url, True
    try:
        with httpx.Client(timeout=timeout, follow_redirects=False) as client:
            for _hop in range(5):
                with client.stream(
                    "GET", current, headers=headers if send_auth else None, auth=auth if send_auth else None
                ) as resp:
                    if resp.is_redirect:
                        target = str(resp.next_request.url) if resp.next_request else ""
                        if not host_allowed(target, redirect_hosts + allowed):
                            raise PayloadInvalid(f"{who}refused redirect to {urlsplit(target).hostname!r}")
                        send_auth = host_allowed(target, allowed)
                        current = target
                        continue
                    if resp.status_code >= 500 or resp.status_code == 429:
                        raise RetriableDeliveryError(f"{who}media download HTTP {resp.status_code}")
                    if resp.status_code >= 400:
                        raise PayloadInvalid(f"{who}media download HTTP {resp.status_code}")
                    declared = resp.headers.get("content-length")
                    if declared and declared.isdigit() and int(declared) > max_bytes:
                        raise TooLarge(f"file is {int(declared)} bytes, over the {max_bytes}-byte limit")
                    chunks, total = [], 0
                    for chunk in resp.iter_bytes():
                        total += len(chunk)
                        if total > max_bytes:
                            raise TooLarge(f"file is over the {max_bytes}-byte limit")
                        chunks.append(chunk)
                    return b"".join(chunks), resp.headers.get("content-type", "application/octet-stream")
            raise PayloadInvalid(f"{who}too many redirects")
    except httpx.HTTPError as exc:
        raise RetriableDeliveryError(f"{who}media download failed: {exc}") from None
