"""Clients that send slowly cannot hold connections: a request whose headers do not all arrive
within the header timeout (`WAGERBASE_HEADER_TIMEOUT`) is answered 408 and closed, a connection
that sends nothing is closed, and a body that does not all arrive within the body timeout
(`WAGERBASE_BODY_TIMEOUT`) is answered 408 in the surface's own error shape and closed (or just
closed, when the request was answered already), while other clients are served as usual. A request
head over 16 KB or 100 headers is refused with a 431 at once, however it arrives (h11 refused only
an incomplete one). Raw sockets against a node whose timeouts are 1 s;
every read has a deadline far beyond them, which only the old behaviour (never answered, never
closed) reaches."""

import socket
import threading
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.attack.over_http import RestActor, another_node, new_user
from tests.serving import Node
from wagerbase.slow_clients import MAX_HEAD_BYTES, MAX_HEADERS

TIMEOUT = "1"  # seconds, the slow-client timeouts of the node under test
DEADLINE = 30.0  # seconds a socket waits for the server before the test fails


@pytest.fixture(scope="module")
def slow_node(node: Node, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Node]:
    """A node on the shared database with 1-second header and body timeouts."""
    folder = tmp_path_factory.mktemp("slow")
    timeouts = {"WAGERBASE_HEADER_TIMEOUT": TIMEOUT, "WAGERBASE_BODY_TIMEOUT": TIMEOUT}
    with another_node(node, folder, **timeouts) as started:
        yield started


def connect(node: Node) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", node.port), timeout=DEADLINE)
    sock.settimeout(DEADLINE)
    return sock


