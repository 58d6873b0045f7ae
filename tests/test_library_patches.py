"""Every reliance on a library's private or undocumented parts (api/wagerbase/library_patches.py)
fails a test here when the library changes under it. Whoever upgrades one of these libraries reads
the section of library_patches.py against the new code, then updates what fails here.
(tests/attack/test_abuse_slow_clients.py and tests/live/test_fanout.py prove the same parts
against a running node.)"""

import hashlib
import inspect

import pytest
from uvicorn.protocols.http.h11_impl import H11Protocol, RequestResponseCycle
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.extensions.permessage_deflate import PerMessageDeflate

from wagerbase import library_patches, slow_clients
from wagerbase.library_patches import H11_HOOKS, WEBSOCKET_ATTRIBUTES, ExtensibleH11Protocol


def digest(owner: type, name: str) -> str:
    """sha256 (first 16 hex digits) of the source of a library's method."""
    return hashlib.sha256(inspect.getsource(getattr(owner, name)).encode()).hexdigest()[:16]


# ---- 3. uvicorn: deadlines on a request being received ---------------------------------------

# sha256 (first 16 hex digits) of the source of each method, in uvicorn 0.55.0
KNOWN = {
    (H11Protocol, "__init__"): "ad1ed8e837b2db8d",
    (H11Protocol, "connection_made"): "6efb565ff3d36b91",
    (H11Protocol, "data_received"): "e03b145518ca44aa",
    (H11Protocol, "connection_lost"): "dbb688fa2b386000",
    (H11Protocol, "handle_events"): "278f2d7efca279a3",
    (H11Protocol, "on_response_complete"): "1fbb8f48c6a1afc4",
    (H11Protocol, "handle_websocket_upgrade"): "7826127130587c35",
    # BodyDeadline relies on receive() waiting on an event it may be cancelled out of, and on
    # send() closing the connection after an answer that says `Connection: close`
    (RequestResponseCycle, "receive"): "2d138e9944fff369",
    (RequestResponseCycle, "send"): "76b4bcb0998bed0e",
}


@pytest.mark.parametrize(
    ("owner", "name"), list(KNOWN), ids=[f"{o.__name__}.{n}" for o, n in KNOWN]
)
def test_the_uvicorn_code_the_protocol_extends_is_the_one_it_was_written_for(
    owner: type, name: str
) -> None:
    assert digest(owner, name) == KNOWN[owner, name], (
        f"uvicorn's {owner.__name__}.{name} changed: check wagerbase/library_patches.py "
        "(ExtensibleH11Protocol) and slow_clients.py against it"
    )


def test_every_hook_the_protocol_overrides_is_checked() -> None:
    def overridden(cls: type) -> set[str]:
        return {
            name
            for name, value in vars(cls).items()
            if callable(value) and hasattr(H11Protocol, name)
        }

    known = {name for owner, name in KNOWN if owner is H11Protocol}
    # every uvicorn method extended is one whose source is checked above
    assert overridden(ExtensibleH11Protocol) <= known
    assert set(H11_HOOKS) <= overridden(ExtensibleH11Protocol)
    # and BoundedH11Protocol extends uvicorn only through ExtensibleH11Protocol
    assert overridden(slow_clients.BoundedH11Protocol) == {"__init__"}


# ---- 4. uvicorn: writing to a WebSocket's connection -----------------------------------------


def test_wire_relies_on_what_uvicorn_s_websocket_protocol_still_has() -> None:
    names = set(WebSocketsSansIOProtocol.__init__.__code__.co_names)
    assert set(WEBSOCKET_ATTRIBUTES) <= names
    assert callable(WebSocketsSansIOProtocol.send)


# ---- 5. websockets: a text frame's bytes made once -------------------------------------------


def test_frames_are_shared_only_where_no_extension_keeps_state() -> None:
    assert library_patches.frame_signature([]) == ()
    no_context = PerMessageDeflate(False, True, 15, 12, {"memLevel": 5})
    assert library_patches.frame_signature([no_context]) == (
        ("permessage-deflate", 12, (("memLevel", 5),)),
    )
    with_context = PerMessageDeflate(False, False, 15, 12, {"memLevel": 5})
    assert library_patches.frame_signature([with_context]) is None
