"""Outbound network guards for adapters.

* The URL guard (SSRF): every outbound URL or host an admin or the database supplies
  (helpdesk base URLs, callback URLs, ``api_base_url``, IMAP/SMTP hosts, media URLs) is
  checked after DNS resolution. Link-local and cloud-metadata addresses are always refused;
  loopback and private ranges unless ``OMNIHUB_ALLOW_PRIVATE_URLS=true``. The HTTP
  transport (``guarded_client``) checks and connects to the very address it resolved, on
  every connection (so on every redirect), leaving no DNS-rebinding window.
* Guarded HTTP download: host allow-list and a size cap (``fetch_limited``).
"""

from __future__ import annotations

import ipaddress
import os
import socket
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import urlsplit

import httpcore
import httpx

from hub.errors import PayloadInvalid, PermanentDeliveryError, RetriableDeliveryError

# ------------------------------------------------------------------ the URL guard
#: never reachable, whatever OMNIHUB_ALLOW_PRIVATE_URLS says: link-local (cloud metadata
#: lives at 169.254.169.254 on AWS, GCP, Azure, OpenStack...) and the other metadata addresses
_METADATA_NETS = tuple(
    ipaddress.ip_network(n)
    for n in (
        "169.254.0.0/16",  # IPv4 link-local, AWS/GCP/Azure/OpenStack/DigitalOcean metadata
        "fe80::/10",  # IPv6 link-local
        "fd00:ec2::254/128",  # AWS IMDS over IPv6
        "100.100.100.200/32",  # Alibaba Cloud metadata
        "192.0.0.192/32",  # Oracle Cloud metadata (OCI classic)
    )
)
#: host names that resolve to metadata services inside clouds
_METADATA_HOSTS = frozenset({
    "metadata.google.internal", "metadata.goog", "metadata", "instance-data", "instance-data.ec2.internal",
    "metadata.azure.internal", "metadata.platformequinix.com",
})
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
ALLOW_PRIVATE_ENV = "OMNIHUB_ALLOW_PRIVATE_URLS"
_allow_private_override: bool | None = None


class UrlRefused(PermanentDeliveryError):
    """An outbound URL or host points where omnihub never connects (or not without the setting)."""


def set_allow_private_urls(value: bool | None) -> None:
    """Set the process-wide policy from settings (None: read OMNIHUB_ALLOW_PRIVATE_URLS again)."""
    global _allow_private_override
    _allow_private_override = value


def allow_private_urls() -> bool:
    if _allow_private_override is not None:
        return _allow_private_override
    return os.environ.get(ALLOW_PRIVATE_ENV, "").strip().lower() in ("1", "true", "yes", "on")


