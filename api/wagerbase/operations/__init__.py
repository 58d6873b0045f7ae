"""Operations: what an operator runs rather than what a request does. The `wagerbase` command
(cli.py and its command groups), the embedded PostgreSQL server, the migrator, backups and
restores, the engine's invariants check, users and settings from the command line, demo data."""
