"""The benchmarks' outputs: a JSON file under bench/results/, Markdown tables, and the summary of
a list of latencies (percentiles)."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any


def result_path(folder: Path, date: str, label: str) -> Path:
    """bench/results/<date>-<label>.json, with -2, -3, ... when that name is taken."""
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", label).strip("-") or "run"
    path = folder / f"{date}-{slug}.json"
    number = 2
    while path.exists():
        path = folder / f"{date}-{slug}-{number}.json"
        number += 1
    return path


def write_json(path: Path, result: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2, sort_keys=False) + "\n")


def percentile(values: list[float], fraction: float) -> float | None:
    """Nearest-rank percentile of the values (None when there are none)."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(fraction * len(ordered)))
    return ordered[rank - 1]


def summary(values: list[float]) -> dict[str, Any]:
    def ms(value: float | None) -> float | None:
        return None if value is None else round(value, 3)

    return {
        "count": len(values),
        "min": ms(min(values)) if values else None,
        "p50": ms(percentile(values, 0.50)),
        "p90": ms(percentile(values, 0.90)),
        "p99": ms(percentile(values, 0.99)),
        "max": ms(max(values)) if values else None,
        "mean": ms(sum(values) / len(values)) if values else None,
    }


def _int(value: float) -> str:
    return f"{value:,.0f}"


def _ms(run: dict[str, Any]) -> str:
    """A pgbench run's server CPU per transaction; n/a where the server's CPU is not seen (a
    server of BENCH_DATABASE_URL, or a result from before it was measured)."""
    value = run.get("server_cpu_ms_per_transaction")
    return "n/a" if value is None else f"{value:.2f}"


def markdown(result: dict[str, Any]) -> str:
    """Two tables: throughput (with each ratio to TPC-B) and settlement."""
    params = result["parameters"]
    load = f"-c {params['clients']} -j {params['threads']} -T {params['duration_s']}"
    lines = [
        f"Throughput, {load}, same server, median of {params['rounds']} round(s):",
        "",
        "| workload | tps | latency avg (ms) | ratio to TPC-B | server CPU per transaction (ms) |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    tpcb = result["tpcb"]
    lines.append(
        f"| pgbench TPC-B (built-in, scale {params['scale']}) | {_int(tpcb['tps'])} "
        f"| {tpcb['latency_avg_ms']:.2f} | 1.00 | {_ms(tpcb)} |"
    )
    names = {
        "spread": (
            f"place_wager, spread ({params['spread_markets']} markets, {params['users']} users)"
        ),
        "hot": f"place_wager, one hot market ({params['users']} users)",
    }
    if "hot_batched" in result["place_wager"]:
        clients = result["place_wager"]["hot_batched"]["clients"]
        names["hot_batched"] = (
            f"one hot market, batched as an API node gathers them ({clients} clients)"
        )
    for key, title in names.items():
        run = result["place_wager"][key]
        lines.append(
            f"| {title} | {_int(run['tps'])} | {run['latency_avg_ms']:.2f} "
            f"| {result['ratios'][key]:.2f} | {_ms(run)} |"
        )
    if len(result["rounds"]) > 1:
        per_round = "; ".join(
            f"{key} " + ", ".join(f"{item[f'{key}_ratio']:.2f}" for item in result["rounds"])
            for key in ("spread", "hot", "hot_batched")
            if f"{key}_ratio" in result["rounds"][0]
        )
        lines += ["", f"Ratios to TPC-B round by round: {per_round}."]
    lines += house_markdown(result)
    settlements = result.get("settlement", [])
    if settlements:
        lines += [
            "",
            "Settlement (settle_market as an admin, one transaction, commit included):",
            "",
            "| market | wagers | winning users | settle time (s) | wagers/s settled "
            "| side effects after it (s) | loaded at (wagers/s) |",
            "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
        ]
        for item in settlements:
            kind = item["kind"].replace("_", " ")
            side_effects = sum(item.get("side_effects_s", {}).values())
            lines.append(
                f"| {kind} | {_int(item['wagers'])} | {_int(item['winning_users'])} "
                f"| {item['settle_s']:.2f} | {_int(item['wagers_per_s'])} "
                f"| {side_effects:.2f} | {figure(item.get('load_wagers_per_s'), 0)} |"
            )
    return "\n".join(lines)


def house_markdown(result: dict[str, Any]) -> list[str]:
    """The house games' table: bets a second and their ratio to TPC-B's transactions a second."""
    house = result.get("house")
    if not house:
        return []
    params = result["parameters"]
    auto = house["auto_bet"]["bets_per_call"]
    names = {
        "play_dice": f"play_dice, one bet a call ({params['users']} users)",
        "auto_bet": f"auto_bet, {auto} dice bets a call ({params['users']} users)",
    }
    lines = [
        "",
        "House games (the same clients and duration; a bet's ratio to a TPC-B transaction):",
        "",
        "| workload | bets/s | calls/s | latency avg per call (ms) | bets/s to TPC-B tps "
        "| server CPU per bet (ms) |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for key, title in names.items():
        run = house[key]
        cpu = run["server_cpu_ms_per_bet"]
        lines.append(
            f"| {title} | {run['bets_per_s']:,.0f} | {run['tps']:,.0f} "
            f"| {run['latency_avg_ms']:.2f} | {house['ratios'][key]:.2f} "
            f"| {'n/a' if cpu is None else f'{cpu:.3f}'} |"
        )
    if len(house["rounds"]) > 1:
        tpcb = [item["tpcb_tps"] for item in result["rounds"]]
        per_round = "; ".join(
            f"{key} "
            + ", ".join(
                f"{item[f'{key}_bets_per_s'] / tps:.2f}"
                for item, tps in zip(house["rounds"], tpcb, strict=True)
            )
            for key in names
        )
        lines += ["", f"Bets/s to TPC-B tps round by round: {per_round}."]
    return lines


def figure(value: Any, digits: int = 1) -> str:
    """A number for a report's table: thousands separated, `digits` decimals for a float, n/a
    for none."""
    if value is None:
        return "n/a"
    if isinstance(value, int):
        return f"{value:,}"
    return f"{value:,.{digits}f}"
