"""What clients send each other on the Realtime socket, at the database (rpc/96_realtime.sql,
migrations/0022): a broadcast becomes an event of the stream and never on the engine's topics; a
presence is a row every node reads, each change one presence_diff; a channel holds a bounded
number of presences; a node's rows follow what it holds, and a node that went silent loses its
presences to the next node that beats; realtime.messages decides private channels by RLS as the
caller and never keeps a row, whoever commits."""

import json
import uuid
from typing import Any

import psycopg
import pytest
from psycopg import sql

from tests.db.personas import Persona, anonymous, persona, service
from tests.pgserver import Connection

TTL = 15


def write(conn: Connection, node: uuid.UUID, *items: dict[str, Any], most: int = 500) -> list[str]:
    row = conn.execute(
        "select server.realtime_write(%s, %s, %s::jsonb, %s)",
        [node, TTL, json.dumps(list(items)), most],
    ).fetchone()
    assert row is not None
    return list(row[0])


def events(conn: Connection) -> list[dict[str, Any]]:
    """The realtime events written so far in the test's transaction, oldest first."""
    return [
        payload
        for (payload,) in conn.execute(
            "select payload from app.events where channel = 'wagerbase_realtime' order by id"
        ).fetchall()
    ]


def track(ref: str, meta: dict[str, Any], topic: str = "room:1", **more: Any) -> dict[str, Any]:
    item = {"op": "track", "ref": ref, "topic": topic, "private": False, "key": "k-" + ref}
    return item | {"meta": meta} | more


def state(conn: Connection, topic: str = "room:1", private: bool = False) -> dict[str, Any]:
    row = conn.execute("select server.realtime_presence_state(%s, %s)", [topic, private]).fetchone()
    assert row is not None
    found: dict[str, Any] = row[0]
    return found


def test_a_broadcast_is_an_event_and_the_engine_topics_are_refused(conn: Connection) -> None:
    node = uuid.uuid4()
    sent = {"topic": "room:1", "private": True, "event": "chat", "payload": {"text": "hi"}}
    forged = [
        {"op": "broadcast", "topic": topic, "event": "odds", "payload": {"market_id": 1}}
        for topic in ("market:1", "markets", "admin", "user:x", "users", "wagerbase:x", "")
    ]
    results = write(conn, node, {"op": "broadcast", "sender": "s1", **sent}, *forged)
    assert results == ["ok"] + ["engine_topic"] * len(forged)
    assert events(conn) == [{"type": "broadcast", "sender": "s1", **sent}]
    assert write(conn, node, {"op": "nonsense"}) == ["unknown_op"]


def test_presence_tracks_replacements_and_leaves_are_diffs(conn: Connection) -> None:
    node = uuid.uuid4()
    assert write(conn, node, track("r1", {"name": "ana"})) == ["ok"]
    assert write(conn, node, track("r2", {"name": "ben"})) == ["ok"]
    assert write(conn, node, track("r3", {"name": "ana", "typing": True}, prev="r1")) == ["ok"]
    assert write(conn, node, {"op": "untrack", "ref": "r2"}, {"op": "untrack", "ref": "r2"}) == [
        "ok",
        "ok",
    ]
    diffs = [(e["joins"], e["leaves"]) for e in events(conn)]
    assert diffs == [
        ({"k-r1": {"metas": [{"name": "ana", "phx_ref": "r1"}]}}, {}),
        ({"k-r2": {"metas": [{"name": "ben", "phx_ref": "r2"}]}}, {}),
        (
            {
                "k-r3": {
                    "metas": [
                        {"name": "ana", "typing": True, "phx_ref": "r3", "phx_ref_prev": "r1"}
                    ]
                }
            },
            {"k-r1": {"metas": [{"name": "ana", "phx_ref": "r1"}]}},
        ),
        ({}, {"k-r2": {"metas": [{"name": "ben", "phx_ref": "r2"}]}}),
    ]
    assert all(e["type"] == "presence_diff" and e["topic"] == "room:1" for e in events(conn))
    assert state(conn) == {"k-r3": {"metas": [{"name": "ana", "typing": True, "phx_ref": "r3"}]}}
    assert state(conn, private=True) == {} and state(conn, "room:2") == {}


