"""Live messages (docs/notifications.md): each change a client shows is announced on commit, on
the right channel, with the documented payload and a sequence that only grows; a change that rolls
back announces nothing.

Events are read from the stream as a node's relay reads them (tests.db.stream), after a commit, so
these tests commit, each in its own fresh database."""

from decimal import Decimal
from typing import Any

import pytest

from tests.db.helpers import Market, make_market, scalar
from tests.db.personas import Persona, persona
from tests.db.stream import Live, Message, of, one


@pytest.fixture
def people(live: Live) -> tuple[Persona, Persona, Persona]:
    """An admin and two bettors, committed to the fresh database."""
    made = (
        persona(live.actor, "admin", admin=True),
        persona(live.actor, "bettor"),
        persona(live.actor, "other"),
    )
    live.actor.commit()
    return made


def kinds(messages: list[Message]) -> list[tuple[str, str]]:
    return sorted((c, p["type"]) for c, p in messages)


def odds(payload: dict[str, Any]) -> list[Decimal | None]:
    return [None if o["odds"] is None else Decimal(str(o["odds"])) for o in payload["outcomes"]]


# market channel ----------------------------------------------------------------------------------


def test_market_messages_carry_numbers_and_a_growing_version(
    live: Live, people: tuple[Persona, Persona, Persona]
) -> None:
    admin, bettor, other = people
    market = make_market(admin, title="Rain?")
    created = live.commit_and_read()
    assert kinds(created) == [("wagerbase_market", "created")]
    message = created[0][1]
    assert {k: message[k] for k in ("market_id", "version", "status", "kind", "total_pool")} == {
        "market_id": market.id,
        "version": 1,
        "status": "open",
        "kind": "fixed_odds",
        "total_pool": 0,
    }
    assert message["outcomes"] == [
        {
            "outcome_id": market.outcomes[0],
            "position": 1,
            "pool": 0,
            "share": 0,
            "odds": 1.5,
            "cap": 10000,
            "wager_count": 0,
        },
        {
            "outcome_id": market.outcomes[1],
            "position": 2,
            "pool": 0,
            "share": 0,
            "odds": 1.5,
            "cap": 10000,
            "wager_count": 0,
        },
    ]
    assert "title" not in message

    bettor.call("place_wager", market_id=market.id, outcome_id=market.outcomes[0], stake=1000)
    first = one(live.commit_and_read(), "wagerbase_market", "odds")
    assert (first["version"], first["total_pool"]) == (2, 1000)
    assert odds(first) == [Decimal("1.4545"), Decimal("1.55")]
    assert [o["cap"] for o in first["outcomes"]] == [9900, 10909]

    other.call("place_wager", market_id=market.id, outcome_id=market.outcomes[1], stake=2000)
    second = one(live.commit_and_read(), "wagerbase_market", "odds")
    assert (second["version"], second["total_pool"]) == (3, 3000)
    assert [o["pool"] for o in second["outcomes"]] == [1000, 2000]


def test_a_draft_says_nothing_until_it_opens_and_closing_is_announced(
    live: Live, people: tuple[Persona, Persona, Persona]
) -> None:
    admin, _, _ = people
    draft = make_market(admin, status="draft")
    assert live.commit_and_read() == []
    admin.call("open_market", market_id=draft.id)
    opened = one(live.commit_and_read(), "wagerbase_market", "opened")
    assert (opened["market_id"], opened["version"], opened["status"]) == (draft.id, 2, "open")
    admin.call("close_market", market_id=draft.id)
    closed = one(live.commit_and_read(), "wagerbase_market", "closed")
    assert (closed["version"], closed["status"]) == (3, "closed")


def test_a_void_is_announced_to_everyone_and_refunds_to_each_bettor(
    live: Live, people: tuple[Persona, Persona, Persona]
) -> None:
    admin, bettor, _ = people
    market = make_market(admin)
    first = bettor.call(
        "place_wager", market_id=market.id, outcome_id=market.outcomes[0], stake=300
    )
    second = bettor.call(
        "place_wager", market_id=market.id, outcome_id=market.outcomes[1], stake=200
    )
    live.commit_and_read()
    admin.call("void_market", market_id=market.id, reason="abandoned")
    messages = live.commit_and_read()
    voided = one(messages, "wagerbase_market", "voided")
    assert (voided["status"], voided["version"]) == ("void", 4)
    refunded = one(messages, "wagerbase_user", "wagers_refunded")
    assert {k: refunded[k] for k in ("user_id", "market_id", "amount", "reason")} == {
        "user_id": str(bettor.user_id),
        "market_id": market.id,
        "amount": 500,
        "reason": "market_void",
    }
    assert sorted(refunded["wager_ids"]) == [first["id"], second["id"]]
    balance = one(messages, "wagerbase_user", "balance")
    assert (balance["reason"], balance["delta"], balance["balance"]) == ("void", 500, 10000)
    assert balance["version"] == live.wallet(bettor)[1]


