"""The official realtime-js client (web/node_modules), with its default options (serializer
2.0.0), run under Node against a served node."""

import asyncio
import json
from pathlib import Path

from tests.live.node_js import start
from tests.live.realtime_fixtures import (
    PASSWORD,
    WAIT,
    admin,
    close,
    create_market,
    outcome_ids,
    run,
    sign_up,
    wager,
)
from tests.serving import Node

# Runs in web/ (tests/live/node_js.py). Default realtime options but for a faster
# heartbeat, its callback and a transport that only observes the real WebSocket. Prints one JSON
# line per thing it sees; "finish" on stdin makes it send a broadcast (acked), leave and exit.
NODE_CLIENT = r"""
const { createClient } = require('@supabase/supabase-js');
const out = (o) => process.stdout.write(JSON.stringify(o) + '\n');
const kind = (d) => (typeof d === 'string' ? null : new Uint8Array(d)[0]);
class Observed extends WebSocket {
  constructor(url, protocols) {
    super(url, protocols);
    out({ kind: 'connect', vsn: new URL(url).searchParams.get('vsn') });
    this.addEventListener('message', (e) =>
      out({ kind: 'received', text: typeof e.data === 'string' ? e.data : null,
            binary: kind(e.data) }));
  }
  send(data) {
    out({ kind: 'sent', text: typeof data === 'string' ? data : null, binary: kind(data) });
    super.send(data);
  }
}
setTimeout(() => { out({ kind: 'timeout' }); process.exit(2); }, 90000).unref();
(async () => {
  const env = process.env;
  const supabase = createClient(env.WB_URL, env.WB_ANON, {
    auth: { persistSession: false, autoRefreshToken: false },
    realtime: {
      transport: Observed,
      heartbeatIntervalMs: 1000,
      heartbeatCallback: (status) => out({ kind: 'heartbeat', status }),
    },
  });
  out({ kind: 'vsn', vsn: supabase.realtime.vsn });
  const { error } = await supabase.auth.signInWithPassword({
    email: env.WB_EMAIL, password: env.WB_PASSWORD });
  if (error) { out({ kind: 'error', message: error.message }); process.exit(1); }
  const channel = supabase
    .channel(`market:${env.WB_MARKET}`, { config: { broadcast: { ack: true } } })
    .on('postgres_changes', { event: 'INSERT', schema: 'public', table: 'my_wagers' },
        (change) => out({ kind: 'change', change }))
    .on('broadcast', { event: 'odds' }, (message) => out({ kind: 'broadcast', message }))
    .on('system', {}, (message) => out({ kind: 'system', message }));
  channel.subscribe((status, err) =>
    out({ kind: 'status', status, error: err ? String(err.message || err) : null }));
  process.stdin.setEncoding('utf8');
  process.stdin.once('data', async () => {
    const sent = await channel.send({ type: 'broadcast', event: 'shout', payload: { hi: 1 } });
    out({ kind: 'send', result: sent });
    const left = await supabase.removeChannel(channel);
    out({ kind: 'left', result: left });
    await supabase.realtime.disconnect();
    out({ kind: 'done' });
    process.exit(0);
  });
})().catch((e) => { out({ kind: 'error', message: String(e && e.stack || e) }); process.exit(1); });
"""


def test_the_official_realtime_js_client_with_its_default_vsn(
    rt_node: Node, rt_database: str, node_binary: str, tmp_path: Path
) -> None:
    async def scenario() -> None:
        boss = await admin(rt_node, rt_database)
        market = await create_market(boss, "Node FC v Realtime-JS Athletic")
        ana = await sign_up(rt_node)
        home, _ = await outcome_ids(ana, market["id"])
        env = {
            "WB_URL": rt_node.url,
            "WB_ANON": rt_node.anon_key,
            "WB_EMAIL": ana.email,
            "WB_PASSWORD": PASSWORD,
            "WB_MARKET": str(market["id"]),
        }
        client = await start(node_binary, NODE_CLIENT, env, tmp_path / "node.stderr")
        process = client.process
        try:
            assert (await client.until(lambda m: m["kind"] == "vsn"))["vsn"] == "2.0.0"
            assert (await client.until(lambda m: m["kind"] == "connect"))["vsn"] == "2.0.0"
            status = await client.until(lambda m: m["kind"] == "status")
            assert (status["status"], status["error"]) == ("SUBSCRIBED", None)

            placed = await wager(ana, market["id"], home, 700)
            change = await client.until(
                lambda m: m["kind"] == "change" and m["change"]["new"]["id"] == placed["id"]
            )
            assert change["change"]["eventType"] == "INSERT"
            assert change["change"]["table"] == "my_wagers"
            assert change["change"]["new"]["stake"] == 700
            odds = await client.until(
                lambda m: (
                    m["kind"] == "broadcast"
                    and m["message"]["payload"]["version"] == placed["accepted_version"]
                )
            )
            assert odds["message"]["event"] == "odds"
            await client.until(lambda m: m["kind"] == "heartbeat" and m["status"] == "ok")

            assert process.stdin is not None
            process.stdin.write(b"finish\n")
            await process.stdin.drain()
            # a client broadcast goes out as a binary frame (kind 3) and the server refuses it
            assert (await client.until(lambda m: m["kind"] == "send"))["result"] == "error"
            assert (await client.until(lambda m: m["kind"] == "left"))["result"] == "ok"
            await client.until(lambda m: m["kind"] == "done")
            assert await asyncio.wait_for(process.wait(), WAIT) == 0
        finally:
            if process.returncode is None:
                process.kill()
                await process.wait()

        sent = [m for m in client.lines if m["kind"] == "sent"]
        received = [m for m in client.lines if m["kind"] == "received"]
        assert any(m["binary"] == 3 for m in sent)  # the user broadcast push
        for frame in [m for m in sent if m["text"] is not None] + received:
            value = json.loads(frame["text"])
            assert isinstance(value, list) and len(value) == 5, frame  # V2 arrays both ways
        assert all(m["binary"] is None for m in received)
        events = {json.loads(m["text"])[3] for m in sent if m["text"] is not None}
        assert {"phx_join", "heartbeat", "phx_leave"} <= events
        await close(ana, boss)

    run(scenario())
