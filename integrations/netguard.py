"""Keep outbound webhooks on the public internet: no requests into our own network, the cloud metadata address
(169.254.169.254) or anything else that is not a public unicast address (SSRF).

Checked twice: when the owner saves the URL (a clear form error) and on every send, where the check is on the
address the socket actually connected to, so a host that resolved to a public address at save time and to a
private one later (DNS rebinding) is refused without a byte sent. WEBHOOKS_ALLOW_PRIVATE (on with DEBUG, for
local receivers) switches the address check off; the scheme check always applies.
"""

import ipaddress
import socket
from urllib.parse import urlsplit

from django.conf import settings
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool


class BlockedAddress(Exception):
    """The URL is not allowed: wrong scheme, or its host is (or resolves to) a non-public address."""


def is_public(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address):
        mapped = ip.ipv4_mapped or ip.sixtofour
        if mapped is not None:
            return is_public(str(mapped))
    return ip.is_global and not (ip.is_multicast or ip.is_reserved or ip.is_unspecified)


def _check_address(address: str, host: str) -> None:
    if not settings.WEBHOOKS_ALLOW_PRIVATE and not is_public(address):
        raise BlockedAddress(f"{host} is a private or reserved address ({address}); only public addresses are allowed.")


def check_url(url: str) -> None:
    """Refuse a URL that is not http(s) or whose host resolves to any non-public address."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise BlockedAddress("Only http:// and https:// addresses can receive webhooks.")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:  # "example.com:99999": the URL validator lets it through
        raise BlockedAddress("That port is not valid.") from None
    if settings.WEBHOOKS_ALLOW_PRIVATE:
        return
    try:
        infos = socket.getaddrinfo(parts.hostname, port, proto=socket.IPPROTO_TCP)
    except (socket.gaierror, UnicodeError):
        raise BlockedAddress(f"{parts.hostname} does not resolve to an address.") from None
    for *_, sockaddr in infos:
        _check_address(sockaddr[0], parts.hostname)


class _PeerChecked:
    """A urllib3 connection that checks the address it connected to before sending anything."""

    def _new_conn(self):
        sock = super()._new_conn()
        try:
            _check_address(sock.getpeername()[0], self.host)
        except BlockedAddress:
            sock.close()
            raise
        return sock


class GuardedHTTPConnection(_PeerChecked, HTTPConnection):
    pass


class GuardedHTTPSConnection(_PeerChecked, HTTPSConnection):
    pass


class GuardedHTTPPool(HTTPConnectionPool):
    ConnectionCls = GuardedHTTPConnection


class GuardedHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = GuardedHTTPSConnection
