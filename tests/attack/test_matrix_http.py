"""The attack matrix over HTTP, through a real `wagerbase serve`: every view read with GET
/rest/v1/<view> and written with POST, PATCH, PUT and DELETE, and every function called with POST
/rest/v1/rpc/<fn>, by each persona. What comes back is compared with what the superuser reads
with the same claims; a refusal has the matrix's code and status, and changes nothing."""

import time
from typing import Any

import httpx
import pytest

from tests.attack import matrix
from tests.attack.matrix import (
    FUNCTIONS,
    PERSONAS,
    RELATIONS,
    Function,
    Outcome,
    PersonaKind,
    Relation,
    Scope,
)
from tests.attack.matrix_arguments import prepare
from tests.attack.matrix_checks import expect
from tests.attack.matrix_rows import AFTER_POPULATE, BEFORE_POPULATE, populate
from tests.attack.over_http import (
    HttpCast,
    RestActor,
    db,
    every_page,
    ordered,
    rows_as_superuser,
)
from tests.serving import Node

Row = dict[str, Any]


# functions ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("function", FUNCTIONS, ids=lambda f: f.name)
def test_every_function_answers_each_persona_as_the_matrix_says(
    node: Node, function: Function
) -> None:
    cast = HttpCast(node)
    bettor_a = [cast.who[PersonaKind.BETTOR].user_id or ""]
    for who in PERSONAS:
        cast.stage.caller = cast.who[who]
        arguments = prepare(function.name, cast.stage)
        before = cast.digest(cast.stage.markets, cast.users)
        a_before = cast.digest([], bettor_a)
        result = expect(function.outcome(who), who, cast.who[who], function.name, **arguments)
        if function.outcome(who) is Outcome.ALLOWED:
            assert result is not None, who
        else:
            assert cast.digest(cast.stage.markets, cast.users) == before, who
        if who is PersonaKind.OTHER:
            assert cast.digest([], bettor_a) == a_before


def test_the_private_schema_is_not_reachable_over_rest(node: Node) -> None:
    """The app tables and functions (the sign-up and session ones included) are not in the
    schema cache: 404, whoever asks, and another schema by header is a 406."""
    conn = db(node)
    tables = [
        t
        for (t,) in conn.execute(
            "select relname from pg_class where relnamespace = 'app'::regnamespace "
            "and relkind in ('r', 'p', 'v') order by 1"
        )
    ]
    functions = [
        f
        for (f,) in conn.execute(
            "select distinct proname from pg_proc where pronamespace = 'app'::regnamespace"
        )
    ]
    assert {"accounts", "ledger_entries", "idempotency_keys"} <= set(tables)
    assert {"_create_user", "_set_admin", "_start_session", "_fail"} <= set(functions)
    service = RestActor(node, "service", node.service_key)
    for table in tables:
        if table in {r.name for r in RELATIONS}:
            continue  # app.wagers is not public.wagers: the name reaches the public view
        answer = service.get(table)
        assert (answer.status_code, answer.json()["code"]) == (404, "PGRST205"), table
    for name in functions:
        answer = service.rpc(name, {})
        assert (answer.status_code, answer.json()["code"]) == (404, "PGRST202"), name
    for profile in ("app", "auth", "console"):
        answer = service.send("GET", "accounts", headers={"Accept-Profile": profile})
        assert (answer.status_code, answer.json()["code"]) == (406, "PGRST106"), profile


# reads -------------------------------------------------------------------------------------------


class HttpWorld:
    """Rows in every view, made over HTTP (the side effects run by the node's worker)."""

    def __init__(self, node: Node) -> None:
        self.node = node
        self.cast = HttpCast(node)
        db(node).execute(BEFORE_POPULATE)
        a, b, admin = (
            self.cast.who[w] for w in (PersonaKind.BETTOR, PersonaKind.OTHER, PersonaKind.ADMIN)
        )
        self.drafts = populate(self.cast.stage, a, b, admin)
        self.markets = list(self.cast.stage.outcomes)
        db(node).execute(AFTER_POPULATE, [self.markets])
        wait_for_side_effects(node, self.markets)


def wait_for_side_effects(node: Node, markets: list[int]) -> None:
    """Until the node's worker has run every side-effect job of these markets (statistics,
    leaderboard, big wins); a wait with a generous deadline, not a measure of speed."""
    deadline = time.monotonic() + 60
    query = (
        "select count(*) from app.side_effect_jobs where status <> 'done' and market_id = any(%s)"
    )
    while (row := db(node).execute(query, [markets]).fetchone()) != (0,):
        assert time.monotonic() < deadline, f"side-effect jobs still waiting: {row}"
        time.sleep(0.1)


@pytest.fixture(scope="module")
def world(node: Node) -> HttpWorld:
    return HttpWorld(node)


