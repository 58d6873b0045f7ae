"""verify_draw recomputes a virtual market's draw (docs/provably-fair.md) and catches a tampered
record; and the SQL's HMAC-SHA256 and draw number match RFC 4231 and Python."""

import hmac
import secrets

from tests.db.helpers import make_market
from tests.db.personas import Persona
from tests.db.virtual import assert_recomputed, bet, make_due, make_virtual, py_number, scalar, tick
from tests.pgserver import Connection

# Reading ----------------------------------------------------------------------------------------


def test_verify_draw_recomputes_and_catches_a_tampered_record(
    conn: Connection, admin: Persona, bettor: Persona, anon: Persona
) -> None:
    """verify_draw redoes the draw from the seed: a record edited behind the triggers' back (the
    superuser in replica mode) shows as a mismatch, next to the true values."""
    market = make_virtual(admin)
    wager_id = bet(bettor, market, "Red", 100)
    make_due(conn, market.id)
    tick(conn)
    true = anon.call("verify_draw", market_id=market.id)
    assert true["verified"] is True
    wrong = next(o for o in market.outcomes.values() if o != true["outcome"]["outcome_id"])
    conn.execute("set local session_replication_role = replica")
    conn.execute(
        "update app.virtual_draws set hmac = repeat('0', 64), result = 0 where market_id = %s",
        [market.id],
    )
    conn.execute("update app.markets set winning_outcome_id = %s where id = %s", [wrong, market.id])
    conn.execute("set local session_replication_role = origin")

    answer = anon.call("verify_draw", market_id=market.id)
    assert (answer["hmac"], answer["result"], answer["outcome"]) == (
        true["hmac"],
        true["result"],
        true["outcome"],
    )
    assert (answer["draw_matches"], answer["outcome_matches_settlement"]) == (False, False)
    assert (answer["seed_matches_hash"], answer["client_seed_matches"]) == (True, True)
    assert answer["verified"] is False
    assert_recomputed(market, answer, [wager_id])


def test_verify_draw_refusals_and_drafts(
    conn: Connection, admin: Persona, bettor: Persona, anon: Persona
) -> None:
    real = make_market(admin)
    anon.refused("not_virtual", "verify_draw", market_id=real.id)
    anon.refused("market_not_found", "verify_draw", market_id=-1)
    draft = make_virtual(admin, "dice", status="draft")
    for who in (anon, bettor):
        who.refused("market_not_found", "verify_draw", market_id=draft.id)
        assert who.rows(
            "select count(*) from public.virtual_draws where market_id = %s", [draft.id]
        ) == [(0,)]
    assert (
        admin.call("verify_draw", market_id=draft.id)["server_seed_hash"]
        == draft.row["server_seed_hash"]
    )
    admin.call("open_market", market_id=draft.id)
    assert anon.call("verify_draw", market_id=draft.id)["status"] == "open"


# The HMAC ---------------------------------------------------------------------------------------

# RFC 4231, test cases 1 to 4, 6 and 7 (case 5 truncates its output; it is checked as a prefix).
RFC_4231 = [
    (
        "0b" * 20,
        b"Hi There",
        "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7",
    ),
    (
        b"Jefe".hex(),
        b"what do ya want for nothing?",
        "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
    ),
    (
        "aa" * 20,
        bytes.fromhex("dd" * 50),
        "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe",
    ),
    (
        "0102030405060708090a0b0c0d0e0f10111213141516171819",
        bytes.fromhex("cd" * 50),
        "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b",
    ),
    (
        "0c" * 20,
        b"Test With Truncation",
        "a3b6167473100ee06e0c796c2955552b",
    ),
    (
        "aa" * 131,
        b"Test Using Larger Than Block-Size Key - Hash Key First",
        "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54",
    ),
    (
        "aa" * 131,
        b"This is a test using a larger than block-size key and a larger than block-size data."
        b" The key needs to be hashed before being used by the HMAC algorithm.",
        "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2",
    ),
]


def sql_hmac(conn: Connection, key: bytes, message: bytes) -> str:
    return str(scalar(conn, "select encode(app._hmac_sha256(%s, %s), 'hex')", [key, message]))


def test_the_sql_hmac_matches_rfc_4231_and_python(conn: Connection) -> None:
    for key_hex, message, expected in RFC_4231:
        key = bytes.fromhex(key_hex)
        mac = sql_hmac(conn, key, message)
        assert mac.startswith(expected)
        assert mac == hmac.new(key, message, "sha256").hexdigest()


def test_the_sql_hmac_matches_python_for_keys_of_every_size(conn: Connection) -> None:
    for size in (0, 1, 32, 63, 64, 65, 128, 200, 1000):
        key = secrets.token_bytes(size)
        for message in (b"", b"x", secrets.token_bytes(300)):
            assert sql_hmac(conn, key, message) == hmac.new(key, message, "sha256").hexdigest()


def test_the_draw_number_uses_four_bytes_exactly(conn: Connection) -> None:
    def number(mac: bytes, limit: int) -> int:
        return int(scalar(conn, "select app._draw_number(%s, %s)", [mac, limit]))

    assert number(bytes(32), 37) == 0
    assert number(b"\xff" * 4 + bytes(28), 37) == 36
    assert number(b"\xff" * 4 + bytes(28), 10000) == 9999
    for _ in range(50):
        mac = secrets.token_bytes(32)
        for limit in (37, 10000):
            assert number(mac, limit) == py_number(mac, limit)
