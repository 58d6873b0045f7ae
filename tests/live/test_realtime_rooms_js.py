"""The official realtime-js client (supabase-js, serializer 2.0.0) and supabase-py's, on two nodes,
in one private room its policies open to both users: each sees the other's presence
(`presenceState()`, the `sync` event), and each gets the other's broadcasts, realtime-js's sent as
its binary user broadcast push and acknowledged (`ack`)."""

import asyncio
import uuid
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from tests.live.node_js import start
from tests.live.realtime_fixtures import PASSWORD, SUBSCRIBED, WAIT, Inbox, close, run, sign_up
from tests.live.realtime_fixtures import subscribe as subscribed
from tests.serving import Node

# Prints one JSON line per thing it sees; "send" on stdin makes it broadcast (acked), "finish"
# leave and exit.
SCRIPT = r"""
const { createClient } = require('@supabase/supabase-js');
const out = (o) => process.stdout.write(JSON.stringify(o) + '\n');
setTimeout(() => { out({ kind: 'timeout' }); process.exit(2); }, 90000).unref();
(async () => {
  const env = process.env;
  const supabase = createClient(env.WB_URL, env.WB_ANON, {
    auth: { persistSession: false, autoRefreshToken: false },
  });
  const { data, error } = await supabase.auth.signInWithPassword({
    email: env.WB_EMAIL, password: env.WB_PASSWORD });
  if (error) { out({ kind: 'error', message: error.message }); process.exit(1); }
  await supabase.realtime.setAuth(data.session.access_token);
  const channel = supabase
    .channel(env.WB_ROOM, { config: { private: true, broadcast: { ack: true },
                                      presence: { key: 'js' } } })
    .on('presence', { event: 'sync' }, () => out({ kind: 'sync', state: channel.presenceState() }))
    .on('broadcast', { event: '*' }, (message) => out({ kind: 'broadcast', message }));
  channel.subscribe(async (status, err) => {
    out({ kind: 'status', status, error: err ? String(err.message || err) : null });
    if (status !== 'SUBSCRIBED') return;
    out({ kind: 'tracked', result: await channel.track({ name: 'js' }) });
  });
  process.stdin.setEncoding('utf8');
  process.stdin.on('data', async (text) => {
    if (text.startsWith('send')) {
      const sent = await channel.send({ type: 'broadcast', event: 'from-js', payload: { n: 1 } });
      out({ kind: 'sent', result: sent });
    } else {
      out({ kind: 'left', result: await supabase.removeChannel(channel) });
      await supabase.realtime.disconnect();
      process.exit(0);
    }
  });
})().catch((e) => { out({ kind: 'error', message: String(e && e.stack || e) }); process.exit(1); });
"""


def present(state: Any) -> set[str]:
    """The names in a presence state (realtime-js's and realtime-py's have the same shape)."""
    return {meta.get("name") for metas in state.values() for meta in metas}


def test_realtime_js_and_supabase_py_share_a_private_room_across_nodes(
    rooms_nodes: tuple[Node, Node], rt_database: str, node_binary: str, tmp_path: Path
) -> None:
    async def scenario() -> None:
        a, b = rooms_nodes
        js_user, py_user = await sign_up(a), await sign_up(b)
        name = f"team:{uuid.uuid4().hex[:8]}"
        async with await psycopg.AsyncConnection.connect(rt_database, autocommit=True) as db:
            for action, clause in (("select", "using"), ("insert", "with check")):
                await db.execute(
                    sql.SQL(
                        """create policy {} on realtime.messages for {} to authenticated
                           {} (realtime.topic() = {}
                               and (select auth.uid()) in ({}::uuid, {}::uuid))"""
                    ).format(
                        sql.Identifier(f"{name} {action}"),
                        sql.SQL(action),
                        sql.SQL(clause),
                        sql.Literal(name),
                        sql.Literal(js_user.user_id),
                        sql.Literal(py_user.user_id),
                    )
                )

        py_changed, inbox = asyncio.Event(), Inbox()
        channel = py_user.client.channel(
            name,
            {
                "config": {
                    "private": True,
                    "broadcast": {"ack": False, "self": False},
                    "presence": {"key": "py", "enabled": True},
                }
            },
        )
        channel.on_presence_sync(py_changed.set)
        channel.on_broadcast("*", inbox.put)
        assert (await subscribed(channel))[0] == SUBSCRIBED
        await channel.track({"name": "py"})

        env = {
            "WB_URL": a.url,
            "WB_ANON": a.anon_key,
            "WB_EMAIL": js_user.email,
            "WB_PASSWORD": PASSWORD,
            "WB_ROOM": name,
        }
        js = await start(node_binary, SCRIPT, env, tmp_path / "node.stderr")
        try:
            status = await js.until(lambda m: m["kind"] in ("status", "error"))
            assert (status.get("status"), status.get("error")) == ("SUBSCRIBED", None), status
            assert (await js.until(lambda m: m["kind"] == "tracked"))["result"] == "ok"
            await js.until(lambda m: m["kind"] == "sync" and present(m["state"]) == {"js", "py"})

            async def both_seen() -> None:
                while present(channel.presence_state()) != {"js", "py"}:
                    py_changed.clear()
                    await py_changed.wait()

            await asyncio.wait_for(both_seen(), WAIT)

            await channel.send_broadcast("from-py", {"n": 2})
            heard = await js.until(lambda m: m["kind"] == "broadcast")
            assert (heard["message"]["event"], heard["message"]["payload"]) == ("from-py", {"n": 2})
            await js.say("send")
            assert (await js.until(lambda m: m["kind"] == "sent"))["result"] == "ok"
            got = await inbox.until(lambda m: m["event"] == "from-js")
            assert got[-1] == {"event": "from-js", "payload": {"n": 1}}

            await js.say("finish")
            assert (await js.until(lambda m: m["kind"] == "left"))["result"] == "ok"

            async def js_gone() -> None:
                while present(channel.presence_state()) != {"py"}:
                    py_changed.clear()
                    await py_changed.wait()

            await asyncio.wait_for(js_gone(), WAIT)
        finally:
            await js.stop()
        await close(js_user, py_user)

    run(scenario())
