"""Where callbacks may go: public addresses only, unless the operator allows a range.

A callback is an HTTP request the service makes on a student platform's say-so,
from inside the operator's network. Left alone, a ``callback_url`` on loopback,
a private network or a cloud's link-local metadata address would make the
service a probe of internal ports (the delivery status tells what answered). So
a URL's host is resolved and *every* address it resolves to must be public,
or inside a range the operator allowed (``--callback-allow CIDR``); an IPv6
address that embeds an IPv4 one (``::ffff:127.0.0.1``, 6to4) is judged by the
IPv4 address. The check runs when the job is accepted (a 422 saying why) and
again at each delivery, which then connects to the very address it checked,
never to what a second lookup might say (DNS rebinding): see
:mod:`grader.service.callbacks`.
"""

from __future__ import annotations

import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv6Address, ip_address
from urllib.parse import unquote, urlsplit

from .config import Network
from .errors import CallbackRefused

IPAddress = IPv4Address | IPv6Address
Resolver = Callable[[str, int], list[str]]
MAX_URL = 2000


def resolve(host: str, port: int) -> list[str]:
    """Every address ``host`` resolves to (a literal address resolves to itself)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        raise CallbackRefused(
            f"callback_url: the host {host!r} does not resolve ({exc})."
        ) from None
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def _embedded(address: IPAddress) -> IPAddress:
    """The IPv4 address an IPv6 one carries (mapped, 6to4), else the address itself."""
    if isinstance(address, IPv6Address):
        return address.ipv4_mapped or address.sixtofour or address
    return address


def why_internal(address: IPAddress) -> str | None:
    """What kind of non-public address this is, or None for a public one."""
    address = _embedded(address)
    kinds = (
        ("the unspecified address", address.is_unspecified),
        ("a loopback address", address.is_loopback),
        ("a link-local address", address.is_link_local),
        ("a multicast address", address.is_multicast),
        ("a private address", address.is_private),
        ("a reserved address", address.is_reserved),
        ("not a public address", not address.is_global),
    )
    return next((kind for kind, matches in kinds if matches), None)


@dataclass(frozen=True)
class Target:
    """A callback URL checked: connect to ``address`` (the URL keeps the name, for TLS)."""

    url: str
    host: str
    port: int
    address: str


class CallbackPolicy:
    """Checks callback URLs against the allowed ranges (``resolver``: tests give their own)."""

    def __init__(self, allow: Sequence[Network] = (), resolver: Resolver = resolve) -> None:
        self.allow = tuple(allow)
        self.resolver = resolver

    def refusal(self, address: IPAddress) -> str | None:
        """Why a callback may not go to ``address`` (None: it may)."""
        if any(_embedded(address) in net or address in net for net in self.allow):
            return None
        return why_internal(address)

    def check_syntax(self, url: str) -> tuple[str, int]:
        """(host, port) of an absolute http(s) URL, else CallbackRefused."""
        if len(url) > MAX_URL or not url.isprintable() or any(c.isspace() for c in url):
            raise CallbackRefused(
                f"callback_url must be printable, without spaces, at most {MAX_URL} characters."
            )
        parts = urlsplit(url)
        try:
            host, port = parts.hostname, parts.port
        except ValueError:
            host = port = None
        host = unquote(host) if host else host  # an IPv6 zone is written %25 (RFC 6874)
        if parts.scheme not in ("http", "https") or not host:
            raise CallbackRefused("callback_url must be an absolute http:// or https:// URL.")
        return host, port or (443 if parts.scheme == "https" else 80)

    def target(self, url: str) -> Target:
        """Resolve ``url``'s host and check every address; the first one is the target."""
        host, port = self.check_syntax(url)
        addresses = self.resolver(host, port)
        if not addresses:
            raise CallbackRefused(f"callback_url: the host {host!r} does not resolve.")
        for text in addresses:
            reason = self.refusal(ip_address(text.split("%", 1)[0]))
            if reason is not None:
                shown = host if host == text else f"{host} resolves to {text}, which"
                raise CallbackRefused(
                    f"callback_url refused: {shown} is {reason}.",
                    fix="Callbacks go to public addresses only; the operator can allow a "
                    "range with grade serve --callback-allow CIDR.",
                )
        return Target(url=url, host=host, port=port, address=addresses[0].split("%", 1)[0])
