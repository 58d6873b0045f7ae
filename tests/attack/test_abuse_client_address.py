"""The client address the limits count cannot be chosen by the client: the socket peer, or behind
a trusted proxy (WAGERBASE_TRUSTED_PROXIES) the right-most X-Forwarded-For address that is not a
trusted proxy. Without trusted proxies the header is never read."""

import ipaddress

import pytest

from wagerbase import settings
from wagerbase.app import Config
from wagerbase.http.client_address import client_address, parse_address, parse_networks


def address(peer: str | None, *forwarded: str, proxies: str = "") -> str:
    return str(client_address(peer, list(forwarded), parse_networks(proxies)))


def test_without_trusted_proxies_the_peer_is_the_client_whatever_the_header_says() -> None:
    assert address("203.0.113.7", "198.51.100.1") == "203.0.113.7"
    assert address("127.0.0.1", "198.51.100.1") == "127.0.0.1"
    assert address("203.0.113.7", "198.51.100.1", proxies="10.0.0.0/8") == "203.0.113.7"


def test_behind_a_trusted_proxy_the_right_most_untrusted_address_is_the_client() -> None:
    proxies = "127.0.0.1, 10.0.0.0/8"
    assert address("127.0.0.1", "198.51.100.1", proxies=proxies) == "198.51.100.1"
    # what the client wrote is left of what the proxies appended: never read
    assert address("127.0.0.1", "192.0.2.66, 198.51.100.1", proxies=proxies) == "198.51.100.1"
    assert address("127.0.0.1", "192.0.2.66", "198.51.100.1", proxies=proxies) == "198.51.100.1"
    # a chain of trusted proxies is walked through
    assert address("127.0.0.1", "192.0.2.66, 198.51.100.1, 10.1.2.3", proxies=proxies) == (
        "198.51.100.1"
    )
    # garbage stops the walk at the hop that reported it; all trusted: the left-most
    assert address("127.0.0.1", "198.51.100.1, unknown", proxies=proxies) == "127.0.0.1"
    assert address("127.0.0.1", "10.9.9.9, 10.1.2.3", proxies=proxies) == "10.9.9.9"
    assert address("127.0.0.1", proxies=proxies) == "127.0.0.1"  # no header: the proxy itself


def test_ports_brackets_and_mapped_addresses_are_read_as_their_address() -> None:
    assert parse_address("203.0.113.7:4711") == ipaddress.ip_address("203.0.113.7")
    assert parse_address("[2001:db8::1]:4711") == ipaddress.ip_address("2001:db8::1")
    assert parse_address(" 2001:db8::1 ") == ipaddress.ip_address("2001:db8::1")
    assert parse_address("::ffff:203.0.113.7") == ipaddress.ip_address("203.0.113.7")
    assert parse_address("unknown") is None
    assert address(None) == "0.0.0.0"  # a peer without an address (a Unix socket)


def test_the_trusted_proxies_come_from_the_environment_and_a_wrong_one_stops_the_node(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("WAGERBASE_TRUSTED_PROXIES", raising=False)
    assert Config("postgresql://x", "s" * 32).trusted_proxies == ()
    monkeypatch.setenv("WAGERBASE_TRUSTED_PROXIES", "10.0.0.0/8, 2001:db8::/32 ,127.0.0.1")
    assert [str(n) for n in settings.trusted_proxies()] == [
        "10.0.0.0/8",
        "2001:db8::/32",
        "127.0.0.1/32",
    ]
    monkeypatch.setenv("WAGERBASE_TRUSTED_PROXIES", "10.0.0.0/8, proxy.example")
    with pytest.raises(ValueError, match=r"proxy\.example"):
        settings.trusted_proxies()
