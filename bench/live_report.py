"""bench.live's Markdown tables: latency at each socket count, and throughput."""

from __future__ import annotations

from typing import Any

from bench.report import figure


def markdown(result: dict[str, Any]) -> str:
    params = result["parameters"]
    lines = [
        f"Fan-out latency, commit returned to odds_update received, {params['wagers']} wagers one "
        f"at a time over {params['latency_markets']} games, {result['node']['workers']} "
        f"worker(s) (compression offered: "
        f"{result['client']['compression_offered']}, negotiated: "
        f"{', '.join(result['node']['negotiated_extensions']) or 'none'}):",
        "",
        "| sockets | messages received / expected | coalesced | missing | p50 (ms) | p99 (ms) "
        "| max (ms) | last socket p50 (ms) | node CPU per update (ms) |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for item in result["latency"]:
        lat = item["latency_ms"]
        lines.append(
            f"| {item['sockets']:,} | {item['messages_received']:,} / "
            f"{item['messages_expected']:,} | {item['coalesced']:,} | {item['missing']:,} "
            f"| {figure(lat['p50'], 2)} | {figure(lat['p99'], 2)} | {figure(lat['max'], 2)} "
            f"| {figure(item['last_socket_ms']['p50'], 2)} "
            f"| {figure(item['node_cpu_ms_per_update'], 2)} |"
        )
    tput = result["throughput"]
    if tput is not None:
        cpu = tput["cpu_during_run"]
        lines += [
            "",
            f"Throughput, {tput['sockets']:,} sockets, pgbench placing wagers for "
            f"{tput['pgbench']['duration_s']} s over {tput['markets']} games:",
            "",
            "| wagers/s | messages offered | delivered | delivered/s (during run) | coalesced "
            "| sockets missing a final version | node CPU (% of a core) "
            "| client CPU (% of a core) |",
            "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
            f"| {figure(tput['pgbench']['tps'], 0)} | {tput['messages_offered']:,} "
            f"| {tput['messages_delivered']:,} | {figure(tput['delivered_per_s_during_run'], 0)} "
            f"| {figure(100 * (tput['coalesced_fraction'] or 0), 1)}% "
            f"| {tput['sockets_missing_a_final_version']:,} "
            f"| {figure(cpu['node_cpu_pct_of_core'], 0)} "
            f"| {figure(cpu['client_cpu_pct_of_core'], 0)} |",
        ]
    load = result["machine"]["load_average_at_start"]
    lines += [
        "",
        f"Machine: {result['machine']['cpus']} CPUs ({result['machine']['cpu_model']}), "
        f"shared; load average at start {load[0]}, at end "
        f"{result['machine']['load_average_at_end'][0]}. Node, PostgreSQL and the client share "
        "the same CPUs.",
    ]
    return "\n".join(lines)
