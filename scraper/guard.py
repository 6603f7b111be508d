"""The private-network guard: a crawl of public sites never connects to this machine, its
network or a cloud metadata service, whatever a page links or redirects to.

Flow position: inside the transport (``transport.py``), where a connection is opened. A host is
resolved once, here; addresses in ``PRIVATE_NETWORKS`` (loopback, private, link-local, unique
local) are dropped unless ``ALLOWED_NETWORKS`` holds them; the connection goes to an address
that is left, by number, and the address the socket is connected to is checked again. A check
made earlier, on the host name, could be answered with a public address and the connection
with a private one (DNS rebinding); here there is nothing in between. A host with no address
left fails as ``private_address``, not retried. Links, redirects and robots.txt all connect
here, so all are covered; a request sent through a proxy is not (the proxy connects).

``DENY_PRIVATE_ADDRESSES`` is ``auto`` by default: the guard is on unless a start URL is itself
on a private address or ``localhost`` (the demo site, a test server, an intranet crawl by
address), since such a crawl means to go there. Host names are not looked up for that
decision: a start URL naming an intranet host needs ``ALLOWED_NETWORKS`` or ``false``.
"""

from __future__ import annotations

import ipaddress
import logging
import socket
from collections.abc import Callable, Iterable, Sequence

from .errors import PrivateAddress
from .settings import DEFAULT_PRIVATE_NETWORKS, Settings

log = logging.getLogger("scraper.guard")

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address
# (host, port) -> the addresses to try, in order; socket.getaddrinfo's answer by default.
Resolver = Callable[[str, int], list[str]]


def system_resolver(host: str, port: int) -> list[str]:
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def _address(text: str) -> Address:
    address = ipaddress.ip_address(text.split("%")[0])  # without an IPv6 zone
    # An IPv4 address written as IPv6 (::ffff:10.0.0.1) reaches the IPv4 one.
    mapped = getattr(address, "ipv4_mapped", None)
    return mapped if mapped is not None else address


class AddressGuard:
    """Decides which addresses a connection may go to. Thread-safe once settled: read only."""

    def __init__(
        self,
        mode: str = "auto",
        private: Sequence[str] = DEFAULT_PRIVATE_NETWORKS,
        allowed: Sequence[str] = (),
        resolver: Resolver = system_resolver,
    ) -> None:
        self.enabled = mode != "false"
        self._auto = mode == "auto"
        self._private = [ipaddress.ip_network(n, strict=False) for n in private]
        self._allowed = [ipaddress.ip_network(n, strict=False) for n in allowed]
        self.resolver = resolver

    @classmethod
    def from_settings(cls, settings: Settings) -> AddressGuard:
        return cls(
            settings.DENY_PRIVATE_ADDRESSES,
            settings.PRIVATE_NETWORKS,
            settings.ALLOWED_NETWORKS,
        )

    def denies(self, text: str) -> bool:
        """Whether ``text`` (an IP address) is private and not allowed."""
        address = _address(text)
        return any(address in n for n in self._private) and not any(
            address in n for n in self._allowed
        )

    def settle(self, start_hosts: Iterable[str]) -> None:
        """In ``auto`` mode, turn the guard off if a start host is on a private address (an IP
        written out) or is ``localhost``: the crawl means to go there."""
        if not self._auto or not self.enabled:
            return
        for host in start_hosts:
            if self._names_private(host):
                self.enabled = False
                log.debug(
                    "start URL on %s, a private address: DENY_PRIVATE_ADDRESSES is off for "
                    "this crawl", host
                )  # fmt: skip
                return

    def _names_private(self, host: str) -> bool:
        host = host.strip("[]").lower()
        if host == "localhost" or host.endswith(".localhost"):
            return True
        try:
            return self.denies(host)
        except ValueError:  # a name: not looked up (see the module docstring)
            return False

    def addresses(self, host: str, port: int) -> list[str]:
        """The addresses of ``host`` a connection may go to; PrivateAddress if none."""
        found = self.resolver(host, port)
        usable = [a for a in found if not self.denies(a)]
        if not usable:
            raise PrivateAddress(f"{host} resolves to {', '.join(found[:4])}: a private address")
        return usable

    def check_peer(self, host: str, peer: str) -> None:
        """The socket is connected to ``peer``: PrivateAddress if that is one."""
        if self.denies(peer):
            raise PrivateAddress(f"{host} connected to {peer}: a private address")
