"""The attack matrix at the database: every cell exercised as the real roles with real JWT claims
(`set local role` + `request.jwt.claims`, as every request runs), in the test's rolled-back
transaction. Reads are compared row for row with what the superuser reads with the same claims
(RLS bypassed), so a scope is exactly the rows it names; every call gets its own savepoint."""

import json
from dataclasses import dataclass, field
from typing import Any

import psycopg
import pytest
from psycopg import sql
from psycopg.types.json import Jsonb

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
from tests.attack.matrix_checks import DIGEST, expect
from tests.attack.matrix_rows import AFTER_POPULATE, BEFORE_POPULATE, populate
from tests.attack.stage import Refused, Stage
from tests.db.personas import Persona, anonymous, persona, service
from tests.pgserver import Connection

Row = dict[str, Any]


@dataclass
class DbActor:
    """A persona calling `select * from public.<fn>(name => value, ...)` in a savepoint."""

    persona: Persona

    @property
    def name(self) -> str:
        return self.persona.name

    @property
    def user_id(self) -> str | None:
        return None if self.persona.user_id is None else str(self.persona.user_id)

    def call(self, function: str, **arguments: Any) -> Any:
        query = sql.SQL("select * from public.{}({})").format(
            sql.Identifier(function),
            sql.SQL(", ").join(
                sql.SQL("{} => {}").format(sql.Identifier(name), sql.Placeholder())
                for name in arguments
            ),
        )
        values = [Jsonb(v) if isinstance(v, list | dict) else v for v in arguments.values()]
        conn = self.persona.conn
        try:
            with self.persona.acting(), conn.transaction():
                rows = conn.execute(query, values).fetchall()
        except psycopg.Error as exc:
            raise Refused(exc.sqlstate or "", exc.diag.message_primary or "") from exc
        return rows[0][0] if len(rows) == 1 and len(rows[0]) == 1 else rows


@dataclass
class Cast:
    """The five personas, the clerk (another admin) and the stage they share."""

    conn: Connection
    who: dict[PersonaKind, Persona] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.who = {
            PersonaKind.ANONYMOUS: anonymous(self.conn),
            PersonaKind.BETTOR: persona(self.conn, "bettor_a"),
            PersonaKind.OTHER: persona(self.conn, "bettor_b"),
            PersonaKind.ADMIN: persona(self.conn, "matrix_admin", admin=True),
            PersonaKind.SERVICE: service(self.conn),
        }
        self.clerk = persona(self.conn, "clerk", admin=True)
        self.stage = Stage(DbActor(self.clerk), DbActor(self.who[PersonaKind.BETTOR]))

    @property
    def users(self) -> list[str]:
        return [str(p.user_id) for p in (*self.who.values(), self.clerk) if p.user_id]

    def digest(self, markets: list[int], users: list[str]) -> str:
        row = self.conn.execute(DIGEST, {"markets": markets, "users": users}).fetchone()
        assert row is not None
        return str(row[0])


# functions ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("function", FUNCTIONS, ids=lambda f: f.name)
def test_every_function_does_for_each_persona_what_the_matrix_says(
    conn: Connection, function: Function
) -> None:
    """Allowed: succeeds with arguments made for it. Refused: with the matrix's error, and
    nothing changed. The other bettor's calls leave bettor A's rows as they were."""
    cast = Cast(conn)
    bettor_a = [str(cast.who[PersonaKind.BETTOR].user_id)]
    for who in PERSONAS:
        with conn.transaction(force_rollback=True):
            cast.stage.caller = DbActor(cast.who[who])
            arguments = prepare(function.name, cast.stage)
            before = cast.digest(cast.stage.markets, cast.users)
            a_before = cast.digest([], bettor_a)
            outcome = function.outcome(who)
            expect(outcome, who, DbActor(cast.who[who]), function.name, **arguments)
            if outcome is not Outcome.ALLOWED:
                assert cast.digest(cast.stage.markets, cast.users) == before, who
            if who is PersonaKind.OTHER:
                assert cast.digest([], bettor_a) == a_before