def test_a_channel_holds_a_bounded_number_of_presences_and_refuses_bad_ones(
    conn: Connection,
) -> None:
    node = uuid.uuid4()
    assert write(conn, node, *(track(f"a{i}", {}) for i in range(3)), most=3) == ["ok"] * 3
    assert write(conn, node, track("a3", {}), most=3) == ["too_many_presences"]
    # replacing one's own presence is not one more
    assert write(conn, node, track("a4", {"x": 1}, prev="a0"), most=3) == ["ok"]
    assert write(conn, node, track("b0", {}, topic="room:2"), most=3) == ["ok"]
    assert write(
        conn,
        node,
        track("c0", {}, topic="market:3"),
        track("c1", {}) | {"meta": ["not", "an", "object"]},
        track("c2", {}) | {"key": ""},
        most=10,
    ) == ["engine_topic", "invalid_presence", "invalid_presence"]
    assert sorted(state(conn)) == ["k-a1", "k-a2", "k-a4"]


def test_a_node_s_rows_follow_what_it_holds(conn: Connection) -> None:
    node, other = uuid.uuid4(), uuid.uuid4()
    write(conn, node, track("n1", {"a": 1}), track("n2", {"b": 2}))
    write(conn, other, track("o1", {"c": 3}))
    held = [
        {"ref": "n2", "topic": "room:1", "private": False, "key": "k-n2", "meta": {"b": 2}},
        {"ref": "n3", "topic": "room:1", "private": False, "key": "k-n3", "meta": {"d": 4}},
    ]
    before = len(events(conn))
    assert write(conn, node, {"op": "reconcile", "presences": held}) == ["ok"]
    diffs = [(e["joins"], e["leaves"]) for e in events(conn)[before:]]
    assert diffs == [
        ({}, {"k-n1": {"metas": [{"a": 1, "phx_ref": "n1"}]}}),
        ({"k-n3": {"metas": [{"d": 4, "phx_ref": "n3"}]}}, {}),
    ]
    assert sorted(state(conn)) == ["k-n2", "k-n3", "k-o1"]  # the other node's stays
    row = conn.execute("select server.realtime_beat(%s, %s)", [node, TTL]).fetchone()
    assert row is not None
    assert row[0]["new"] is False  # the writes made its row
    digest = conn.execute("select md5('n2,n3')").fetchone()
    assert digest is not None and row[0]["digest"] == digest[0]


def test_a_silent_node_loses_its_presences_to_the_next_beat(conn: Connection) -> None:
    dead, alive = uuid.uuid4(), uuid.uuid4()
    write(conn, dead, track("d1", {"x": 1}), track("d2", {"y": 2}, topic="room:2"))
    conn.execute(
        "update app.realtime_nodes set seen_at = seen_at - interval '16 seconds' where node = %s",
        [dead],
    )
    before = len(events(conn))
    row = conn.execute("select server.realtime_beat(%s, %s)", [alive, TTL]).fetchone()
    assert row is not None and row[0]["new"] is True
    leaves = {e["topic"]: e["leaves"] for e in events(conn)[before:]}
    assert leaves == {
        "room:1": {"k-d1": {"metas": [{"x": 1, "phx_ref": "d1"}]}},
        "room:2": {"k-d2": {"metas": [{"y": 2, "phx_ref": "d2"}]}},
    }
    assert state(conn) == {} and state(conn, "room:2") == {}
    nodes = conn.execute("select node from app.realtime_nodes order by node").fetchall()
    assert dead not in [n for (n,) in nodes] and alive in [n for (n,) in nodes]
    # the dead node comes back: its row is new, so it says again what it holds
    row = conn.execute("select server.realtime_beat(%s, %s)", [dead, TTL]).fetchone()
    assert row is not None and row[0]["new"] is True
    assert row[0]["digest"] == conn.execute("select md5('')").fetchone()[0]  # type: ignore[index]


def test_a_node_that_stops_ends_its_presences(conn: Connection) -> None:
    node = uuid.uuid4()
    write(conn, node, track("g1", {}), track("g2", {}))
    before = len(events(conn))
    conn.execute("select server.realtime_gone(%s)", [node])
    assert [sorted(e["leaves"]) for e in events(conn)[before:]] == [["k-g1", "k-g2"]]
    assert state(conn) == {}
    assert conn.execute(
        "select count(*) from app.realtime_nodes where node = %s", [node]
    ).fetchone() == (0,)