# user channel ------------------------------------------------------------------------------------


def test_a_wager_tells_its_owner_the_wager_and_each_balance_change_with_the_wallet_version(
    live: Live, people: tuple[Persona, Persona, Persona]
) -> None:
    admin, bettor, _ = people
    market = make_market(admin)
    live.commit_and_read()
    placed = bettor.call(
        "place_wager", market_id=market.id, outcome_id=market.outcomes[0], stake=1000
    )
    messages = live.commit_and_read()
    assert kinds(messages) == [
        ("wagerbase_market", "odds"),
        ("wagerbase_user", "balance"),
        ("wagerbase_user", "balance"),
        ("wagerbase_user", "wager_placed"),
    ]
    grant, staked = of(messages, "wagerbase_user", "balance")
    assert {k: grant[k] for k in ("user_id", "reason", "balance", "version", "delta")} == {
        "user_id": str(bettor.user_id),
        "reason": "grant",
        "balance": 10000,
        "version": 1,
        "delta": 10000,
    }
    assert {
        k: staked[k] for k in ("reason", "balance", "version", "delta", "market_id", "wager_id")
    } == {
        "reason": "stake",
        "balance": 9000,
        "version": 2,
        "delta": -1000,
        "market_id": market.id,
        "wager_id": placed["id"],
    }
    assert staked["transaction_id"] > grant["transaction_id"]
    assert live.wallet(bettor) == (9000, 2)
    wager = one(messages, "wagerbase_user", "wager_placed")
    assert {
        k: wager[k]
        for k in (
            "id",
            "user_id",
            "market_id",
            "outcome_id",
            "position",
            "stake",
            "odds",
            "potential_payout",
            "approval",
        )
    } == {
        "id": placed["id"],
        "user_id": str(bettor.user_id),
        "market_id": market.id,
        "outcome_id": market.outcomes[0],
        "position": 1,
        "stake": 1000,
        "odds": 1.5,
        "potential_payout": 1500,
        "approval": "accepted",
    }

    bettor.call("deposit", amount=250)
    bettor.call("withdraw", amount=100)
    moves = of(live.commit_and_read(), "wagerbase_user", "balance")
    assert [(m["reason"], m["delta"], m["balance"], m["version"]) for m in moves] == [
        ("deposit", 250, 9250, 3),
        ("withdrawal", -100, 9150, 4),
    ]
    assert live.wallet(bettor) == (9150, 4)


def test_nothing_is_announced_for_a_call_that_rolled_back_or_was_refused(
    live: Live, people: tuple[Persona, Persona, Persona]
) -> None:
    admin, bettor, _ = people
    market = make_market(admin)
    bettor.call("get_wallet")
    live.commit_and_read()

    bettor.call("place_wager", market_id=market.id, outcome_id=market.outcomes[0], stake=1000)
    admin.call("close_market", market_id=market.id)
    live.actor.rollback()
    assert live.commit_and_read() == []

    bettor.refused(
        "odds_changed",
        "place_wager",
        market_id=market.id,
        outcome_id=market.outcomes[0],
        stake=1000,
        expected_odds=2,
    )
    bettor.refused("insufficient_funds", "withdraw", amount=10001)
    assert live.commit_and_read() == []
    assert live.wallet(bettor) == (10000, 1)


# approvals ---------------------------------------------------------------------------------------


