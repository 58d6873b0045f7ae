"""The whole Patroni configuration tests/ha's cluster (cluster.py) gives each node: the settings
that make it strict (synchronous_mode_strict) and fail a crashed primary over at once
(primary_start_timeout 0); see /work/shared/HA_NOTES.md for the measurements behind them."""

from __future__ import annotations

import json
from pathlib import Path

from tests.ha.members import HOST, Etcd, PgNode

SCOPE = "wagerbase-ha"
SUPERUSER = "postgres"


def patroni_config(node: PgNode, etcd: list[Etcd], bin_dir: Path, password: str) -> str:
    """Patroni's YAML for `node`, as JSON (a subset of YAML): its etcd `etcd`, PostgreSQL's
    binaries in `bin_dir`, `password` the superuser's."""
    hosts = ",".join(f"{HOST}:{member.client_port}" for member in etcd)
    config = {
        "scope": SCOPE,
        "namespace": "/service/",
        "name": node.name,
        "log": {"level": "INFO", "dir": str(node.folder)},
        "restapi": {
            "listen": f"{HOST}:{node.rest_port}",
            "connect_address": f"{HOST}:{node.rest_port}",
        },
        "etcd3": {"hosts": hosts},
        "bootstrap": {
            "dcs": {
                "ttl": 20,  # the least Patroni accepts: a lost node is replaced in ~20 s
                "loop_wait": 2,
                "retry_timeout": 5,
                "primary_start_timeout": 0,  # a crashed primary fails over at once
                "maximum_lag_on_failover": 1048576,
                "synchronous_mode": True,
                "synchronous_mode_strict": True,  # no sync standby: commits wait
                "synchronous_node_count": 1,
                "postgresql": {
                    "use_pg_rewind": True,
                    "use_slots": True,
                    "parameters": {
                        "wal_level": "replica",
                        "hot_standby": "on",
                        "wal_log_hints": "on",
                        "max_wal_senders": 10,
                        "max_replication_slots": 10,
                        "synchronous_commit": "on",
                        "max_connections": 100,
                        "shared_buffers": "64MB",
                    },
                },
            },
            "initdb": [
                {"encoding": "UTF8"},
                {"locale": "C"},
                "data-checksums",
                {"auth-local": "trust"},
                {"auth-host": "scram-sha-256"},
            ],
        },
        "postgresql": {
            "listen": f"{HOST}:{node.pg_port}",
            "connect_address": f"{HOST}:{node.pg_port}",
            "data_dir": str(node.data_dir),
            "bin_dir": str(bin_dir),
            "pgpass": str(node.folder / "pgpass"),
            "authentication": {
                "superuser": {"username": SUPERUSER, "password": password},
                "replication": {"username": "replicator", "password": "ha-replicator"},
                "rewind": {"username": "rewinder", "password": "ha-rewinder"},
            },
            "parameters": {"unix_socket_directories": str(node.folder)},
            "pg_hba": [
                "local all all trust",
                f"host replication replicator {HOST}/32 scram-sha-256",
                f"host all all {HOST}/32 scram-sha-256",
            ],
        },
    }
    return json.dumps(config, indent=1) + "\n"
