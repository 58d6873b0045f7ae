-- Written by `wagerbase supabase` from migrations/0017_event_stream.sql: edit that, not this.

-- 0017: the live messages become an event stream in a table (issue 13).
--
-- Every money function announced its changes with pg_notify inside its transaction. NOTIFY takes
-- one cluster-wide lock at commit and holds it through the WAL flush (and a synchronous standby's
-- acknowledgement), so notifying commits ran one at a time. app._notify (rpc/01_core.sql) now
-- inserts the message into app.events instead: a row like any other, which commits or rolls back
-- with its transaction and takes no lock another transaction waits for. Each API node's hub reads
-- the rows that became visible since its last read (server.read_events, rpc/95_server.sql): the
-- `xid` column, the inserting transaction's id, tells which snapshot first saw a row, so every
-- committed event is delivered once, whatever order the transactions commit in. docs/live.md
-- ("The event stream") says why this design and gives the rule.
--
-- Nothing is kept for ever: the scheduler deletes the events older than event_retention_minutes,
-- a batch per round (app._prune_history), and app.event_stream remembers the newest transaction
-- whose events it deleted, so that a reader whose position fell behind the retention knows it
-- lost events and resyncs. Only the API (through schema server) reads the table: no client role
-- has a grant on it, and row-level security is on with no policy.

create table app.events (
    id bigint generated always as identity primary key,
    xid xid8 not null default pg_catalog.pg_current_xact_id(),
    channel text not null,
    payload jsonb not null,
    created_at timestamptz not null default pg_catalog.clock_timestamp(),
    constraint events_channel_known check (
        channel in ('wagerbase_market', 'wagerbase_user', 'wagerbase_admin')
    )
);
-- the relay's index: the events of the transactions that ended since a reader's last snapshot are
-- a range of xids (and the few xids that were running then); pruning walks the primary key from
-- the oldest id
create index events_xid_idx on app.events (xid);
alter table app.events enable row level security;

-- One row: the newest transaction id among the events pruned so far. A reader whose snapshot had
-- not yet seen every event up to it may have lost some (server.read_events then says resync).
create table app.event_stream (
    id boolean primary key default true,
    pruned_xid xid8 not null default '0',
    constraint event_stream_single_row check (id)
);
alter table app.event_stream enable row level security;
insert into app.event_stream default values;

alter table app.config
add column event_retention_minutes integer not null default 60,
add constraint config_event_retention_range check (event_retention_minutes between 1 and 10080);
