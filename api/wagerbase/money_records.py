"""What a node records of its money calls (money_calls.py): the counts /health shows (`Counters`),
and one JSON line on the `wagerbase.money` logger for each call whose outcome was unknown, was
interrupted before its commit, or went on after its request went away (docs/api.md, "Unknown
outcomes", lists the fields)."""

import asyncio
import json
import logging
import time
from dataclasses import dataclass
from typing import Any

from wagerbase.money_attempt import Lost
from wagerbase.money_call import MoneyCall

log = logging.getLogger("wagerbase.money")


@dataclass
class Counters:
    """What this node saw since it started (the `money_calls` object of /health)."""

    calls: int = 0  # calls that change state
    unknown_outcomes: int = 0  # connection lost during COMMIT, or the sync-rep wait cancelled
    sync_rep_cancelled: int = 0  # of those: the "canceling wait for synchronous ..." WARNING
    interrupted_before_commit: int = 0  # connection lost before COMMIT was sent
    resolved_replayed: int = 0  # issued again with its key: it had committed
    resolved_executed: int = 0  # issued again with its key: it had not, and ran once
    resolved_refused: int = 0  # issued again with its key: refused by the engine
    unresolved: int = 0  # 503 naming the key: no database within the window
    unresolved_without_key: int = 0  # 503 saying what to check: a call without a key
    detached: int = 0  # the client left (or the request was cancelled); the call ran on
    abandoned: int = 0  # still running when the node stopped: closed, never cancelled
    batches: int = 0  # transactions that decided several calls at once (placements.py)
    batched: int = 0  # calls decided in those


def log_outcome(
    call: MoneyCall[Any], lost: Lost, resolution: str, attempts: int, started: float
) -> None:
    """The line of a call whose attempt was `lost`, once settled by `resolution` (replayed,
    executed, resolved, refused, unresolved, no_key, abandoned) after `attempts` more."""
    line = {
        "event": "unknown_outcome" if lost.unknown else "interrupted_before_commit",
        "function": call.function,
        "idempotency_key": call.key,
        "key_source": call.key_source,
        "phase": lost.phase,
        "cause": lost.describe(),
        "resolution": resolution,
        "attempts": attempts,
        "ms": round((time.monotonic() - started) * 1000, 1),
        "user_id": call.claims.get("sub"),
        "path": call.path,
        "batch": lost.calls,
    }
    settled = resolution in ("replayed", "executed", "resolved", "refused")
    log.log(logging.WARNING if settled else logging.ERROR, json.dumps(line))


def log_detached(call: MoneyCall[Any]) -> None:
    """The line of a call whose request was cancelled (its client left): it runs on."""
    log.warning(
        json.dumps(
            {
                "event": "money_call_detached",
                "function": call.function,
                "idempotency_key": call.key,
                "path": call.path,
                "user_id": call.claims.get("sub"),
            }
        )
    )


def log_detached_end(answer: "asyncio.Future[Any]") -> None:
    """How a call whose request went away ended: nobody awaits it any more, so its error (a
    refusal, say) is read here rather than left to asyncio's 'never retrieved' warning."""
    if answer.cancelled():
        return
    error = answer.exception()
    log.warning(
        json.dumps(
            {
                "event": "money_call_detached_end",
                "task": answer.get_name() if isinstance(answer, asyncio.Task) else "batched",
                "outcome": "answered" if error is None else type(error).__name__,
            }
        )
    )