def test_a_held_wager_is_announced_to_admins_and_its_decision_to_everyone_concerned(
    live: Live, people: tuple[Persona, Persona, Persona]
) -> None:
    admin, bettor, _ = people
    market = make_market(admin, requires_approval=True)
    live.commit_and_read()

    held = bettor.call("place_wager", market_id=market.id, outcome_id=market.outcomes[0], stake=500)
    messages = live.commit_and_read()
    assert kinds(messages) == [
        ("wagerbase_admin", "wager_pending"),
        ("wagerbase_user", "balance"),
        ("wagerbase_user", "balance"),
        ("wagerbase_user", "wager_placed"),
    ]
    pending = one(messages, "wagerbase_admin", "wager_pending")
    assert (pending["id"], pending["approval"], pending["stake"]) == (held["id"], "pending", 500)
    assert one(messages, "wagerbase_user", "wager_placed")["approval"] == "pending"

    admin.call("approve_wager", wager_id=held["id"])
    messages = live.commit_and_read()
    assert kinds(messages) == [
        ("wagerbase_admin", "wager_decided"),
        ("wagerbase_market", "odds"),
        ("wagerbase_user", "wager_approved"),
    ]
    assert one(messages, "wagerbase_market", "odds")["version"] == 2
    approved = one(messages, "wagerbase_user", "wager_approved")
    assert (approved["id"], approved["user_id"], approved["approval"]) == (
        held["id"],
        str(bettor.user_id),
        "accepted",
    )
    assert one(messages, "wagerbase_admin", "wager_decided")["approval"] == "accepted"

    second = bettor.call(
        "place_wager", market_id=market.id, outcome_id=market.outcomes[1], stake=300
    )
    live.commit_and_read()
    admin.call("reject_wager", wager_id=second["id"], reason="too late")
    messages = live.commit_and_read()
    assert kinds(messages) == [
        ("wagerbase_admin", "wager_decided"),
        ("wagerbase_user", "balance"),
        ("wagerbase_user", "wager_rejected"),
    ]
    rejected = one(messages, "wagerbase_user", "wager_rejected")
    assert {k: rejected[k] for k in ("user_id", "market_id", "wager_ids", "amount", "reason")} == {
        "user_id": str(bettor.user_id),
        "market_id": market.id,
        "wager_ids": [second["id"]],
        "amount": 300,
        "reason": "too late",
    }
    refund = one(messages, "wagerbase_user", "balance")
    assert (refund["reason"], refund["delta"], refund["balance"]) == ("refund", 300, 9500)
    assert refund["version"] == live.wallet(bettor)[1]
    assert one(messages, "wagerbase_admin", "wager_decided")["approval"] == "rejected"


# settlement --------------------------------------------------------------------------------------


def settle_with_wagers(live: Live, people: tuple[Persona, Persona, Persona]) -> Market:
    """A fixed-odds market: bettor 10.00 on A at 1.5 (pays 15.00) and 5.00 on B; other 20.00
    on B. Every message so far is read."""
    admin, bettor, other = people
    market = make_market(admin)
    a, b = market.outcomes
    bettor.call("place_wager", market_id=market.id, outcome_id=a, stake=1000)
    bettor.call("place_wager", market_id=market.id, outcome_id=b, stake=500)
    other.call("place_wager", market_id=market.id, outcome_id=b, stake=2000)
    live.commit_and_read()
    return market


def test_a_settlement_tells_each_bettor_once_and_the_market_in_order(
    live: Live, people: tuple[Persona, Persona, Persona]
) -> None:
    """10.00 on A at 1.5 pays 15.00: one balance message with the sum of the bettor's winnings,
    a wagers_settled per bettor, and closed then settled with growing versions."""
    admin, bettor, other = people
    market = settle_with_wagers(live, people)
    last_version = scalar(live.actor, "select version from app.markets where id = %s", [market.id])
    admin.call("settle_market", market_id=market.id, outcome_id=market.outcomes[0])
    messages = live.commit_and_read()

    credited = of(messages, "wagerbase_user", "balance")
    assert [(m["user_id"], m["reason"], m["delta"], m["balance"]) for m in credited] == [
        (str(bettor.user_id), "settlement", 1500, 10000 - 1500 + 1500)
    ]
    assert credited[0]["version"] == live.wallet(bettor)[1]
    assert credited[0]["market_id"] == market.id

    settled = {p["user_id"]: p for p in of(messages, "wagerbase_user", "wagers_settled")}
    assert {u: (p["payout"], p["won"], p["lost"], p["void"]) for u, p in settled.items()} == {
        str(bettor.user_id): (1500, 1, 1, 0),
        str(other.user_id): (0, 0, 1, 0),
    }
    assert {p["market_id"] for p in settled.values()} == {market.id}
    assert {p["winning_outcome_id"] for p in settled.values()} == {market.outcomes[0]}

    announced = [p for c, p in messages if c == "wagerbase_market"]
    assert [p["type"] for p in announced] == ["closed", "settled"]
    closed, done = announced
    assert (closed["status"], closed["version"]) == ("closed", last_version + 1)
    assert done["version"] == last_version + 2
    assert (done["status"], done["winning_outcome_id"], done["winning_position"]) == (
        "settled",
        market.outcomes[0],
        1,
    )


