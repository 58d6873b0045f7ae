"""SQL-injection and script strings in every text field: stored as sent and read back byte for
byte, through /rest/v1 and BetMarket's /api; used as PostgREST filter values they match exactly
the rows that hold them; as filter syntax (order, select, column names) they are a 400. A NUL
byte, which PostgreSQL text cannot hold, is a 400 and stores nothing. Nothing runs: the tables
are all there afterwards and the ledger still balances."""

import uuid
from typing import Any

import httpx
import pytest

from tests.api.betmarket_client import User, client
from tests.attack.over_http import RestActor, db, new_user
from tests.serving import Node

NASTY = [
    "'; drop table app.wagers; --",
    '" or 1=1 --',
    "' or '1'='1",
    "$$; delete from app.ledger_entries; $$",
    "$tag$ select 1 $tag$ \\ \\\\ \\x00 \\n",
    "'||(select current_user)||'",
    "1); truncate app.markets cascade; --",
    "%s %(x)s {0} {{7*7}} ${jndi:ldap://x/a} `id`",
    "<script>window.__pwned = 1</script>",
    '<img src=x onerror="window.__pwned = 1">',
    '"><svg onload=alert(1)>',
    "javascript:alert(document.cookie)",
    "Ünïcödé ✓ 🎲 漢字 עברית \u202e RTL \u200b zero-width \u2028 \u2029",
    "e\u0301 \U0001f469\u200d\U0001f469\u200d\U0001f467 \ufeff BOM",
    "line\nbreak\ttab\rreturn",
    "a,b.c:(d)\"e'f\\g*h%i_j",
]
LONG_TITLE = ("<b>'; drop table app.wagers; --</b> 🎲" * 10)[:200]  # the longest title allowed

TABLES = """select count(*) from pg_catalog.pg_class
            where relnamespace in ('app'::regnamespace, 'auth'::regnamespace)
              and relkind in ('r', 'p')"""
UNBALANCED = """select count(*) from (select transaction_id from app.ledger_entries
                group by transaction_id having sum(amount) <> 0) as t"""


@pytest.fixture(scope="module")
def intact(node: Node) -> Any:
    """The app and auth tables before; checked again at the end of the module."""
    before = db(node).execute(TABLES).fetchone()
    yield
    assert db(node).execute(TABLES).fetchone() == before
    assert db(node).execute(UNBALANCED).fetchone() == (0,)


def label(text: str, suffix: str = "") -> str:
    """An outcome label (at most 100 characters) made of `text`."""
    return f"{text[: 100 - len(suffix)]}{suffix}"


def ok(answer: httpx.Response) -> Any:
    assert answer.status_code == 200, answer.text
    return answer.json()


@pytest.mark.usefixtures("intact")
@pytest.mark.parametrize("text", [*NASTY, LONG_TITLE], ids=range(len(NASTY) + 1))
def test_a_market_s_texts_are_stored_and_shown_as_sent(
    node: Node, service: RestActor, text: str
) -> None:
    created = service.call(
        "create_market",
        title=text,
        outcomes=[{"label": label(text), "color": "#123456", "abbreviation": "ab"}, "Other"],
        options={"description": text},
    )
    market_id = created["id"]
    assert created["title"] == text
    shown = ok(service.get("markets", {"id": f"eq.{market_id}"}))[0]
    assert (shown["title"], shown["description"]) == (text, text)
    assert [o["label"] for o in shown["outcomes"]] == [label(text), "Other"]
    outcomes = ok(service.get("outcomes", {"market_id": f"eq.{market_id}", "order": "position"}))
    assert [o["label"] for o in outcomes] == [label(text), "Other"]
    # as a filter value it matches exactly the rows that hold it
    for params in (
        {"title": f"eq.{text}", "select": "id,title"},
        {"description": f"eq.{text}", "id": f"eq.{market_id}"},
        {"or": f"(title.eq.{quoted(text)},id.eq.0)", "select": "id,title"},
        {"title": f"in.({quoted(text)})", "select": "id,title"},
    ):
        found = ok(service.get("markets", params))
        assert market_id in [m["id"] for m in found], params
        assert all(m.get("title", text) == text for m in found), params
    by_label = ok(service.get("outcomes", {"label": f"eq.{label(text)}", "select": "market_id"}))
    assert market_id in [o["market_id"] for o in by_label]
    # and BetMarket shows the same bytes
    game = httpx.get(f"{node.url}/api/games/{market_id}").json()
    assert (game["question_text"], game["opt1_text"], game["opt2_text"]) == (
        text,
        label(text),
        "Other",
    )


