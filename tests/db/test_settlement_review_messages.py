"""Every settlement review action is announced on commit (docs/settlement-review.md): to admins on
wagerbase_admin, and the confirmation switch to everyone on wagerbase_market like any market
change (but not for a draft). Each in a fresh, committed database (the `committed` fixture)."""

import uuid
from contextlib import ExitStack
from typing import Any

import psycopg
import pytest

from tests.db.actors import Actor
from tests.db.stream import StreamReader


def delivered(stream: StreamReader) -> list[tuple[str, dict[str, Any]]]:
    """(channel, message) of everything committed since the last read on the reader's channels,
    in the order a node's relay delivers them."""
    return stream.read()


def admin_messages(stream: StreamReader) -> list[dict[str, Any]]:
    """Every message committed since the last read (the reader takes wagerbase_admin)."""
    return [message for _, message in delivered(stream)]


def test_every_review_action_is_announced_to_admins_on_commit(
    committed: tuple[str, dict[str, uuid.UUID]],
) -> None:
    url, users = committed
    with ExitStack() as stack:
        stream = stack.enter_context(StreamReader(url, channels=("wagerbase_admin",)))
        one = stack.enter_context(Actor(url, users["admin1"], admin=True))
        two = stack.enter_context(Actor(url, users["admin2"], admin=True))
        bettor = stack.enter_context(Actor(url, users["bettor1"]))

        def review(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
            return [m for m in messages if str(m.get("type", "")).startswith("settlement_")]

        market = one.call("create_market", title="M", outcomes=["A", "B"])
        a = market["outcomes"][0]["outcome_id"]
        bettor.call("place_wager", market_id=market["id"], outcome_id=a, stake=1000)
        admin_messages(stream)

        one.call("require_settlement_confirmation", market_id=market["id"], required=True)
        one.call("require_settlement_confirmation", market_id=market["id"], required=True)
        assert review(admin_messages(stream)) == [
            {
                "type": "settlement_confirmation",
                "market_id": market["id"],
                "status": "open",
                "required": True,
                "changed_by": str(users["admin1"]),
            }
        ]

        first = one.call("propose_settlement", market_id=market["id"], outcome_id=a, note="n")
        assert review(admin_messages(stream)) == [
            {
                "type": "settlement_proposed",
                "proposal_id": first["id"],
                "market_id": market["id"],
                "outcome_id": a,
                "proposed_by": str(users["admin1"]),
                "note": "n",
                "total_pool": 1000,
                "total_paid": 1500,
                "house_result": -500,
                "refunded": False,
            }
        ]

        with pytest.raises(psycopg.Error):
            one.call("confirm_settlement", market_id=market["id"])
        with pytest.raises(psycopg.Error):
            two.call("propose_settlement", market_id=market["id"], outcome_id=a)
        assert review(admin_messages(stream)) == []

        two.call("cancel_settlement_proposal", market_id=market["id"], reason="check")
        assert review(admin_messages(stream)) == [
            {
                "type": "settlement_cancelled",
                "proposal_id": first["id"],
                "market_id": market["id"],
                "outcome_id": a,
                "proposed_by": str(users["admin1"]),
                "cancelled_by": str(users["admin2"]),
                "reason": "check",
            }
        ]

        second = two.call("propose_settlement", market_id=market["id"], outcome_id=a)
        admin_messages(stream)
        one.call("confirm_settlement", market_id=market["id"])
        messages = admin_messages(stream)
        assert review(messages) == [
            {
                "type": "settlement_confirmed",
                "proposal_id": second["id"],
                "market_id": market["id"],
                "outcome_id": a,
                "proposed_by": str(users["admin2"]),
                "confirmed_by": str(users["admin1"]),
                "total_paid": 1500,
                "house_result": -500,
                "matches_proposal": True,
            }
        ]
        assert messages[-1]["type"] == "settlement_confirmed"


def test_the_switch_is_a_market_message_for_everyone_but_a_draft_says_nothing(
    committed: tuple[str, dict[str, uuid.UUID]],
) -> None:
    """Bettors read settlement_requires_confirmation in the markets view: the switch is announced
    on the public channel like any market change, with the market's new version and numbers.
    A draft stays unannounced until it opens; admins still hear of it."""
    url, users = committed
    with ExitStack() as stack:
        stream = stack.enter_context(
            StreamReader(url, channels=("wagerbase_market", "wagerbase_admin"))
        )
        one = stack.enter_context(Actor(url, users["admin1"], admin=True))
        bettor = stack.enter_context(Actor(url, users["bettor1"]))

        market = one.call("create_market", title="M", outcomes=["A", "B"])
        a, b = (o["outcome_id"] for o in market["outcomes"])
        placed = bettor.call("place_wager", market_id=market["id"], outcome_id=a, stake=1000)
        draft = one.call(
            "create_market", title="D", outcomes=["A", "B"], options={"status": "draft"}
        )
        delivered(stream)
        version = placed["accepted_version"]

        one.call("require_settlement_confirmation", market_id=market["id"], required=True)
        one.call("require_settlement_confirmation", market_id=market["id"], required=True)
        messages = delivered(stream)
        assert [(channel, m["type"]) for channel, m in messages] == [
            ("wagerbase_admin", "settlement_confirmation"),
            ("wagerbase_market", "settlement_confirmation"),
        ]
        public = messages[1][1]
        assert {k: public[k] for k in ("market_id", "version", "status", "total_pool")} == {
            "market_id": market["id"],
            "version": version + 1,
            "status": "open",
            "total_pool": 1000,
        }
        assert public["settlement_requires_confirmation"] is True
        assert [(o["outcome_id"], o["pool"]) for o in public["outcomes"]] == [(a, 1000), (b, 0)]
        assert "changed_by" not in public  # who switched it is for admins

        one.call("require_settlement_confirmation", market_id=market["id"], required=False)
        (off,) = [m for c, m in delivered(stream) if c == "wagerbase_market"]
        assert (off["type"], off["version"], off["settlement_requires_confirmation"]) == (
            "settlement_confirmation",
            version + 2,
            False,
        )

        one.call("require_settlement_confirmation", market_id=draft["id"], required=True)
        assert delivered(stream) == [
            (
                "wagerbase_admin",
                {
                    "type": "settlement_confirmation",
                    "market_id": draft["id"],
                    "status": "draft",
                    "required": True,
                    "changed_by": str(users["admin1"]),
                },
            )
        ]
        # its version moved all the same: opening it announces the market as it is now
        one.call("open_market", market_id=draft["id"])
        opened = [m for c, m in delivered(stream) if c == "wagerbase_market"]
        assert [(m["type"], m["version"]) for m in opened] == [("opened", draft["version"] + 2)]