def test_a_settlement_tells_admins_the_house_profit_that_house_summary_reports(
    live: Live, people: tuple[Persona, Persona, Persona]
) -> None:
    """Stakes 35.00, paid 15.00: the house is up 20.00 and says so in the same message."""
    admin, _, _ = people
    market = settle_with_wagers(live, people)
    admin.call("settle_market", market_id=market.id, outcome_id=market.outcomes[0])
    profit = one(live.commit_and_read(), "wagerbase_admin", "profit")
    summary = admin.call("house_summary")
    live.actor.commit()
    assert (summary["balance"], summary["profit"]) == (2000, 2000)
    assert {k: profit[k] for k in ("balance", "profit", "version")} == {
        "balance": summary["balance"],
        "profit": summary["profit"],
        "version": summary["version"],
    }


def test_pending_wagers_refunded_at_settlement_are_announced_as_refunds(
    live: Live, people: tuple[Persona, Persona, Persona]
) -> None:
    admin, bettor, _ = people
    market = make_market(admin, requires_approval=True)
    held = bettor.call("place_wager", market_id=market.id, outcome_id=market.outcomes[0], stake=400)
    live.commit_and_read()
    admin.call("settle_market", market_id=market.id, outcome_id=market.outcomes[0])
    messages = live.commit_and_read()
    refunded = one(messages, "wagerbase_user", "wagers_refunded")
    assert (refunded["wager_ids"], refunded["amount"], refunded["reason"]) == (
        [held["id"]],
        400,
        "market_settled",
    )
    refund = one(messages, "wagerbase_user", "balance")
    assert (refund["reason"], refund["delta"], refund["balance"]) == ("refund", 400, 10000)


# real money: credits and withdrawals that wait for an admin ---------------------------------------


def test_a_credit_sends_the_balance_message_a_deposit_sends(
    live: Live, people: tuple[Persona, Persona, Persona]
) -> None:
    admin, bettor, _ = people
    bettor.call("get_wallet")
    live.commit_and_read()
    credited = admin.call(
        "credit_wallet", user_id=bettor.user_id, amount=2500, reference="psp", idempotency_key="p1"
    )
    messages = live.commit_and_read()
    assert kinds(messages) == [("wagerbase_user", "balance")]
    message = one(messages, "wagerbase_user", "balance")
    assert (message["reason"], message["delta"], message["balance"], message["version"]) == (
        "deposit",
        2500,
        12500,
        2,
    )
    assert message["transaction_id"] == credited["transaction_id"]


