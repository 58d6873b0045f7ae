"""The client's address, which the limits per address count (docs/api.md, "Limits").

It is the socket peer's address, unless the peer is a trusted proxy (`WAGERBASE_TRUSTED_PROXIES`:
addresses and CIDR networks, comma-separated; none by default). Then it is the right-most address
of `X-Forwarded-For` that is not itself a trusted proxy: every proxy appends the address it got
the request from, so the entries right of the first untrusted one were written by proxies this
node trusts, and what lies left of it the client may have made up, and is never read. An entry
that is not an address (garbage, `unknown`) stops the walk: the hop that reported it is the
client. When every entry is a trusted proxy, the left-most is taken.

Entries may carry a port (`203.0.113.7:4711`, `[2001:db8::1]:4711`); an IPv4-mapped IPv6 address
(`::ffff:203.0.113.7`) is its IPv4 address. A peer that has no IP address (a Unix socket) counts
as 0.0.0.0. Headers other than X-Forwarded-For (`Forwarded`, `X-Real-IP`) are not read.
"""

import ipaddress
from collections.abc import Iterable, Sequence
from typing import Any

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network

NO_ADDRESS = ipaddress.IPv4Address("0.0.0.0")
HEADER = b"x-forwarded-for"


def parse_networks(text: str) -> tuple[Network, ...]:
    """`WAGERBASE_TRUSTED_PROXIES`'s value: comma-separated addresses and networks (`10.0.0.0/8`,
    `2001:db8::/32`, `127.0.0.1`). Raises ValueError naming an entry that is neither."""
    networks = []
    for entry in text.split(","):
        entry = entry.strip()
        if not entry:
            continue
        try:
            networks.append(ipaddress.ip_network(entry, strict=False))
        except ValueError:
            raise ValueError(
                f"WAGERBASE_TRUSTED_PROXIES: {entry!r} is not an address or a network"
            ) from None
    return tuple(networks)


def parse_address(text: str) -> Address | None:
    """An address as a peer or an X-Forwarded-For entry gives it, or None when it is not one."""
    text = text.strip()
    if text.startswith("["):  # [v6] or [v6]:port
        text = text[1:].partition("]")[0]
    elif text.count(":") == 1:  # v4:port
        text = text.partition(":")[0]
    text = text.partition("%")[0]  # a link-local address's zone (fe80::1%eth0) names no client
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _trusted(address: Address, proxies: Sequence[Network]) -> bool:
    return any(address.version == net.version and address in net for net in proxies)


def client_address(
    peer: str | None, forwarded_for: Iterable[str], proxies: Sequence[Network]
) -> Address:
    """The client's address: `peer` unless it is one of `proxies`, then the right-most entry of
    the X-Forwarded-For headers (in the order received) that is not one of `proxies`."""
    address = parse_address(peer or "") or NO_ADDRESS
    if not proxies or not _trusted(address, proxies):
        return address
    entries = [entry for header in forwarded_for for entry in header.split(",")]
    for entry in reversed(entries):
        hop = parse_address(entry)
        if hop is None:
            return address  # the trusted hop that reported it
        address = hop
        if not _trusted(hop, proxies):
            return hop
    return address


def request_address(scope: Any, proxies: Sequence[Network]) -> Address:
    """The client's address of an ASGI request (its scope)."""
    client = scope.get("client")
    peer = str(client[0]) if client else None
    headers = scope.get("headers") or []
    forwarded = [value.decode("latin-1") for name, value in headers if name.lower() == HEADER]
    return client_address(peer, forwarded, proxies)


def client_key(address: Address) -> str:
    """The client an address stands for, as every limit per address counts it: an IPv4 address
    itself, an IPv6 address its /64 network (one host's or one home's, as the database's limits
    count it: server.check_rate_limit)."""
    if isinstance(address, ipaddress.IPv6Address):
        return str(ipaddress.IPv6Network((address, 64), strict=False))
    return str(address)
