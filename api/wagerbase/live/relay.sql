-- name: read_events
-- The next page of the event stream after the cursor (rpc/95_server.sql), at most `most` events.
select server.read_events(%(cursor)s::jsonb, %(most)s) as page

-- name: ended_sessions
-- Which of these sessions ended (rpc/06_sessions.sql): asked when the relay resyncs.
select id::text from server.ended_sessions(%(sessions)s::uuid[]) as id
