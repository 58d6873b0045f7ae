"""The figures of an HA or chaos run: printed, written beside the test, and, when
WAGERBASE_HA_RECORD names a file, merged into it under the run's name (for the docs)."""

from __future__ import annotations

import json
import os
from collections import Counter
from pathlib import Path
from typing import Any

IN_A_BATCH = " (in a batch)"  # how server_side names a wager whose lost transaction was a batch
GOAL_S = 5.0  # the goal for writes back after a postgres kill: reported, never asserted


def record(name: str, figures: dict[str, Any], folder: Path) -> None:
    text = json.dumps(figures, indent=2, sort_keys=True, default=str)
    print(f"\n== HA figures: {name}\n{text}")
    (folder / f"{name}.json").write_text(text + "\n")
    target = os.environ.get("WAGERBASE_HA_RECORD")
    if target:
        path = Path(target)
        merged: dict[str, Any] = json.loads(path.read_text()) if path.exists() else {}
        merged[name] = figures
        path.write_text(json.dumps(merged, indent=2, sort_keys=True, default=str) + "\n")


def seconds(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def server_side(logs: list[Path], keys: set[str]) -> dict[str, int]:
    """The unknown outcomes the API nodes met and resolved themselves, before answering (the
    JSON lines of the `wagerbase.money` logger, docs/api.md), for the load's keys: how many of
    each event and resolution, told apart when the lost transaction was a batch."""
    found: Counter[str] = Counter()
    for log in logs:
        if not log.exists():
            continue
        for line in log.read_text(errors="replace").splitlines():
            if "wagerbase.money" not in line or "{" not in line:
                continue
            try:
                entry = json.loads(line[line.index("{") :])
            except ValueError:
                continue
            if isinstance(entry, dict) and entry.get("idempotency_key") in keys:
                batched = IN_A_BATCH if entry.get("batch", 1) > 1 else ""
                found[f"{entry.get('event')}: {entry.get('resolution')}{batched}"] += 1
    return dict(found)