def read_steadily(
    world: HttpWorld, who: RestActor, view: str
) -> tuple[httpx.Response, list[Row], list[Row], set[int]]:
    """The answer to GET /rest/v1/<view> and its rows (every page of them: a read answers at
    most the row cap), the superuser's rows with the same claims and the ids of the draft
    markets, read before and after it and equal (the node's scheduler and side-effect worker may
    write between two reads; then it reads again)."""
    for _ in range(20):
        before = rows_as_superuser(world.node, view, who.claims), drafts(world.node)
        answer, shown = every_page(who, view)
        if (rows_as_superuser(world.node, view, who.claims), drafts(world.node)) == before:
            return answer, shown, *before
    raise AssertionError(f"{view} never held still for two reads")


def drafts(node: Node) -> set[int]:
    return {i for (i,) in db(node).execute("select id from app.markets where status = 'draft'")}


@pytest.mark.parametrize("relation", RELATIONS, ids=lambda r: r.name)
def test_every_view_answers_each_persona_exactly_its_scope(
    world: HttpWorld, relation: Relation
) -> None:
    for who in PERSONAS:
        caller = world.cast.who[who]
        scope = relation.scope(who)
        answer, shown, truth, hidden = read_steadily(world, caller, relation.name)
        if scope is Scope.DENIED:
            expected = 401 if who is PersonaKind.ANONYMOUS else 403
            assert (answer.status_code, answer.json()["code"]) == (expected, "42501"), who
            continue
        assert answer.status_code == 200, (who, answer.text)
        rows = ordered(shown)
        assert rows == matrix.in_scope(relation, scope, truth, hidden, caller.user_id), who
        if scope is Scope.ALL:
            assert truth, who
        elif scope is Scope.PUBLIC:
            assert {r[relation.market or ""] for r in rows} & world.drafts == set(), who
        elif scope is Scope.OWN:
            assert rows or who is PersonaKind.ADMIN, who


def test_a_request_without_any_token_reads_as_anonymous(world: HttpWorld) -> None:
    for relation in RELATIONS:
        bare = httpx.get(f"{world.node.url}/rest/v1/{relation.name}", timeout=30)
        with_key = world.cast.who[PersonaKind.ANONYMOUS].get(relation.name)
        assert bare.status_code == with_key.status_code, relation.name
        assert ordered_body(bare) == ordered_body(with_key), relation.name


def ordered_body(answer: httpx.Response) -> Any:
    body = answer.json()
    return ordered(body) if isinstance(body, list) else body


@pytest.mark.parametrize("relation", matrix.OWNED, ids=lambda r: r.name)
def test_the_other_bettor_gets_none_of_bettor_a_s_rows_by_filter_or_guessed_id(
    world: HttpWorld, relation: Relation
) -> None:
    a, b = world.cast.who[PersonaKind.BETTOR], world.cast.who[PersonaKind.OTHER]
    owner = relation.owner or ""
    mine = [
        r for r in rows_as_superuser(world.node, relation.name, a.claims) if r[owner] == a.user_id
    ]
    assert mine, relation.name
    probes: list[dict[str, str]] = [
        {owner: f"eq.{a.user_id}"},
        {"or": f"({owner}.eq.{a.user_id},{owner}.neq.{b.user_id})"},
        {owner: f"in.({a.user_id},{b.user_id})", "select": owner},
    ]
    ids = [str(r["id"]) for r in mine if "id" in r]
    if ids:
        probes += [{"id": f"in.({','.join(ids)})"}, {"id": f"eq.{ids[0]}"}]
    for params in probes:
        answer = b.get(relation.name, params)
        assert answer.status_code == 200, answer.text
        assert [r for r in answer.json() if r.get(owner) != b.user_id] == [], params


# writes ------------------------------------------------------------------------------------------

WRITES: list[tuple[str, dict[str, Any]]] = [
    ("POST", {"json": {"balance": 10**9}}),
    ("PATCH", {"json": {"balance": 10**9}, "params": {"user_id": "not.is.null"}}),
    ("PUT", {"json": {"balance": 10**9}}),
    ("DELETE", {"params": {"user_id": "not.is.null"}}),
]


def test_no_persona_writes_any_view_over_http(world: HttpWorld) -> None:
    cast = world.cast
    before = cast.digest(world.markets, cast.users)
    for relation in RELATIONS:
        for who in PERSONAS:
            caller = cast.who[who]
            expected = 401 if who is PersonaKind.ANONYMOUS else 403
            for method, request in WRITES:
                answer = caller.send(method, relation.name, **request)
                assert (answer.status_code, answer.json()["code"]) == (expected, "42501"), (
                    relation.name,
                    who,
                    method,
                )
    assert cast.digest(world.markets, cast.users) == before