def test_the_other_bettor_cannot_act_on_bettor_a_s_wagers_by_their_ids(conn: Connection) -> None:
    cast = Cast(conn)
    b = DbActor(cast.who[PersonaKind.OTHER])
    held = cast.stage.wager(cast.stage.market(requires_approval=True))
    accepted = cast.stage.wager(cast.stage.market())
    before = cast.digest(cast.stage.markets, cast.users)
    for function, arguments in (
        ("approve_wager", {"wager_id": held}),
        ("reject_wager", {"wager_id": held, "reason": "mine now"}),
        ("void_wager", {"wager_id": accepted, "reason": "mine now"}),
    ):
        expect(Outcome.NOT_ADMIN, PersonaKind.OTHER, b, function, **arguments)
    assert cast.digest(cast.stage.markets, cast.users) == before


# reads -------------------------------------------------------------------------------------------


@dataclass
class World:
    """Rows in every view: two bettors and an admin with wallets, wagers, ledger entries, limits,
    quotes and statistics; open, draft, settled, proposed, corrected and virtual markets."""

    cast: Cast
    drafts: set[int] = field(default_factory=set)

    def build(self) -> "World":
        conn = self.cast.conn
        conn.execute(BEFORE_POPULATE)
        a, b, admin = (
            DbActor(self.cast.who[w])
            for w in (PersonaKind.BETTOR, PersonaKind.OTHER, PersonaKind.ADMIN)
        )
        self.drafts = populate(self.cast.stage, a, b, admin)
        conn.execute(AFTER_POPULATE, [list(self.cast.stage.outcomes)])
        while conn.execute("select app.work_side_effect()").fetchone() != (None,):
            pass
        return self


def as_superuser(conn: Connection, relation: str, claims: dict[str, Any]) -> list[Row]:
    """The rows of a view as the superuser (no RLS) with these claims (auth.uid() and the my_*
    views follow them): the ground truth a persona's rows are compared with."""
    conn.execute("select set_config('request.jwt.claims', %s, true)", [json.dumps(claims)])
    try:
        return ordered(r for (r,) in conn.execute(f"select to_jsonb(v) from public.{relation} v"))
    finally:
        conn.execute("select set_config('request.jwt.claims', '', true)")


def ordered(rows: Any) -> list[Row]:
    return sorted(rows, key=lambda r: json.dumps(r, sort_keys=True, default=str))


@pytest.fixture
def world(conn: Connection) -> World:
    return World(Cast(conn)).build()


def test_the_world_has_rows_in_every_view_and_drafts_where_drafts_are_hidden(
    world: World,
) -> None:
    """So that no scope below can hold by being empty."""
    conn, who = world.cast.conn, world.cast.who
    for relation in RELATIONS:
        seen = as_superuser(conn, relation.name, who[PersonaKind.BETTOR].claims)
        assert seen, relation.name
        if relation.owner and relation.scope(PersonaKind.BETTOR) is Scope.OWN:
            owners = {r[relation.owner] for r in seen}
            assert str(who[PersonaKind.BETTOR].user_id) in owners, relation.name
            if not relation.name.startswith("my_"):
                assert owners - {str(who[PersonaKind.BETTOR].user_id)}, relation.name
        if Scope.PUBLIC in relation.select:
            assert relation.market is not None
            admin_rows = who[PersonaKind.ADMIN].rows(
                f"select to_jsonb(v) from public.{relation.name} v"
            )
            assert {r[0][relation.market] for r in admin_rows} & world.drafts, relation.name


@pytest.mark.parametrize("relation", RELATIONS, ids=lambda r: r.name)
def test_every_view_shows_each_persona_exactly_its_scope(world: World, relation: Relation) -> None:
    conn = world.cast.conn
    for who in PERSONAS:
        caller = world.cast.who[who]
        scope = relation.scope(who)
        query = f"select to_jsonb(v) from public.{relation.name} v"
        if scope is Scope.DENIED:
            caller.denied(query)
            continue
        rows = ordered(r for (r,) in caller.rows(query))
        truth = as_superuser(conn, relation.name, caller.claims)
        hidden = {i for (i,) in conn.execute("select id from app.markets where status = 'draft'")}
        assert rows == matrix.in_scope(relation, scope, truth, hidden, str(caller.user_id)), who
        if scope is Scope.PUBLIC:
            assert {r[relation.market or ""] for r in rows} & world.drafts == set(), who
        elif scope is Scope.OWN:
            assert rows or who is PersonaKind.ADMIN, who


