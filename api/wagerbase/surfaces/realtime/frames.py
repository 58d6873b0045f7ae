"""The frames of the Realtime socket: Phoenix's two JSON serializers, chosen by the `vsn` query
parameter at the upgrade (1.0.0, the default and supabase-py's: objects `{"topic", "event",
"payload", "ref", "join_ref"}`; 2.0.0, realtime-js's default: arrays `[join_ref, ref, topic,
event, payload]`, plus the binary user broadcast push realtime-js sends for
`channel.send({type: "broadcast", ...})`), the frames this server sends, and those made once per
message for every socket of the node: a broadcast's text (`Encoded`), a postgres_changes row's
data (`Shared`, in a `ChangeFrame`). The serializer only encodes and decodes: every frame goes
through the same handling whatever the version.
"""

import json
from dataclasses import dataclass
from typing import Any

PHOENIX = "phoenix"
VSN_1 = "1.0.0"
VSN_2 = "2.0.0"


def push(topic: str, event: str, payload: dict[str, Any]) -> dict[str, Any]:
    """A frame the server sends of its own (no ref)."""
    return {"event": event, "topic": topic, "ref": None, "payload": payload}


def reply(
    topic: str, ref: str | None, join_ref: str | None, status: str, response: dict[str, Any]
) -> dict[str, Any]:
    frame: dict[str, Any] = {
        "event": "phx_reply",
        "topic": topic,
        "ref": ref,
        "payload": {"status": status, "response": response},
    }
    if join_ref is not None:
        frame["join_ref"] = join_ref
    return frame


def dumps(value: Any) -> str:
    """Compact JSON, as Phoenix frames are written."""
    return json.dumps(value, separators=(",", ":"))


class Shared:
    """JSON made once for every socket of the node that sends it (a row's `data`)."""

    def __init__(self, value: dict[str, Any]) -> None:
        self.value = value
        self._text: str | None = None

    @property
    def text(self) -> str:
        if self._text is None:
            self._text = dumps(self.value)
        return self._text


@dataclass(frozen=True)
class ChangeFrame:
    """A postgres_changes push to `topic` for the bindings `ids`, around a row's shared `data`
    (the serializers above encode it; `as_dict` is the frame as any other)."""

    topic: str
    ids: list[int]
    data: Shared

    def as_dict(self) -> dict[str, Any]:
        return {
            "event": "postgres_changes",
            "topic": self.topic,
            "ref": None,
            "payload": {"ids": self.ids, "data": self.data.value},
        }


@dataclass(frozen=True)
class Encoded:
    """A frame already encoded by the socket's serializer (a broadcast, made once per message and
    topic for every socket of the node that speaks the same serializer)."""

    topic: str
    text: str


Frame = dict[str, Any] | ChangeFrame | Encoded


def topic_of(frame: Frame) -> str:
    return frame["topic"] if isinstance(frame, dict) else frame.topic


class FrameError(Exception):
    """A frame this server answers with an error reply; `reason` goes to the client."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class DecodeError(FrameError):
    """A frame the serializer could not read: answered on `topic` (`phoenix` when unknown) with
    whatever refs could be read."""

    def __init__(
        self,
        reason: str,
        topic: str = PHOENIX,
        ref: str | None = None,
        join_ref: str | None = None,
    ) -> None:
        super().__init__(reason)
        self.topic, self.ref, self.join_ref = topic, ref, join_ref


def _json(text: str) -> Any:
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        raise DecodeError("the frame is not JSON") from None


class SerializerV1:
    """Phoenix's V1 JSON serializer: every frame a text JSON object with the message's fields."""

    vsn = VSN_1

    def encode(self, frame: Frame) -> str:
        if isinstance(frame, Encoded):
            return frame.text
        if isinstance(frame, ChangeFrame):  # as dumps(frame.as_dict()), the data encoded once
            return (
                f'{{"event":"postgres_changes","topic":{dumps(frame.topic)},"ref":null,'
                f'"payload":{{"ids":{dumps(frame.ids)},"data":{frame.data.text}}}}}'
            )
        return dumps(frame)

    def decode(self, data: str | bytes) -> dict[str, Any]:
        if isinstance(data, bytes):
            raise DecodeError("binary frames are not supported")
        frame = _json(data)
        if not isinstance(frame, dict):
            raise DecodeError("a frame must be a JSON object")
        return frame


class SerializerV2:
    """Phoenix's V2 JSON serializer, as realtime-js implements it (lib/serializer.js): text frames
    are JSON arrays `[join_ref, ref, topic, event, payload]` both ways; a client may also send a
    binary user broadcast push. The server sends only text frames (the client decodes them as
    well as its binary broadcasts)."""

    vsn = VSN_2
    USER_BROADCAST_PUSH = 3  # kind byte
    META_LENGTH = 7  # kind, five field lengths and the payload encoding
    JSON_ENCODING = 1  # else 0: raw bytes

    def encode(self, frame: Frame) -> str:
        if isinstance(frame, Encoded):
            return frame.text
        if isinstance(frame, ChangeFrame):  # as encoding frame.as_dict(), the data encoded once
            return (
                f'[null,null,{dumps(frame.topic)},"postgres_changes",'
                f'{{"ids":{dumps(frame.ids)},"data":{frame.data.text}}}]'
            )
        return dumps(
            [
                frame.get("join_ref"),
                frame.get("ref"),
                frame["topic"],
                frame["event"],
                frame["payload"],
            ]
        )

    def decode(self, data: str | bytes) -> dict[str, Any]:
        if isinstance(data, bytes):
            return self._decode_broadcast_push(data)
        frame = _json(data)
        if not isinstance(frame, list) or len(frame) != 5:
            raise DecodeError("a frame must be a JSON array [join_ref, ref, topic, event, payload]")
        return dict(zip(("join_ref", "ref", "topic", "event", "payload"), frame, strict=True))

    def _decode_broadcast_push(self, data: bytes) -> dict[str, Any]:
        """`kind=3, len(join_ref), len(ref), len(topic), len(event), len(metadata), encoding`, then
        those five strings (one byte a character), then the payload (JSON text or raw bytes)."""
        if len(data) < self.META_LENGTH or data[0] != self.USER_BROADCAST_PUSH:
            raise DecodeError("the only binary frame accepted is a user broadcast push (kind 3)")
        offset = self.META_LENGTH
        fields = []
        for size in data[1:6]:
            if offset + size > len(data):
                raise DecodeError("truncated binary frame")
            fields.append(data[offset : offset + size].decode("latin-1"))
            offset += size
        join_ref, ref, topic, event, metadata = fields
        where = (topic or PHOENIX, ref or None, join_ref or None)
        body: Any = data[offset:]
        try:
            meta = json.loads(metadata) if metadata else {}
            if data[6] == self.JSON_ENCODING:
                body = json.loads(body.decode("utf-8"))
        except (ValueError, RecursionError):
            raise DecodeError("the broadcast's payload or metadata is not JSON", *where) from None
        payload = {**(meta if isinstance(meta, dict) else {}), "type": "broadcast"}
        payload |= {"event": event, "payload": body}
        return {
            "join_ref": where[2],
            "ref": where[1],
            "topic": topic,
            "event": "broadcast",
            "payload": payload,
        }


Serializer = SerializerV1 | SerializerV2
SERIALIZERS: dict[str, Serializer] = {VSN_1: SerializerV1(), VSN_2: SerializerV2()}