def betmarket_admin(node: Node, http: httpx.Client) -> User:
    made = new_user(node, "boss", admin=True)
    return User(http, made.name, made.user_id or "", made.token)


def quoted(text: str) -> str:
    """A PostgREST list element in double quotes, `\\` and `"` escaped."""
    escaped = text.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'


@pytest.mark.usefixtures("intact")
@pytest.mark.parametrize("text", NASTY, ids=range(len(NASTY)))
def test_reasons_notes_and_idempotency_keys_are_stored_and_shown_as_sent(
    node: Node, service: RestActor, text: str
) -> None:
    bettor = new_user(node, "payload")
    market = service.call(
        "create_market",
        title="Reasons",
        outcomes=["Yes", "No"],
        options={"requires_approval": True},
    )
    first = market["outcomes"][0]["outcome_id"]
    held = bettor.call(
        "place_wager", market_id=market["id"], outcome_id=first, stake=100, idempotency_key=text
    )
    again = bettor.call(
        "place_wager", market_id=market["id"], outcome_id=first, stake=100, idempotency_key=text
    )
    assert again["id"] == held["id"] and again["replayed"] is True
    service.call("reject_wager", wager_id=held["id"], reason=text)
    mine = ok(bettor.get("my_wagers", {"id": f"eq.{held['id']}"}))[0]
    assert (mine["idempotency_key"], mine["reject_reason"]) == (text, text)
    # a key is the user's, across functions: the deposit takes the text reversed
    deposit = bettor.call("deposit", amount=5, idempotency_key=text[::-1])
    replay = bettor.call("deposit", amount=5, idempotency_key=text[::-1])
    assert replay == {**deposit, "replayed": True}

    service.call("propose_settlement", market_id=market["id"], outcome_id=first, note=text)
    service.call("cancel_settlement_proposal", market_id=market["id"], reason=text)
    proposal = ok(service.get("settlement_proposals", {"market_id": f"eq.{market['id']}"}))[0]
    assert (proposal["note"], proposal["cancel_reason"]) == (text, text)
    service.call("void_market", market_id=market["id"], reason=text)
    voided = ok(service.get("markets", {"id": f"eq.{market['id']}"}))[0]
    assert voided["void_reason"] == text

    # the audit log, filtered by the text itself (the proposal's note is logged as its reason)
    logged = ok(
        service.get(
            "admin_actions",
            {"reason": f"eq.{text}", "market_id": f"eq.{market['id']}", "order": "id"},
        )
    )
    assert [a["action"] for a in logged] == [
        "reject_wager",
        "propose_settlement",
        "cancel_settlement_proposal",
        "void_market",
    ]


@pytest.mark.usefixtures("intact")
def test_a_wager_void_and_a_correction_keep_their_reasons_as_sent(
    node: Node, service: RestActor
) -> None:
    bettor = new_user(node, "payload")
    for text in NASTY:
        market = service.call("create_market", title="Corrections", outcomes=["Yes", "No"])
        first = market["outcomes"][0]["outcome_id"]
        wager = bettor.call("place_wager", market_id=market["id"], outcome_id=first, stake=10)
        service.call("void_wager", wager_id=wager["id"], reason=text)
        bettor.call("place_wager", market_id=market["id"], outcome_id=first, stake=10)
        service.call("settle_market", market_id=market["id"], outcome_id=first)
        service.call("unsettle_market", market_id=market["id"], reason=text)
        logged = ok(service.get("admin_actions", {"market_id": f"eq.{market['id']}"}))
        reasons = {a["action"]: a["reason"] for a in logged}
        assert (reasons["void_wager"], reasons["unsettle_market"]) == (text, text)