@pytest.mark.parametrize("relation", matrix.OWNED, ids=lambda r: r.name)
def test_the_other_bettor_finds_none_of_bettor_a_s_rows_by_user_id_or_row_id(
    world: World, relation: Relation
) -> None:
    a, b = world.cast.who[PersonaKind.BETTOR], world.cast.who[PersonaKind.OTHER]
    rows = as_superuser(world.cast.conn, relation.name, a.claims)
    mine = [r for r in rows if r[relation.owner or ""] == str(a.user_id)]
    assert mine, relation.name
    column = sql.Identifier(relation.owner or "")
    by_owner = sql.SQL("select to_jsonb(v) from public.{} v where v.{} = %s").format(
        sql.Identifier(relation.name), column
    )
    assert b.rows(by_owner.as_string(), [a.user_id]) == []
    ids = [r["id"] for r in mine if "id" in r]
    if ids:
        by_id = sql.SQL("select to_jsonb(v) from public.{} v where v.id = any(%s)").format(
            sql.Identifier(relation.name)
        )
        assert b.rows(by_id.as_string(), [ids]) == []


# writes ------------------------------------------------------------------------------------------


def test_no_persona_can_insert_update_or_delete_through_any_view(conn: Connection) -> None:
    """42501 wherever PostgreSQL could write through the view; the views it cannot write
    through at all refuse even earlier (55000, or 0A000 for a computed column)."""
    cast = Cast(conn)
    for relation in RELATIONS:
        name = f"public.{relation.name}"
        column = conn.execute(
            """select attname from pg_catalog.pg_attribute
               where attrelid = %s::regclass and attnum > 0 and attname <> 'id'
               order by attnum limit 1""",
            [name],
        ).fetchone()
        assert column is not None
        updatable = int(
            conn.execute("select pg_relation_is_updatable(%s::regclass, false)", [name]).fetchone()[
                0
            ]  # type: ignore[index]
        )
        target = sql.Identifier("public", relation.name)
        col = sql.Identifier(column[0])
        statements = (
            (8, sql.SQL("insert into {} default values").format(target)),
            (4, sql.SQL("update {} set {} = {}").format(target, col, col)),
            (16, sql.SQL("delete from {}").format(target)),
        )
        for who, caller in cast.who.items():
            for event, statement in statements:
                with pytest.raises(psycopg.Error) as caught, conn.transaction():
                    caller.rows(statement.as_string())
                expected = {"42501"} if updatable & event else {"42501", "55000", "0A000"}
                assert caught.value.sqlstate in expected, (relation.name, who, statement)


# a deleted user's claims ------------------------------------------------------------------------


def test_a_deleted_user_s_claims_are_refused_wherever_they_name_the_user(world: World) -> None:
    """auth.uid() refuses a `sub` whose user is deleted (unknown_user, PT401): every view that
    shows a user their own rows refuses, every user function too; what needs no identity reads
    as before, the public views as anonymous reads them."""
    conn, a = world.cast.conn, world.cast.who[PersonaKind.BETTOR]
    anonymous = world.cast.who[PersonaKind.ANONYMOUS]
    conn.execute("update auth.users set deleted_at = now() where id = %s", [a.user_id])
    for relation in RELATIONS:
        query = f"select to_jsonb(v) from public.{relation.name} v"
        scope = relation.scope(PersonaKind.BETTOR)
        if scope is Scope.OWN:
            with pytest.raises(psycopg.Error) as caught, conn.transaction():
                a.rows(query)
            assert (caught.value.sqlstate, caught.value.diag.message_primary) == (
                "PT401",
                "unknown_user",
            ), relation.name
        elif relation.scope(PersonaKind.ANONYMOUS) is not Scope.DENIED:
            assert ordered(a.rows(query)) == ordered(anonymous.rows(query)), relation.name
        else:
            assert a.rows(query) == [], relation.name
    for function in FUNCTIONS:
        if function.outcome(PersonaKind.BETTOR) is not Outcome.ALLOWED:
            continue
        with conn.transaction(force_rollback=True):
            arguments = prepare(function.name, world.cast.stage)
            try:
                answer = DbActor(a).call(function.name, **arguments)
            except Refused as refused:
                assert (refused.code, refused.key) == ("PT401", "unknown_user"), function.name
                continue
            # only what anonymous may call, and then exactly anonymous's answer
            assert function.outcome(PersonaKind.ANONYMOUS) is Outcome.ALLOWED, function.name
            assert answer == DbActor(anonymous).call(function.name, **arguments), function.name