def until_closed(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection (a reset counts as closed)."""
    received = b""
    with sock:
        while True:
            try:
                chunk = sock.recv(65536)
            except TimeoutError:
                pytest.fail(f"not closed within {DEADLINE} s; received {received[:300]!r}")
            except ConnectionResetError:
                return received
            if not chunk:
                return received
            received += chunk


def parsed(raw: bytes) -> tuple[int, dict[str, str], bytes]:
    """(status, headers in lower case, body) of the first HTTP response in `raw`."""
    head, _, body = raw.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length", len(body)))
    return int(status_line.split()[1]), headers, body[:length]


class Trickle:
    """Sends `data` a byte at a time, a byte every 0.2 s, until the server closes or stop()."""

    def __init__(self, sock: socket.socket, data: bytes) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(sock, data), daemon=True)
        self._thread.start()

    def _run(self, sock: socket.socket, data: bytes) -> None:
        for byte in data:
            if self._stop.wait(0.2):
                return
            try:
                sock.send(bytes([byte]))
            except OSError:
                return

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


def others_are_served(node: Node) -> None:
    """A bettor's call and /health complete as usual."""
    assert httpx.get(f"{node.url}/health", timeout=DEADLINE).status_code == 200
    bettor = new_user(node, "patient")
    wallet = RestActor(node, bettor.name, bettor.token).rpc("get_wallet", {})
    assert wallet.status_code == 200, wallet.text


# --- headers -----------------------------------------------------------------------------------


def test_half_sent_headers_are_answered_408_and_closed_while_others_are_served(
    slow_node: Node,
) -> None:
    stalled = []
    for _ in range(10):
        sock = connect(slow_node)
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: wagerbase\r\nX-Half: sent")
        stalled.append(sock)
    others_are_served(slow_node)
    for sock in stalled:
        status, headers, _ = parsed(until_closed(sock))
        assert status == 408
        assert headers["connection"] == "close"


def test_headers_sent_a_byte_at_a_time_are_cut_off(slow_node: Node) -> None:
    sock = connect(slow_node)
    endless = b"GET /health HTTP/1.1\r\nHost: wagerbase\r\nX-Slow: " + b"a" * 1000
    trickle = Trickle(sock, endless)
    try:
        status, _, _ = parsed(until_closed(sock))
    finally:
        trickle.stop()
    assert status == 408


def test_a_connection_that_sends_nothing_is_closed(slow_node: Node) -> None:
    assert until_closed(connect(slow_node)) == b""


@pytest.mark.parametrize(
    "headers",
    [
        [b"X-Big-%d: %s" % (i, b"a" * 200) for i in range(100)],  # 20 KB
        [b"X-Many-%d: a" % i for i in range(MAX_HEADERS + 1)],
    ],
    ids=["bytes", "count"],
)
def test_a_head_over_the_limits_is_refused_even_when_it_comes_whole(
    slow_node: Node, headers: list[bytes]
) -> None:
    sock = connect(slow_node)
    sock.sendall(b"GET /health HTTP/1.1\r\n" + b"\r\n".join(headers) + b"\r\n\r\n")
    status, headers_back, body = parsed(until_closed(sock))
    assert status == 431, body
    assert headers_back["connection"] == "close"
    assert str(MAX_HEAD_BYTES).encode() in body and str(MAX_HEADERS).encode() in body


def test_a_head_within_the_limits_is_served(slow_node: Node) -> None:
    sock = connect(slow_node)
    headers = b"".join(b"X-Fine-%d: a\r\n" % i for i in range(MAX_HEADERS - 2))  # and two more
    sock.sendall(
        b"GET /health HTTP/1.1\r\nHost: wagerbase\r\n" + headers + b"Connection: close\r\n\r\n"
    )
    status, _, _ = parsed(until_closed(sock))
    assert status == 200


# --- bodies ------------------------------------------------------------------------------------


def post_head(path: str, length: int, token: str | None = None) -> bytes:
    lines = [
        f"POST {path} HTTP/1.1",
        "Host: wagerbase",
        "Content-Type: application/json",
        f"Content-Length: {length}",
    ]
    if token is not None:
        lines.append(f"Authorization: Bearer {token}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def shape_of(path: str, body: dict[str, Any]) -> None:
    """The 408 in the surface's own error body."""
    if path.startswith("/rest/"):
        assert set(body) == {"code", "message", "details", "hint"}, body
        assert body["code"] == "PGRST102"
    elif path.startswith("/auth/"):  # GoTrue's first shape: the request names no API version
        assert (body["code"], body["error_code"]) == (408, "request_timeout") and body["msg"], body
    else:
        assert body["error"], body


@pytest.mark.parametrize("path", ["/rest/v1/rpc/get_wallet", "/auth/v1/signup", "/api/auth/login"])
def test_a_half_sent_body_is_answered_408_and_closed_while_others_are_served(
    slow_node: Node, path: str
) -> None:
    bettor = new_user(slow_node, "half_body")
    stalled = []
    for _ in range(5):
        sock = connect(slow_node)
        sock.sendall(post_head(path, 100, bettor.token) + b'{"email": "x')
        stalled.append(sock)
    others_are_served(slow_node)
    for sock in stalled:
        status, headers, body = parsed(until_closed(sock))
        assert status == 408, body
        assert headers["connection"] == "close"
        shape_of(path, httpx.Response(status, content=body).json())


def test_a_body_trickled_after_the_answer_is_cut_off(slow_node: Node) -> None:
    """/health answers without reading the body; the connection does not stay open for it."""
    sock = connect(slow_node)
    sock.sendall(b"GET /health HTTP/1.1\r\nHost: wagerbase\r\nContent-Length: 1000\r\n\r\n")
    trickle = Trickle(sock, b"a" * 1000)
    try:
        status, _, _ = parsed(until_closed(sock))
    finally:
        trickle.stop()
    assert status == 200


def test_a_body_that_arrives_in_time_is_served(slow_node: Node) -> None:
    name = f"timely_{uuid.uuid4().hex[:8]}"
    answer = httpx.post(
        f"{slow_node.url}/api/auth/register",
        json={"username": name, "password": "correct horse 1"},
        timeout=DEADLINE,
    )
    assert answer.status_code == 200, answer.text
