-- name: server_facts
-- What wagerbase-backup.json records of the server before the backup starts: its version and
-- identity, its WAL archiving, the WAL segment size, who backs it up, and its clock.
select current_setting('server_version'), system_identifier::text,
       current_setting('archive_mode'), current_setting('archive_library'),
       current_setting('basic_archive.archive_directory', true),
       current_setting('archive_command'),
       (select setting::bigint from pg_catalog.pg_settings
        where name = 'wal_segment_size'),
       current_database(), current_user, clock_timestamp()
from pg_catalog.pg_control_system()

-- name: server_clock
-- The server's clock once the backup ended: a restore's target time must not be earlier.
select clock_timestamp()
