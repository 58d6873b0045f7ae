-- name: probe
-- A private channel's check begins as the node itself: realtime.topic set to the channel's name,
-- and a probe row of realtime.messages per extension (ids[1] broadcast, ids[2] presence) for the
-- caller's SELECT policies to show or hide (rpc/96_realtime.sql). The check rolls back.
select server.realtime_probe(%s, %s::uuid [])

-- name: readable
-- Then as the caller: which probe rows its SELECT policies let it read.
select m.extension from realtime.messages as m where m.id = any(%s::uuid [])

-- name: writable
-- As the caller, in a savepoint: whether its INSERT policies let it write on the channel for
-- this extension (42501 when they do not).
insert into realtime.messages (topic, extension, private) values (realtime.topic(), %s, true)

-- name: write
-- What the node's sockets sent, in the order sent, in one transaction: each item's outcome.
select server.realtime_write(%s, %s, %s::jsonb, %s) as results

-- name: beat
-- The node is alive; nodes silent past their ttl lose their presences; the node's own digest.
select server.realtime_beat(%s, %s) as beat

-- name: gone
-- The node stops: its presences end.
select server.realtime_gone(%s)

-- name: presence_state
-- A channel's presences, every node's, as Phoenix's presence_state.
select server.realtime_presence_state(%s, %s) as state