def test_a_withdrawal_waiting_for_an_admin_is_announced_and_so_is_its_fate(
    live: Live, people: tuple[Persona, Persona, Persona]
) -> None:
    admin, bettor, _ = people
    admin.call("update_settings", settings={"withdrawals_require_approval": True})
    bettor.call("get_wallet")
    live.commit_and_read()

    asked = bettor.call("withdraw", amount=3000)
    messages = live.commit_and_read()
    assert kinds(messages) == [
        ("wagerbase_admin", "withdrawal_pending"),
        ("wagerbase_user", "balance"),
        ("wagerbase_user", "withdrawal_requested"),
    ]
    pending = one(messages, "wagerbase_admin", "withdrawal_pending")
    assert (pending["withdrawal_id"], pending["user_id"], pending["amount"]) == (
        asked["withdrawal_id"],
        str(bettor.user_id),
        3000,
    )
    assert one(messages, "wagerbase_user", "withdrawal_requested")["status"] == "pending"
    debit = one(messages, "wagerbase_user", "balance")
    assert (debit["reason"], debit["delta"], debit["balance"]) == (
        "withdrawal_request",
        -3000,
        7000,
    )

    admin.call("approve_withdrawal", withdrawal_id=asked["withdrawal_id"])
    messages = live.commit_and_read()
    assert kinds(messages) == [
        ("wagerbase_admin", "withdrawal_decided"),
        ("wagerbase_user", "withdrawal_approved"),
    ]
    assert one(messages, "wagerbase_admin", "withdrawal_decided")["status"] == "approved"

    second = bettor.call("withdraw", amount=1000)
    live.commit_and_read()
    admin.call("reject_withdrawal", withdrawal_id=second["withdrawal_id"], reason="checks")
    messages = live.commit_and_read()
    assert kinds(messages) == [
        ("wagerbase_admin", "withdrawal_decided"),
        ("wagerbase_user", "balance"),
        ("wagerbase_user", "withdrawal_rejected"),
    ]
    rejected = one(messages, "wagerbase_user", "withdrawal_rejected")
    assert (rejected["status"], rejected["reason"]) == ("rejected", "checks")
    refund = one(messages, "wagerbase_user", "balance")
    assert (refund["reason"], refund["delta"], refund["balance"]) == (
        "withdrawal_rejection",
        1000,
        7000,
    )
    assert refund["version"] == live.wallet(bettor)[1]


# order: the result before the money it moves ------------------------------------------------------


def result_then_money(messages: list[Message], result: str) -> list[str]:
    """The market's message of type `result` and every balance message, in delivery order, as
    'result' and 'balance' (other messages left out)."""
    return [
        "result" if channel == "wagerbase_market" and p["type"] == result else "balance"
        for channel, p in messages
        if (channel == "wagerbase_market" and p["type"] == result)
        or (channel == "wagerbase_user" and p["type"] == "balance")
    ]


def test_a_market_s_result_goes_out_before_the_balance_changes_it_causes(
    live: Live, people: tuple[Persona, Persona, Persona]
) -> None:
    """A client shows the result (BetMarket's wheel) and then each winner's new balance: settle,
    void, unsettle, resettle and a confirmed settlement send the market's message first."""
    admin, bettor, other = people
    second_admin = persona(live.actor, "admin2", admin=True)
    market = settle_with_wagers(live, people)
    a, b = market.outcomes

    admin.call("settle_market", market_id=market.id, outcome_id=a)
    assert result_then_money(live.commit_and_read(), "settled") == ["result", "balance"]

    admin.call("unsettle_market", market_id=market.id, reason="wrong feed")
    assert result_then_money(live.commit_and_read(), "unsettled") == ["result", "balance"]

    admin.call("settle_market", market_id=market.id, outcome_id=b)
    live.commit_and_read()
    admin.call("resettle_market", market_id=market.id, outcome_id=a, reason="photo finish")
    messages = live.commit_and_read()
    assert [p["type"] for c, p in messages if c == "wagerbase_market"] == ["unsettled", "settled"]
    unsettled_at = next(i for i, (_, p) in enumerate(messages) if p["type"] == "unsettled")
    settled_at = next(i for i, (_, p) in enumerate(messages) if p["type"] == "settled")
    taken = [i for i, (c, p) in enumerate(messages) if p.get("reason") == "unsettlement"]
    paid = [i for i, (c, p) in enumerate(messages) if p.get("reason") == "settlement"]
    assert taken and paid
    assert unsettled_at < min(taken) <= max(taken) < settled_at < min(paid)

    voided = make_market(admin)
    bettor.call("place_wager", market_id=voided.id, outcome_id=voided.outcomes[0], stake=300)
    other.call("place_wager", market_id=voided.id, outcome_id=voided.outcomes[1], stake=200)
    live.commit_and_read()
    admin.call("void_market", market_id=voided.id, reason="abandoned")
    assert result_then_money(live.commit_and_read(), "voided") == ["result", "balance", "balance"]

    reviewed = make_market(admin)
    bettor.call("place_wager", market_id=reviewed.id, outcome_id=reviewed.outcomes[0], stake=400)
    admin.call("require_settlement_confirmation", market_id=reviewed.id, required=True)
    admin.call("propose_settlement", market_id=reviewed.id, outcome_id=reviewed.outcomes[0])
    live.commit_and_read()
    second_admin.call("confirm_settlement", market_id=reviewed.id)
    assert result_then_money(live.commit_and_read(), "settled") == ["result", "balance"]
