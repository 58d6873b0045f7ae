"""bench.over_http's Markdown tables: bench.run's in-database table, each HTTP scenario's rate,
latencies and answers, and where each scenario's CPU went, per request."""

from __future__ import annotations

from typing import Any

from bench import report
from bench.over_http_scenarios import HUB_APPLICATION_NAME, NODE_APPLICATION_NAME
from bench.report import figure


def markdown(result: dict[str, Any]) -> str:
    """The in-database table (bench.run's), one row per HTTP scenario, and where each scenario's
    CPU went, per request."""
    params = result["parameters"]
    spread = result["place_wager"]["spread"]
    lines = [
        "In the database:",
        "",
        report.markdown(result),
        "",
        f"Through the API, one node of {result['node']['workers']} worker(s) on 127.0.0.1, "
        f"{params['http_duration_s']:g} s measured after {params['warmup_s']:g} s of warm-up, "
        f"{params['users']:,} users; ratio to the in-database spread rate of this run "
        f"({figure(spread['tps'], 0)} tps):",
        "",
        "| surface | clients | markets | tps | ratio to spread in the database | p50 (ms) "
        "| p90 (ms) | p99 (ms) | max (ms) | answers |",
        "| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for item in result["http"]:
        lat = item["latency_ms"]
        answers = ", ".join(f"{status}: {n:,}" for status, n in item["statuses"].items())
        if item["errors"]:
            answers += ", " + ", ".join(f"{error}: {n:,}" for error, n in item["errors"].items())
        lines.append(
            f"| `{item['path']}` | {item['clients']} | {item['markets']} "
            f"| {figure(item['tps'], 0)} | {item['ratio_to_in_database_spread']:.2f} "
            f"| {figure(lat['p50'], 2)} | {figure(lat['p90'], 2)} | {figure(lat['p99'], 2)} "
            f"| {figure(lat['max'], 2)} | {answers} |"
        )
    lines += [
        "",
        "CPU per request (a wager placed in the database by pgbench cost the server "
        f"{figure(spread.get('server_cpu_ms_per_transaction'), 2)} ms spread): the clients, the "
        "node, and the database server, in all and for the node's pool (`wagerbase api`) and "
        "its hubs reading the event stream (`wagerbase hub`):",
        "",
        "| surface | clients | markets | clients (µs) | clients (% of a core) | node (ms) "
        "| database (ms) | of which the node's pool (ms) | of which its hubs (ms) |",
        "| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for item in result["http"]:
        by_application = item["server_cpu_ms_per_request_by_application"]
        lines.append(
            f"| `{item['path']}` | {item['clients']} | {item['markets']} "
            f"| {figure(item['client_cpu_us_per_request'], 0)} "
            f"| {figure(item['client_cpu_pct_of_core'], 1)} "
            f"| {figure(item['node_cpu_ms_per_request'], 2)} "
            f"| {figure(item['server_cpu_ms_per_request'], 2)} "
            f"| {figure(by_application.get(NODE_APPLICATION_NAME), 2)} "
            f"| {figure(by_application.get(HUB_APPLICATION_NAME), 2)} |"
        )
    load = result["machine"]["load_average_at_start"]
    lines += [
        "",
        f"Machine: {result['machine']['cpus']} CPUs ({result['machine']['cpu_model']}), "
        f"shared; load average at start {load[0]}, at end "
        f"{result['machine']['load_average_at_end'][0]}. The clients "
        f"({params['client_processes']} processes), the node and PostgreSQL share the same CPUs.",
    ]
    return "\n".join(lines)