@pytest.mark.usefixtures("intact")
def test_bettors_and_admins_texts_through_betmarket_are_stored_as_sent(node: Node) -> None:
    with client(node.url) as http:
        boss = betmarket_admin(node, http)
        for text in NASTY:
            answer = boss.post(
                "/api/admin/game",
                {
                    "question_text": text,
                    "opt1_text": label(text),
                    "opt2_text": "Other",
                    "category": "real",
                },
            )
            assert answer.status_code == 201, answer.text
            game = http.get(f"/api/games/{answer.json()['game_id']}").json()
            assert (game["question_text"], game["opt1_text"]) == (text, label(text))
            bet = boss.bet(game["game_id"], 1, "opt1")
            assert bet.status_code == 201, bet.text
            mine = boss.bets(game["game_id"])
            assert (mine[0]["game_question"], mine[0]["opt1_text"]) == (text, label(text))
            refused = boss.post(
                "/api/admin/game",
                {"question_text": "x", "opt1_text": "a", "opt2_text": "b", "category": text},
            )
            assert refused.status_code == 400, refused.text


EMAILS = [  # (local part, domain): sign-up lowercases an email, so these are lowercase
    ("x'or'1'='1", "example.test"),
    ("<script>window.__pwned=1</script>", "example.test"),
    ("$$;drop-table-app.wagers;--", "example.test"),
    ('a"b\\c{0}%s', "üñï.test"),
]


@pytest.mark.usefixtures("intact")
def test_emails_are_stored_as_sent_and_usernames_outside_the_pattern_refused(
    node: Node,
) -> None:
    for local, domain in EMAILS:
        email = f"{local}{uuid.uuid4().hex[:6]}@{domain}"
        up = httpx.post(
            f"{node.url}/auth/v1/signup",
            headers={"apikey": node.anon_key},
            json={"email": email, "password": "correct horse 1"},
            timeout=60,
        )
        assert up.status_code == 200, up.text
        token = up.json()["access_token"]
        user = httpx.get(f"{node.url}/auth/v1/user", headers={"Authorization": f"Bearer {token}"})
        assert user.json()["email"] == email
    before = db(node).execute("select count(*) from auth.users").fetchone()
    for name in ("x'; drop table app.wagers; --", "<script>üü"):
        for path, body in (
            ("/auth/v1/signup", {"username": name, "password": "correct horse 1"}),
            ("/api/auth/register", {"username": name, "password": "correct horse 1"}),
        ):
            answer = httpx.post(
                f"{node.url}{path}", headers={"apikey": node.anon_key}, json=body, timeout=60
            )
            assert answer.status_code == 400, (path, name, answer.text)
    assert db(node).execute("select count(*) from auth.users").fetchone() == before


# filter syntax ------------------------------------------------------------------------------------


@pytest.mark.usefixtures("intact")
@pytest.mark.parametrize("text", NASTY, ids=range(len(NASTY)))
def test_a_string_as_filter_syntax_is_a_400(service: RestActor, text: str) -> None:
    for params in (
        {"order": text},
        {"select": text},
        {text: "eq.1"},
        {"id": f"eq.{text}"},
        {"limit": text},
        {"or": text},
    ):
        answer = service.get("markets", params)
        assert answer.status_code == 400, (params, answer.text)
        assert set(answer.json()) == {"code", "message", "details", "hint"}


