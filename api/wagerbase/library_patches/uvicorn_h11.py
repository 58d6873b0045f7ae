"""uvicorn's h11 protocol (3.): the hooks and state slow_clients.py's deadlines on a request being
received extend and read. The package's docstring says what every reliance is and how it is
checked."""

from __future__ import annotations

import asyncio

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol, RequestResponseCycle

from wagerbase.library_patches.guards import init_sets

# ---- 3. uvicorn: deadlines on a request being received ---------------------------------------

# What ExtensibleH11Protocol reads of uvicorn's h11 protocol beyond asyncio.Protocol: the
# attributes that H11Protocol.__init__ sets (the h11 connection, the transport, the loop, the
# request cycle in progress, the keep-alive timer), the hooks it extends, and the cycle's
# `response_complete`.
H11_ATTRIBUTES = ("conn", "transport", "loop", "cycle", "timeout_keep_alive_task")
H11_HOOKS = (
    "connection_made",
    "data_received",
    "handle_events",
    "connection_lost",
    "on_response_complete",
    "handle_websocket_upgrade",
)


def require_h11_protocol_internals(
    protocol: type = H11Protocol, cycle: type = RequestResponseCycle
) -> None:
    """Refuse to load unless uvicorn's H11Protocol still has what ExtensibleH11Protocol uses."""
    if (
        not init_sets(protocol, H11_ATTRIBUTES)
        or not all(callable(getattr(protocol, hook, None)) for hook in H11_HOOKS)
        or not init_sets(cycle, ("response_complete",))
    ):
        raise ImportError(
            "wagerbase.slow_clients extends uvicorn's H11Protocol, whose internals changed: it "
            f"needs the attributes {', '.join(H11_ATTRIBUTES)} and the hooks {', '.join(H11_HOOKS)}"
        )


require_h11_protocol_internals()


class ExtensibleH11Protocol(H11Protocol):
    """uvicorn 0.55's h11 protocol, with its private parts reached only through this class.

    Private part: H11Protocol is uvicorn's own, undocumented beyond `--http h11`: the hooks
    named in H11_HOOKS (`handle_events`, `on_response_complete`, `handle_websocket_upgrade`
    are uvicorn's, the others asyncio.Protocol's, as uvicorn implements them), the attributes
    named in H11_ATTRIBUTES, and RequestResponseCycle's `response_complete`. This class
    overrides each hook once to call its extension point (`after_connection_made`,
    `takes_events`...: each says which hook calls it, and when), and gives what a subclass may
    read of uvicorn's state as properties.

    Why: uvicorn never times out a request being received (slowloris); its h11 protocol is where
    a deadline can see every byte of a connection before the app does (slow_clients.py,
    BoundedH11Protocol). Without it: a connection that sends part of its headers and stalls is
    held for ever, and a head sent whole in one read is bounded by nothing."""

    # the extension points, each called from the hook named

    def after_connection_made(self) -> None:
        """connection_made: after uvicorn set the connection up."""

    def after_data_received(self) -> None:
        """data_received: after uvicorn handled the bytes."""

    def takes_events(self) -> bool:
        """handle_events, before uvicorn handles the bytes new in h11's buffer: False, and
        uvicorn does not (the subclass answered and closed the connection)."""
        return True

    def after_response_complete(self) -> None:
        """on_response_complete: after uvicorn finished an answer."""

    def before_websocket_upgrade(self) -> None:
        """handle_websocket_upgrade: before uvicorn hands the connection to its WebSocket
        protocol."""

    def before_connection_lost(self) -> None:
        """connection_lost: before uvicorn tears the connection down."""

    # uvicorn's hooks

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)  # type: ignore[arg-type]
        self.after_connection_made()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        self.after_data_received()

    def handle_events(self) -> None:
        # called with new bytes in h11's buffer (from data_received, and for a request sent
        # before the previous one was answered, from on_response_complete)
        if self.takes_events():
            super().handle_events()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self.after_response_complete()

    def handle_websocket_upgrade(self, event: h11.Request) -> None:
        self.before_websocket_upgrade()
        super().handle_websocket_upgrade(event)

    def connection_lost(self, exc: Exception | None) -> None:
        self.before_connection_lost()
        super().connection_lost(exc)

    # uvicorn's state, read

    @property
    def h11_connection(self) -> h11.Connection:
        """The connection's h11 state machine (h11's documented API from there on)."""
        return self.conn

    @property
    def raw_transport(self) -> asyncio.Transport:
        return self.transport

    @property
    def event_loop(self) -> asyncio.AbstractEventLoop:
        return self.loop

    @property
    def current_cycle(self) -> object:
        """The request in progress (its headers are in), for its identity only; None before the
        first request's headers."""
        return self.cycle

    @property
    def answer_sent(self) -> bool:
        """Whether the request in progress has been answered completely."""
        return self.cycle is not None and self.cycle.response_complete

    @property
    def keep_alive_timer_runs(self) -> bool:
        """Whether uvicorn's keep-alive timer runs (the connection idle after an answer)."""
        return self.timeout_keep_alive_task is not None
