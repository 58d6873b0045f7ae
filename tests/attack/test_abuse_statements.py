"""Every statement is bounded: each client role has a statement_timeout and a lock_timeout of its
own (sql/roles.sql), applied to every request by server.begin_request as PostgREST applies them,
and at a psql prompt by console.act_as. A statement past its limit is a 400 whose hint names the
limit, on every surface. Admin calls that may run long on a big market declare their own limit,
which the API applies before the call.

The report's attack: ten anonymous reads with a backtracking regex ran for hours and took the API
down. Now a pattern with a backreference, the backtracking kind, is refused before it runs; and ten
anonymous reads that do run long (a function that sleeps) are each cut at anon's 3 s, while a
bettor signs in, reads their wallet, bets and /health answers."""

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from tests.attack.abuse import (
    WAIT,
    admin_token,
    anon,
    bearer,
    eventually,
    holding,
    http,
    new_market,
    regex_read,
    requests_in_flight,
    role_settings,
    sign_in,
    signed_up,
    superuser,
    waiting_on_a_lock,
)
from tests.pgserver import Connection
from tests.serving import Node
from tests.support.gotrue import error_code, error_message

# a probe of this module's database only: a function with its own limit that raises what a
# statement past its statement_timeout raises, so the answer shows which limit was in force
PROBE = """
create function public.abuse_probe_{kind}() returns text
language plpgsql {volatility}
set statement_timeout = '7min'
as $$ begin raise exception using errcode = 'query_canceled', message = 'probe'; end $$;
grant execute on function public.abuse_probe_{kind}() to authenticated;
"""
# a read that runs as long as it is let: anon's statement_timeout cuts it
SLOW_READ = """
create function public.abuse_slow_read() returns void
language sql stable
as 'select pg_catalog.pg_sleep(3600)';
grant execute on function public.abuse_slow_read() to anon;
"""


# a generous wait for a read's place: ten reads of one client take turns, three at a time, and
# each must get its own answer (the limits of the lanes: test_abuse_pools.py)
NODE_ENV = {"WAGERBASE_POOL_WAIT": "120"}


@pytest.fixture(scope="module")
def node(own: Node) -> Node:
    with superuser(own) as conn:
        conn.execute(PROBE.format(kind="call", volatility="volatile"))
        conn.execute(PROBE.format(kind="read", volatility="stable"))
        conn.execute(SLOW_READ)
    return own


def cut_at_the_limit(answer: httpx.Response, role: str, limit: str) -> None:
    assert answer.status_code == 400, answer.text
    body = answer.json()
    assert body["code"] == "57014", body
    assert f"as {role} may run for {limit} at most" in body["hint"], body


def test_the_report_s_backtracking_regex_is_refused_before_it_runs(node: Node) -> None:
    with http(node) as client:
        answers = [client.get(regex_read(), headers=anon(node)) for _ in range(10)]
    for answer in answers:
        assert answer.status_code == 400, answer.text
        body = answer.json()
        assert body["code"] == "PGRST100", body
        assert "backreference" in body["message"], body
    assert not requests_in_flight(node, "~")


def test_ten_slow_anonymous_reads_are_cut_while_a_bettor_carries_on(node: Node) -> None:
    admin = admin_token(node)
    market, outcomes = new_market(node, admin, "a market while reads run long")
    email, _ = signed_up(node)

    def attack(_: int) -> httpx.Response:
        with http(node) as client:
            return client.get("/rest/v1/rpc/abuse_slow_read", headers=anon(node))

    def attacking() -> bool:
        return bool(requests_in_flight(node, "abuse_slow_read"))

    with ThreadPoolExecutor(max_workers=10) as pool:
        attacks = [pool.submit(attack, n) for n in range(10)]
        # each of the bettor's steps starts while regex reads run
        eventually(attacking, "a regex read running")
        token = sign_in(node, email)
        with http(node) as client:
            eventually(attacking, "a regex read running")
            wallet = client.get("/rest/v1/my_wallet", headers=bearer(node, token))
            assert wallet.status_code == 200, wallet.text
            assert isinstance(wallet.json(), list)
            eventually(attacking, "a regex read running")
            wager = client.post(
                "/rest/v1/rpc/place_wager",
                headers=bearer(node, token),
                json={"market_id": market, "outcome_id": outcomes[0], "stake": 100},
            )
            assert wager.status_code == 200, wager.text
            eventually(attacking, "a regex read running")
            assert client.get("/health").status_code == 200
        answers = [attack.result(timeout=WAIT * 3) for attack in attacks]
    for answer in answers:
        cut_at_the_limit(answer, "anon", "3s")

    # afterwards the pool is whole: no read holds a place, and reads answer
    def settled() -> dict[str, Any]:
        body: dict[str, Any] = httpx.get(f"{node.url}/health", timeout=WAIT).json()
        return body if body["pool"]["reads"]["in_use"] == 0 else {}

    assert eventually(settled, "every read place free")["status"] == "ok"
    with http(node) as client:
        assert client.get("/rest/v1/markets?select=id", headers=anon(node)).status_code == 200


