"""bench.live's sockets: anonymous /ws sockets in one process, each stamping every message as it
arrives (`Sockets`), with the `websockets` asyncio client or a minimal one of its own
(`RawSocket`, --client raw), and the cheap reading of an odds_update's market and version.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import math
import os
import urllib.parse
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from bench.node import CLOCK


class BenchError(RuntimeError):
    """The benchmark could not measure what it set out to. (bench.live's own: bench.command's
    conclude does not catch it, so it ends a run with its traceback.)"""


class RawSocket(asyncio.Protocol):
    """A WebSocket client reduced to what the benchmark needs, for `--client raw`: the upgrade,
    then the server's frames (unmasked, unfragmented text; pings answered with a masked pong;
    a close ends it). It stamps each text message as its bytes arrive, with a few microseconds
    of Python per message where the `websockets` client spends tens: so the figures are the
    node's more than the client's. It offers no compression."""

    def __init__(self, host: str, path: str, on_text: Any, on_close: Any) -> None:
        self.request = (
            f"GET {path} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\n"
            "Connection: Upgrade\r\nSec-WebSocket-Key: "
            f"{base64.b64encode(os.urandom(16)).decode()}\r\nSec-WebSocket-Version: 13\r\n\r\n"
        ).encode()
        self.on_text = on_text
        self.on_close = on_close
        self.opened: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.transport: asyncio.Transport | None = None
        self.buffer = b""
        self.upgraded = False
        self.close_code: int | None = None
        self.close_reason: str | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        transport.write(self.request)

    def data_received(self, data: bytes) -> None:
        now = CLOCK()
        buffer = self.buffer + data if self.buffer else data
        if not self.upgraded:
            end = buffer.find(b"\r\n\r\n")
            if end < 0:
                self.buffer = buffer
                return
            if not buffer.startswith(b"HTTP/1.1 101"):
                self.opened.set_exception(BenchError(f"upgrade refused: {buffer[:100]!r}"))
                return
            self.upgraded = True
            self.opened.set_result(None)
            buffer = buffer[end + 4 :]
        at, size = 0, len(buffer)
        while size - at >= 2:
            opcode, length = buffer[at] & 0x0F, buffer[at + 1] & 0x7F
            head = 2
            if length == 126:
                if size - at < 4:
                    break
                length, head = int.from_bytes(buffer[at + 2 : at + 4], "big"), 4
            elif length == 127:
                if size - at < 10:
                    break
                length, head = int.from_bytes(buffer[at + 2 : at + 10], "big"), 10
            if size - at < head + length:
                break
            payload = buffer[at + head : at + head + length]
            at += head + length
            if opcode == 1:
                self.on_text(now, payload.decode())
            elif opcode == 9:  # ping: a pong with the same payload, masked as a client's must be
                mask = os.urandom(4)
                masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
                assert self.transport is not None
                self.transport.write(bytes([0x8A, 0x80 | len(payload)]) + mask + masked)
            elif opcode == 8:
                self.close_code = int.from_bytes(payload[:2], "big") if len(payload) >= 2 else None
                self.close_reason = payload[2:].decode(errors="replace")
                assert self.transport is not None
                self.transport.close()
        self.buffer = buffer[at:]

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.opened.done():
            self.opened.set_exception(exc or BenchError("connection lost before the upgrade"))
        self.on_close(self)


class Sockets:
    """Anonymous /ws sockets in this process, each stamping every message as it arrives: the
    `websockets` asyncio client, as a browser-like client (`client` "websockets"), or RawSocket
    (`client` "raw")."""

    def __init__(self, url: str, compression: str | None, client: str = "websockets") -> None:
        self.url = url
        self.compression = compression
        self.client = client
        self.connections: list[Any] = []
        self.logs: list[list[tuple[float, str]]] = []
        self.readers: list[asyncio.Task[None]] = []
        self.closed: list[dict[str, Any]] = []
        self.received = 0
        self.last_receipt = 0.0
        self._target = math.inf
        self._reached = asyncio.Event()
        self._closing = False
        # per socket, the newest version of each market's odds it received (kept as they come)
        self.latest: list[dict[int, int]] = []
        self._final: dict[int, int] = {}  # wait_latest's goal, market -> version
        self.satisfied = 0  # (socket, market) pairs that reached the goal

    def __len__(self) -> int:
        return len(self.connections)

    async def grow(self, count: int, concurrency: int = 50) -> float:
        """Open sockets until there are `count`; returns the seconds it took."""
        started = CLOCK()
        gate = asyncio.Semaphore(concurrency)
        if self.client == "raw":
            while len(self) < count:
                self._add(None)
            await self._open_raws(count, gate)
            return CLOCK() - started

        async def one() -> ClientConnection:
            async with gate:
                return await connect(
                    self.url,
                    compression=self.compression,
                    proxy=None,
                    open_timeout=60,
                    ping_interval=None,  # the node pings; answering is automatic
                    max_size=2**20,
                )

        opened = await asyncio.gather(*(one() for _ in range(count - len(self))))
        for ws in opened:
            index = self._add(ws)
            self.readers.append(asyncio.create_task(self._read(index, ws), name=f"ws-{index}"))
        return CLOCK() - started

    def _add(self, connection: Any) -> int:
        index = len(self.connections)
        self.connections.append(connection)
        self.logs.append([])
        self.latest.append({})
        return index

    async def _open_raws(self, count: int, gate: asyncio.Semaphore) -> None:
        """Open the RawSockets of the indexes that have none yet (up to `count`)."""
        loop = asyncio.get_running_loop()
        split = urllib.parse.urlsplit(self.url)
        host, port = split.hostname or "127.0.0.1", split.port or 80

        async def one(index: int) -> None:
            async with gate:
                protocol = RawSocket(
                    f"{host}:{port}",
                    split.path,
                    lambda now, text: self._received(index, now, text),
                    lambda raw: self._lost(index, raw),
                )
                await loop.create_connection(lambda: protocol, host, port)
                await asyncio.wait_for(protocol.opened, 60)
                self.connections[index] = protocol

        await asyncio.gather(*(one(i) for i in range(count) if self.connections[i] is None))

    def _lost(self, index: int, raw: RawSocket) -> None:
        if not self._closing:
            self.closed.append(
                {"socket": index, "code": raw.close_code, "reason": raw.close_reason}
            )

    def _received(self, index: int, now: float, text: str) -> None:
        self.logs[index].append((now, text))
        self.received += 1
        self.last_receipt = now
        if self.received >= self._target:
            self._reached.set()
        key = odds_key(text)
        if key is not None:
            market, version = key
            latest = self.latest[index]
            before = latest.get(market, 0)
            if version > before:
                latest[market] = version
                goal = self._final.get(market)
                if goal is not None and before < goal <= version:
                    self.satisfied += 1

    async def _read(self, index: int, ws: ClientConnection) -> None:
        try:
            async for message in ws:
                now = CLOCK()
                self._received(
                    index, now, message if isinstance(message, str) else message.decode()
                )
        except ConnectionClosed:
            pass
        finally:
            if not self._closing:
                self.closed.append(
                    {"socket": index, "code": ws.close_code, "reason": ws.close_reason}
                )

    async def wait_for(self, total: int, timeout: float) -> bool:
        """Until `total` messages have arrived on all sockets together; False on timeout."""
        if self.received >= total:
            return True
        self._target = total
        self._reached.clear()
        try:
            await asyncio.wait_for(self._reached.wait(), timeout)
        except TimeoutError:
            return False
        finally:
            self._target = math.inf
        return True

    async def wait_latest(self, final: dict[int, int], limit_s: float) -> bool:
        """Until every socket holds version `final[m]` of every market m (odds may be coalesced,
        the last one may not be lost); False when `limit_s` passed first."""
        deadline = CLOCK() + limit_s
        self._final = dict(final)
        self.satisfied = sum(
            1
            for latest in self.latest
            for market, version in final.items()
            if latest.get(market, 0) >= version
        )
        goal = len(self.latest) * len(final)
        try:
            while self.satisfied < goal:
                if CLOCK() >= deadline:
                    return False
                await asyncio.sleep(0.02)
        finally:
            self._final = {}
        return True

    def take(self) -> list[list[tuple[float, str]]]:
        """What each socket received since the last take."""
        taken = [list(log) for log in self.logs]
        for log in self.logs:
            log.clear()
        return taken

    def extensions(self) -> list[str]:
        if not self.connections or self.client == "raw":
            return []  # RawSocket offers none
        return [str(ext.name) for ext in self.connections[0].protocol.extensions]

    async def close(self) -> None:
        self._closing = True
        if self.client == "raw":
            for raw in self.connections:
                if raw is not None and raw.transport is not None:
                    raw.transport.close()
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(
                asyncio.gather(*(ws.close() for ws in self.connections), return_exceptions=True),
                timeout=30,
            )
        for task in self.readers:
            task.cancel()
        await asyncio.gather(*self.readers, return_exceptions=True)


def parse(text: str) -> dict[str, Any]:
    try:
        message = json.loads(text)
    except ValueError:
        return {"opcode": "(not JSON)"}
    return message if isinstance(message, dict) else {"opcode": "(not an object)"}


def market_of(message: dict[str, Any]) -> Any:
    return message.get("game_id", message.get("market_id"))


_ODDS = '{"opcode": "odds_update", '


def odds_key(text: str) -> tuple[int, int] | None:
    """(market, version) of an odds_update, None for any other message. Cheap, as it runs for
    every message received: the node writes `{"opcode": "odds_update", "game_id": 3, ...,
    "version": 7}`; anything shaped otherwise is parsed as JSON."""
    if not text.startswith(_ODDS):
        return None
    try:
        head = text[len(_ODDS) : len(_ODDS) + 48]
        if not head.startswith(('"game_id": ', '"market_id": ')):
            raise ValueError(head)
        market = int(head[head.index(":") + 1 : head.index(",")])
        last = text.rindex('"version": ')
        version = int(text[last + len('"version": ') : -1])
    except ValueError:
        message = parse(text)
        market_id, version_value = market_of(message), message.get("version")
        if not isinstance(market_id, int) or not isinstance(version_value, int):
            return None
        return market_id, version_value
    return market, version