def _embedded_v4(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address inside an IPv4-mapped, NAT64 or 6to4 IPv6 address."""
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped:
            return ip.ipv4_mapped
        if ip.sixtofour:
            return ip.sixtofour
        if ip in _NAT64:
            return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def ip_refusal(ip: str | ipaddress.IPv4Address | ipaddress.IPv6Address) -> str | None:
    """Why omnihub must not connect to this address (None: allowed under the current policy)."""
    addr = ipaddress.ip_address(str(ip).split("%", 1)[0]) if isinstance(ip, str) else ip
    candidates = [addr] + ([inner] if (inner := _embedded_v4(addr)) else [])
    for a in candidates:
        if any(a.version == n.version and a in n for n in _METADATA_NETS):
            return "is a link-local/cloud-metadata address and is never allowed"
    for a in candidates:
        if not a.is_global or a.is_multicast:
            if allow_private_urls():
                return None
            return f"is a loopback/private address; set {ALLOW_PRIVATE_ENV}=true to allow on-premises hosts"
    return None


def _refused(key: str, shown: str, reason: str) -> UrlRefused:
    return UrlRefused(f"{key}: {shown} {reason}")


def resolve_checked(host: str, port: int, *, key: str) -> list[str]:
    """Resolve host and check every address; return them (connect to these, not the name).

    Raises UrlRefused, or socket.gaierror when the name does not resolve.
    """
    name = host.strip("[]").rstrip(".").lower()
    if not name:
        raise _refused(key, "(empty host)", "is not a host")
    if name in _METADATA_HOSTS:
        raise _refused(key, name, "is a cloud-metadata host name and is never allowed")
    try:
        infos = socket.getaddrinfo(name, port, type=socket.SOCK_STREAM)
    except UnicodeError as exc:
        raise socket.gaierror(f"{name!r}: {exc}") from None
    addrs: list[str] = []
    for _family, _type, _proto, _canon, sockaddr in infos:
        ip = str(sockaddr[0])
        reason = ip_refusal(ip)
        if reason:
            shown = name if name == ip else f"{name} ({ip})"
            raise _refused(key, shown, reason)
        if ip not in addrs:
            addrs.append(ip)
    return addrs


def check_host(host: str, port: int | None = None, *, key: str, resolve: bool = True) -> None:
    """Refuse a host that is, or resolves to, a forbidden address (UrlRefused names key).

    ``resolve=False`` checks only what needs no DNS (literal addresses, metadata names).
    """
    name = (host or "").strip().strip("[]").rstrip(".").lower()
    if not name:
        raise _refused(key, "(empty host)", "is not a host")
    if name in _METADATA_HOSTS:
        raise _refused(key, name, "is a cloud-metadata host name and is never allowed")
    try:
        literal = ipaddress.ip_address(name.split("%", 1)[0])
    except ValueError:
        literal = None
    if literal is not None:
        reason = ip_refusal(literal)
        if reason:
            raise _refused(key, name, reason)
        return
    if resolve:
        try:
            resolve_checked(name, port or 0, key=key)
        except socket.gaierror:
            return  # nothing to connect to: the caller's own connect fails with the DNS error


def check_url(url: str, *, key: str, resolve: bool = True) -> None:
    """Refuse a URL that is not http(s) (or ws(s), a websocket such as Discord's Gateway) or
    whose host is (or resolves to) a forbidden address."""
    try:
        parts = httpx.URL(url)
    except (httpx.InvalidURL, TypeError) as exc:
        raise UrlRefused(f"{key}: {url!r} is not a valid URL ({exc})") from None
    if parts.scheme not in ("http", "https", "ws", "wss") or not parts.host:
        raise UrlRefused(f"{key}: {url!r} must be an http:// or https:// URL with a host")
    check_host(parts.host, parts.port or (443 if parts.scheme in ("https", "wss") else 80), key=key, resolve=resolve)


class GuardedBackend(httpcore.NetworkBackend):
    """httpcore network backend: resolve, check every address, connect to a checked one.

    TLS still verifies the original host name (httpcore passes it as server_hostname).
    """

    def __init__(self, key: str) -> None:
        self.key = key
        self._backend = httpcore.SyncBackend()

    def connect_tcp(self, host: str, port: int, timeout: float | None = None, local_address: str | None = None, socket_options: Any = None) -> httpcore.NetworkStream:
        try:
            addrs = resolve_checked(host, port, key=self.key)
        except socket.gaierror as exc:
            raise httpcore.ConnectError(f"cannot resolve {host!r}: {exc}") from None
        last: Exception | None = None
        for ip in addrs:
            try:
                return self._backend.connect_tcp(ip, port, timeout=timeout, local_address=local_address, socket_options=socket_options)
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                last = exc
        raise last or httpcore.ConnectError(f"{host!r} has no address")

    def connect_unix_socket(self, path: str, timeout: float | None = None, socket_options: Any = None) -> httpcore.NetworkStream:
        raise UrlRefused(f"{self.key}: unix sockets are never used for outbound requests")

    def sleep(self, seconds: float) -> None:
        self._backend.sleep(seconds)


class GuardedTransport(httpx.HTTPTransport):
    """httpx transport whose every connection goes through ``GuardedBackend``."""

    def __init__(self, key: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        # httpx builds its httpcore pool without a network_backend argument: rebuild it with
        # ours (same TLS context and limits). Fails loudly if httpx changes this (pinned in pyproject.toml).
        old = self._pool
        if not isinstance(old, httpcore.ConnectionPool):
            raise TypeError("GuardedTransport supports direct connections only (no proxy)")
        self._pool = httpcore.ConnectionPool(
            ssl_context=old._ssl_context,
            max_connections=old._max_connections,
            max_keepalive_connections=old._max_keepalive_connections,
            keepalive_expiry=old._keepalive_expiry,
            http1=old._http1,
            http2=old._http2,
            retries=old._retries,
            network_backend=GuardedBackend(key),
        )
        old.close()


def guarded_client(key: str, **kwargs: Any) -> httpx.Client:
    """An httpx.Client whose connections pass the URL guard (``key`` names the setting in errors).

    Environment proxies are not used (an explicit transport disables them).
    """
    kwargs.setdefault("follow_redirects", False)
    return httpx.Client(transport=GuardedTransport(key), **kwargs)


def guarded_request(key: str, method: str, url: str, **kwargs: Any) -> httpx.Response:
    """One request through a guarded client (like ``httpx.request``)."""
    timeout = kwargs.pop("timeout", 15.0)
    with guarded_client(key, timeout=timeout) as client:
        return client.request(method, url, **kwargs)


def config_refusals(config_cls: Any, values: Mapping[str, Any], *, resolve: bool = True) -> list[str]:
    """Save-time check of a connector's URL and host keys (declared in its schema): the
    problems found, each naming the key. A name that does not resolve now is not refused
    here (the request-time guard always runs)."""
    problems = []
    for key, what in config_cls.origin_fields().items():
        value = values.get(key)
        if value in (None, "") or what not in ("url", "host"):
            continue
        try:
            if what == "url":
                check_url(str(value), key=key, resolve=resolve)
            else:
                check_host(str(value), key=key, resolve=resolve)
        except UrlRefused as exc:
            problems.append(str(exc))
        except OSError:  # does not resolve from here (yet): checked again at request time
            continue
    return problems


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
        with guarded_client(f"{who}media URL".strip(), timeout=timeout) as client:
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
    except UrlRefused as exc:
        raise PayloadInvalid(f"{who}refused to fetch: {exc}") from None
    except httpx.HTTPError as exc:
        raise RetriableDeliveryError(f"{who}media download failed: {exc}") from None