def test_realtime_messages_never_keeps_a_row_whoever_commits(fresh_db: Any) -> None:
    url = fresh_db()
    with psycopg.connect(url) as owner:
        owner.execute("insert into realtime.messages (topic, extension) values ('room:1', 'x')")
        with pytest.raises(psycopg.Error) as caught:
            owner.commit()
        assert caught.value.diag.message_primary == "realtime_messages_not_kept"
        owner.rollback()
        assert owner.execute("select count(*) from realtime.messages").fetchone() == (0,)


def check(who: Persona, topic: str) -> dict[str, bool]:
    """What `who` may do on the private channel `topic`, checked as the API node checks it
    (surfaces/realtime/policies.py): probe rows written as the owner, then read and written as
    the caller; everything rolled back."""
    conn = who.conn
    ids = [uuid.uuid4(), uuid.uuid4()]
    found: dict[str, bool] = {}
    with conn.transaction(force_rollback=True):
        conn.execute("select server.realtime_probe(%s, %s)", [topic, ids])
        with who.acting():
            readable = {
                extension
                for (extension,) in conn.execute(
                    "select extension from realtime.messages where id = any(%s)", [ids]
                )
            }
            for extension in ("broadcast", "presence"):
                found[f"read {extension}"] = extension in readable
                try:
                    with conn.transaction():
                        conn.execute(
                            "insert into realtime.messages (topic, extension, private)"
                            " values (realtime.topic(), %s, true)",
                            [extension],
                        )
                    found[f"write {extension}"] = True
                except psycopg.errors.InsufficientPrivilege:
                    found[f"write {extension}"] = False
    return found


NOTHING = {
    "read broadcast": False,
    "write broadcast": False,
    "read presence": False,
    "write presence": False,
}
EVERYTHING = dict.fromkeys(NOTHING, True)


def test_without_a_policy_a_private_channel_allows_nothing_but_to_the_service_role(
    conn: Connection,
) -> None:
    assert check(anonymous(conn), "room:1") == NOTHING
    assert check(persona(conn, "rt_nobody"), "room:1") == NOTHING
    assert check(persona(conn, "rt_admin", admin=True), "room:1") == NOTHING
    assert check(service(conn), "room:1") == EVERYTHING  # it bypasses RLS, as on Supabase


def test_policies_on_realtime_messages_decide_by_topic_and_user(conn: Connection) -> None:
    ana, ben = persona(conn, "rt_ana"), persona(conn, "rt_ben")
    who = sql.Literal(str(ana.user_id))
    conn.execute(
        sql.SQL(
            """create policy "ana reads her room" on realtime.messages for select
               to authenticated
               using (realtime.topic() = 'room:ana' and (select auth.uid()) = {}::uuid)"""
        ).format(who)
    )
    conn.execute(
        sql.SQL(
            """create policy "ana sends broadcasts in her room" on realtime.messages for insert
               to authenticated
               with check (realtime.topic() = 'room:ana' and extension = 'broadcast'
                           and (select auth.uid()) = {}::uuid)"""
        ).format(who)
    )
    assert check(ana, "room:ana") == {
        "read broadcast": True,
        "write broadcast": True,
        "read presence": True,
        "write presence": False,
    }
    assert check(ana, "room:ben") == NOTHING
    assert check(ben, "room:ana") == NOTHING
    assert conn.execute("select count(*) from realtime.messages").fetchone() == (0,)


def test_an_operator_tries_a_policy_at_the_prompt(conn: Connection) -> None:
    """docs/live.md's way to try a policy: the probe, then console.act_as, then a select."""
    persona(conn, "rt_lobby")
    conn.execute(
        """create policy "signed-in users hear the lobby" on realtime.messages
           for select to authenticated using (realtime.topic() = 'lobby')"""
    )
    with conn.transaction(force_rollback=True):
        conn.execute(
            "select server.realtime_probe('lobby', array[gen_random_uuid(), gen_random_uuid()])"
        )
        conn.execute("select console.act_as('rt_lobby')")
        seen = conn.execute("select extension from realtime.messages order by 1").fetchall()
    assert seen == [("broadcast",), ("presence",)]