def test_a_statement_past_its_limit_is_a_400_naming_it_on_every_surface(node: Node) -> None:
    """A read held by a lock (lock_timeout 0 for anon here) runs into anon's statement_timeout:
    PostgREST's body with code 57014 and the limit in its hint, BetMarket's {error} naming it."""
    with (
        role_settings(node, "anon", lock_timeout="0"),
        holding(node, "lock table app.markets in access exclusive mode"),
        http(node) as client,
    ):
        cut_at_the_limit(client.get("/rest/v1/markets", headers=anon(node)), "anon", "3s")
        games = client.get("/api/games")
        assert games.status_code == 400, games.text
        assert "may run for 3s at most" in games.json()["error"]


def test_the_node_s_own_statements_are_bounded_too(node: Node) -> None:
    """Sign-in runs as the node itself, under its own limit: past it, GoTrue's 400."""
    email, _ = signed_up(node)
    with (
        holding(node, "lock table app.sign_in_attempts in access exclusive mode"),
        http(node) as client,
    ):
        answer = client.post(
            "/auth/v1/token?grant_type=password",
            headers=anon(node),
            json={"email": email, "password": "correct horse 1"},
        )
    assert answer.status_code == 400, answer.text
    assert error_code(answer) == "request_timeout"
    assert "the API node itself may run for 10s at most" in error_message(answer)


def test_a_function_s_own_statement_timeout_is_applied_before_the_call(node: Node) -> None:
    """The probe declares 7 minutes: the limit in force when it runs is its own, not
    authenticated's 8 s, for a money call (POST of a volatile function) and for a read."""
    _, token = signed_up(node)
    with http(node) as client:
        call = client.post("/rest/v1/rpc/abuse_probe_call", headers=bearer(node, token))
        read = client.get("/rest/v1/rpc/abuse_probe_read", headers=bearer(node, token))
    cut_at_the_limit(call, "authenticated", "7min")
    cut_at_the_limit(read, "authenticated", "7min")


def test_settlement_outlasts_an_ordinary_admin_statement(node: Node) -> None:
    """With authenticated's statement_timeout lowered to 200 ms for this database, an admin's
    settle_market (through /rest and BetMarket's start_game) waits on a lock held by the test,
    and an ordinary admin read that started waiting later is cut at the limit while both
    settlements still wait: they run under their own 5 minutes. Then both settle."""
    admin = admin_token(node)
    market, outcomes = new_market(node, admin)
    game, _ = new_market(node, admin, "a game")
    with superuser(node) as conn:
        config = conn.execute(
            """select p.proname, p.proconfig from pg_catalog.pg_proc as p
               where p.pronamespace = 'public'::regnamespace and p.proname = any(%s)""",
            [["settle_market", "void_market", "unsettle_market", "resettle_market"]],
        ).fetchall()
    assert len(config) == 4
    assert all("statement_timeout=5min" in settings for _, settings in config)

    def settle() -> httpx.Response:
        with http(node) as client:
            return client.post(
                "/rest/v1/rpc/settle_market",
                headers=bearer(node, admin),
                json={"market_id": market, "outcome_id": outcomes[0]},
            )

    def start_game() -> httpx.Response:
        with http(node) as client:
            return client.post(
                "/api/admin/start_game",
                headers={"Authorization": f"Bearer {admin}"},
                json={"game_id": game, "result": "opt1"},
            )

    with (
        role_settings(node, "authenticated", statement_timeout="200ms", lock_timeout="0"),
        ThreadPoolExecutor(max_workers=2) as pool,
    ):
        with holding(node, "lock table app.markets in access exclusive mode"):
            settling = [pool.submit(settle), pool.submit(start_game)]
            eventually(lambda: waiting_on_a_lock(node, "settle_market") == 2, "both settling")
            with http(node) as client:
                ordinary = client.get("/rest/v1/markets", headers=bearer(node, admin))
            cut_at_the_limit(ordinary, "authenticated", "200ms")
            assert waiting_on_a_lock(node, "settle_market") == 2
        answers = [future.result(timeout=WAIT) for future in settling]
    assert [a.status_code for a in answers] == [200, 200], [a.text for a in answers]
    with superuser(node) as conn:
        settled = conn.execute(
            "select count(*) from app.markets where id = any(%s) and status = 'settled'",
            [[market, game]],
        ).fetchone()
    assert settled == (2,)


def test_a_psql_session_acting_as_someone_gets_their_limits(conn: Connection) -> None:
    """console.act_as goes through server.begin_request: a prompt has the API's limits."""
    conn.execute("select console.act_as_anon()")
    assert conn.execute("show statement_timeout").fetchone() == ("3s",)
    assert conn.execute("show lock_timeout").fetchone() == ("1s",)
    assert conn.execute("select current_user").fetchone() == ("anon",)
    conn.execute("reset role")
    row = conn.execute(
        "select app._create_user(%s, %s, 'not a hash')",
        ["psql_limits@example.test", "psql_limits"],
    ).fetchone()
    assert row is not None
    conn.execute("select console.act_as('psql_limits')")
    assert conn.execute("show statement_timeout").fetchone() == ("8s",)
    assert conn.execute("show lock_timeout").fetchone() == ("2s",)
    assert conn.execute("select current_user").fetchone() == ("authenticated",)