@pytest.mark.usefixtures("intact")
def test_a_string_as_an_alias_or_an_embedded_label_is_only_a_key(service: RestActor) -> None:
    """Aliases and the labels of embedded resources are any text (double-quoted): they name a
    key of the answer and nothing else; as a relationship's hint they match none (PGRST200)."""
    market = service.call("create_market", title="Aliases", outcomes=["Yes", "No"])
    for text in NASTY:
        if len(text.encode()) > 60:
            continue  # PostgreSQL cuts a name at 63 bytes, as behind PostgREST
        key, label = quoted(text), quoted(f"{text}!")
        select = f"id,{key}:label,{label}:markets!market_id({key}:title)"
        where = {"select": select, "market_id": f"eq.{market['id']}", "order": "position"}
        rows = ok(service.get("outcomes", where))
        assert [(r[text], r[f"{text}!"]) for r in rows] == [
            ("Yes", {text: "Aliases"}),
            ("No", {text: "Aliases"}),
        ], text
        hinted = service.get("markets", {"select": f"id,outcomes!{key}(id)"})
        assert hinted.status_code == 400 and hinted.json()["code"] == "PGRST200", hinted.text


# the NUL byte and sizes ------------------------------------------------------------------------


@pytest.mark.usefixtures("intact")
def test_a_nul_byte_is_refused_with_a_400_in_every_text_field(
    node: Node, service: RestActor
) -> None:
    nul = "before\u0000after"
    bettor = new_user(node, "nul")
    market = service.call("create_market", title="NUL", outcomes=["Yes", "No"])
    markets = db(node).execute("select count(*) from app.markets").fetchone()
    first = market["outcomes"][0]["outcome_id"]
    for who, function, arguments in (
        (service, "create_market", {"title": nul, "outcomes": ["a", "b"]}),
        (service, "create_market", {"title": "t", "outcomes": [nul, "b"]}),
        (
            service,
            "create_market",
            {"title": "t", "outcomes": ["a", "b"], "options": {"description": nul}},
        ),
        (service, "void_market", {"market_id": market["id"], "reason": nul}),
        (
            service,
            "propose_settlement",
            {"market_id": market["id"], "outcome_id": first, "note": nul},
        ),
        (bettor, "deposit", {"amount": 5, "idempotency_key": nul}),
        (
            bettor,
            "place_wager",
            {"market_id": market["id"], "outcome_id": first, "stake": 5, "idempotency_key": nul},
        ),
    ):
        answer = who.rpc(function, arguments)
        assert answer.status_code == 400, (function, answer.text)
    for params in ({"title": f"eq.{nul}"}, {"or": f"(title.eq.{nul})"}, {"order": nul}):
        assert service.get("markets", params).status_code == 400, params
    with client(node.url) as http:
        boss = betmarket_admin(node, http)
        for field in ("question_text", "opt1_text", "opt2_text"):
            body = {"question_text": "q", "opt1_text": "a", "opt2_text": "b", "category": "real"}
            answer = boss.post("/api/admin/game", {**body, field: nul})
            assert answer.status_code == 400, (field, answer.text)
    assert db(node).execute("select count(*) from app.markets").fetchone() == markets
    assert ok(bettor.get("my_wagers")) == []
    assert db(node).execute(
        "select count(*) from app.ledger_entries where user_id = %s", [bettor.user_id]
    ).fetchone() == (0,)


@pytest.mark.usefixtures("intact")
def test_lengths_are_enforced_not_truncated(node: Node, service: RestActor) -> None:
    long = "'; drop table app.wagers; -- " * 1000  # 29,000 characters, in a 64 KiB body
    market = service.call(
        "create_market", title="Long", outcomes=["Yes", "No"], options={"description": long}
    )
    assert ok(service.get("markets", {"id": f"eq.{market['id']}"}))[0]["description"] == long
    for arguments in (
        {"title": LONG_TITLE + "x", "outcomes": ["a", "b"]},
        {"title": "t", "outcomes": [label(LONG_TITLE) + "x", "b"]},
    ):
        answer = service.rpc("create_market", arguments)
        assert (answer.status_code, answer.json()["message"]) == (400, "invalid_argument")
    too_big = service.rpc(
        "create_market",
        {"title": "t", "outcomes": ["a", "b"], "options": {"description": "x" * 70_000}},
    )
    assert too_big.status_code == 413
