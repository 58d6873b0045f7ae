-- name: scheduler_tick
-- One round of the scheduler (rpc/95_server.sql): due markets closed, draws settled, pool
-- snapshots taken, old events pruned, by one node at a time; {locked, closed, drawn, ...}.
select server.scheduler_tick() as tick

-- name: work_side_effect
-- Run the oldest due side-effect job once (rpc/70_side_effects.sql); null when none is due.
select server.work_side_effect() as job
