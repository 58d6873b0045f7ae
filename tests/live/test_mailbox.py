"""A socket's mailbox: who sees what, the latest odds only, and a bound that drops a slow socket."""

import asyncio

from wagerbase.live.hub import Event, Hub, Mailbox


def odds(market_id: int, version: int) -> Event:
    return Event("market", {"type": "odds", "market_id": market_id, "version": version})


def test_public_messages_reach_everyone_user_messages_only_their_user() -> None:
    anonymous, alice, bob = Mailbox(), Mailbox("alice"), Mailbox("bob")
    admin = Mailbox("root", is_admin=True)
    balance = Event("user", {"type": "balance", "user_id": "alice", "version": 3})
    profit = Event("admin", {"type": "profit", "profit": 100})
    for box in (anonymous, alice, bob, admin):
        assert box.wants(odds(1, 2))
    assert [box.wants(balance) for box in (anonymous, alice, bob, admin)] == [
        False,
        True,
        False,
        False,
    ]
    assert [box.wants(profit) for box in (anonymous, alice, bob, admin)] == [
        False,
        False,
        False,
        True,
    ]


def test_odds_of_one_market_are_coalesced_to_the_latest_and_keep_their_order() -> None:
    box = Mailbox("alice")
    box.offer(odds(1, 2))
    box.offer(Event("market", {"type": "closed", "market_id": 2, "version": 9}))
    box.offer(odds(1, 3))
    box.offer(odds(2, 10))
    box.offer(odds(1, 4))

    async def drain() -> list[tuple[str, int, int]]:
        out = []
        while len(box):
            event = await box.get()
            assert event is not None
            out.append((event.type, event.payload["market_id"], event.payload["version"]))
        return out

    assert asyncio.run(drain()) == [("closed", 2, 9), ("odds", 2, 10), ("odds", 1, 4)]


def test_a_full_mailbox_is_dropped_and_the_others_still_get_everything() -> None:
    hub = Hub("postgresql://unused")
    slow, fast = hub.subscribe(Mailbox(limit=3)), hub.subscribe(Mailbox(limit=100))
    for n in range(5):
        hub.publish(Event("market", {"type": "closed", "market_id": n}))
    assert slow.overflowed and hub.sockets == 1
    assert len(fast) == 5 and not fast.overflowed
    assert asyncio.run(slow.get()) is None


def test_a_socket_that_lags_too_far_behind_is_dropped_even_with_room_left() -> None:
    box = Mailbox(limit=100, max_lag=10.0)
    assert box.offer(Event("market", {"type": "closed", "market_id": 1}, received_at=100.0))
    assert box.offer(Event("market", {"type": "closed", "market_id": 2}, received_at=109.0))
    assert not box.offer(Event("market", {"type": "closed", "market_id": 3}, received_at=110.5))
    assert box.overflowed


def test_coalesced_odds_keep_the_age_of_the_first_update_the_socket_missed() -> None:
    """Odds of one market over and over keep the mailbox one message long: its age is still how
    long the socket has gone without that market's odds."""
    box = Mailbox(limit=100, max_lag=10.0)
    assert box.offer(
        Event("market", {"type": "odds", "market_id": 1, "version": 1}, received_at=100.0)
    )
    assert box.offer(
        Event("market", {"type": "odds", "market_id": 1, "version": 2}, received_at=109.0)
    )
    assert len(box) == 1
    assert not box.offer(
        Event("market", {"type": "odds", "market_id": 1, "version": 3}, received_at=110.5)
    )
    assert box.overflowed


def test_a_message_the_writer_is_still_sending_counts_as_waiting() -> None:
    """A client that stopped reading holds its writer in the send of one message: the messages
    behind it are younger, but the socket is as far behind as that one."""

    async def scenario() -> None:
        box = Mailbox(limit=100, max_lag=10.0)
        box.offer(Event("market", {"type": "closed", "market_id": 1}, received_at=100.0))
        taken = await box.get()  # the writer took it, and is stuck sending it
        assert taken is not None and box.behind_since() == 100.0
        assert box.offer(Event("market", {"type": "closed", "market_id": 2}, received_at=109.0))
        assert not box.offer(Event("market", {"type": "closed", "market_id": 3}, received_at=110.5))

        caught_up = Mailbox(limit=100, max_lag=10.0)
        caught_up.offer(Event("market", {"type": "closed", "market_id": 1}, received_at=100.0))
        await caught_up.get()
        caught_up.offer(Event("market", {"type": "closed", "market_id": 2}, received_at=109.0))
        assert await caught_up.get() is not None  # the first was sent: only the second counts
        assert caught_up.behind_since() == 109.0
        assert caught_up.offer(
            Event("market", {"type": "closed", "market_id": 3}, received_at=118.0)
        )

    asyncio.run(scenario())
