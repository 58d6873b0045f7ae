"""/realtime/v1/websocket: the Supabase Realtime subset (SUPABASE_COMPAT.md section 5;
docs/live.md). The shared live infrastructure (the hub, the wire, who a token is) is in
wagerbase.live.

- socket.py: the websocket route and one socket's life, read loop and dispatch (docstring there)
- connection.py: a socket's state and the writing of its frames
- joins.py: `phx_join` and `access_token`: tokens, limits, bindings, private channels
- delivery.py: the engine's messages as broadcasts, postgres_changes, resyncs and closes; and
  what clients send each other on the socket's rooms
- channels.py: a socket's channels, and the mailbox that asks the hub for what they can use
- frames.py: Phoenix's two serializers and the frames made once per message
- changes.py: which views have postgres_changes, and which rows a message changed
- bindings.py: a join's postgres_changes bindings, their filters compiled at the join
- feed.py (and feed.sql): the re-select, as each subscriber, through which RLS decides
- sending.py: a client's `broadcast` and `presence` frames, checked and bounded
- presence.py: presence_state and presence_diff as a channel receives them
- rooms.py (and rooms.sql): the node's writer of what clients send each other, and its presences
- policies.py: private channels, by the policies on realtime.messages
"""
