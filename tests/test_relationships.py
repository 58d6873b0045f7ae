"""The relationships resource embedding follows (surfaces/postgrest/relationships.py), inferred
from foreign keys and from where each column of a view comes from (view_origins.py), on a
schema of their own made in a rolled-back transaction; and the choice an embedded resource
makes among them (`find`), with PostgREST's errors."""

from typing import Any

import pytest
from psycopg.rows import dict_row

from tests.pgserver import Connection
from wagerbase.errors import ApiError
from wagerbase.surfaces.postgrest.catalog import QUERIES
from wagerbase.surfaces.postgrest.relationships import (
    Exposed,
    ForeignKey,
    Relationship,
    find,
    infer,
)
from wagerbase.surfaces.postgrest.view_origins import target_origins

SCHEMA = """
create schema rel_base;
create schema rel_api;
create table rel_base.teams (id bigint primary key, name text not null);
create table rel_base.players (
    id bigint primary key,
    team_id bigint not null references rel_base.teams (id),
    captain_of bigint references rel_base.teams (id),
    mentor_id bigint references rel_base.players (id),
    name text not null
);
create table rel_base.kits (
    team_id bigint primary key references rel_base.teams (id),
    colour text
);
-- a view of a view in a schema that is not exposed, through a CTE, as app.outcome_quotes
create view rel_base.player_cards as
with named as (select p.id, p.team_id, p.name, upper(p.name) as shout from rel_base.players as p)
select n.id as player_id, n.team_id, n.name, n.shout from named as n;
create view rel_api.teams as select t.id, t.name from rel_base.teams as t;
create view rel_api.players as
select c.player_id as id, c.team_id, c.name, c.shout, c.team_id + 0 as computed_team
from rel_base.player_cards as c;
create view rel_api.squad as
select p.id, p.captain_of, p.team_id, p.mentor_id from rel_base.players as p;
create view rel_api.kits as select k.team_id, k.colour from rel_base.kits as k;
create view rel_api.names_only as select t.name from rel_base.teams as t;
"""


def _relationships(conn: Connection) -> dict[str, list[Relationship]]:
    """The relationships of schema rel_api, read as the schema cache reads them."""
    conn.execute(SCHEMA)
    with conn.cursor(row_factory=dict_row) as cur:
        relations = cur.execute(QUERIES["relations"], {"schema": "rel_api"}).fetchall()
        keys = cur.execute(QUERIES["foreign_keys"]).fetchall()
        views = cur.execute(QUERIES["view_definitions"], {"schema": "rel_api"}).fetchall()
    exposed = [
        Exposed(r["name"], r["oid"], r["kind"] in ("v", "m"), {c[3]: c[0] for c in r["columns"]})
        for r in relations
    ]
    foreign = [
        ForeignKey(
            k["name"],
            k["table_oid"],
            tuple(k["columns"]),
            k["foreign_oid"],
            tuple(k["foreign_columns"]),
            k["one_to_one"],
        )
        for k in keys
    ]
    return infer(exposed, foreign, {v["oid"]: v["definition"] for v in views})


def _listed(related: dict[str, list[Relationship]], origin: str) -> set[tuple[str, ...]]:
    return {
        (r.target, r.cardinality, r.constraint, *[f"{o}={t}" for o, t in r.columns])
        for r in related.get(origin, [])
    }


def test_views_stand_for_the_tables_their_columns_come_from(conn: Connection) -> None:
    related = _relationships(conn)
    # through a view of a view in another schema, and a CTE in it
    assert (
        "teams",
        "many-to-one",
        "players_team_id_fkey",
        "team_id=id",
    ) in _listed(related, "players")
    assert (
        "players",
        "one-to-many",
        "players_team_id_fkey",
        "id=team_id",
    ) in _listed(related, "teams")
    # a computed column (team_id + 0) comes from no table column: no relationship through it
    assert not any("computed_team" in str(r.columns) for r in related["players"])
    # a key that is also the primary key: one-to-one, both ways
    assert ("kits", "one-to-one", "kits_team_id_fkey", "id=team_id") in _listed(related, "teams")
    assert ("teams", "one-to-one", "kits_team_id_fkey", "team_id=id") in _listed(related, "kits")
    # a view without the key's columns has none
    assert "names_only" not in related


def test_one_name_two_keys_is_ambiguous_until_a_hint_names_one(conn: Connection) -> None:
    related = _relationships(conn)
    with pytest.raises(ApiError) as ambiguous:
        find(related, "rel_api", "teams", "squad", None)
    error = ambiguous.value
    assert (error.status, error.code) == (300, "PGRST201")
    assert error.message == (
        "Could not embed because more than one relationship was found for 'teams' and 'squad'"
    )
    assert error.hint is not None and "'squad!players_team_id_fkey'" in error.hint
    details: list[dict[str, Any]] = error.details
    assert {
        "cardinality": "one-to-many",
        "embedding": "teams with squad",
        "relationship": "players_captain_of_fkey using teams(id) and squad(captain_of)",
    } in details
    # a hint names the key, or one of its columns (theirs or the origin's)
    assert find(related, "rel_api", "teams", "squad", "captain_of").constraint == (
        "players_captain_of_fkey"
    )
    chosen = find(related, "rel_api", "teams", "squad", "players_team_id_fkey")
    assert (chosen.cardinality, chosen.columns) == ("one-to-many", (("id", "team_id"),))


def test_a_self_relationship_is_one_to_many_by_name_and_many_to_one_by_column(
    conn: Connection,
) -> None:
    related = _relationships(conn)
    children = find(related, "rel_api", "squad", "squad", None)
    assert (children.cardinality, children.columns) == ("one-to-many", (("id", "mentor_id"),))
    mentor = find(related, "rel_api", "squad", "mentor_id", None)
    assert (mentor.cardinality, mentor.columns) == ("many-to-one", (("mentor_id", "id"),))


def test_no_relationship_is_pgrst200_with_a_close_name(conn: Connection) -> None:
    related = _relationships(conn)
    with pytest.raises(ApiError) as missing:
        find(related, "rel_api", "teams", "player", None)
    error = missing.value
    assert (error.status, error.code) == (400, "PGRST200")
    assert error.details == (
        "Searched for a foreign key relationship between 'teams' and 'player' in the schema "
        "'rel_api', but no matches were found."
    )
    assert error.hint == "Perhaps you meant 'players' instead of 'player'."
    with pytest.raises(ApiError) as hinted:
        find(related, "rel_api", "teams", "players", "nope")
    assert "using the hint 'nope'" in str(hinted.value.details)


def test_the_reader_skips_what_it_does_not_need() -> None:
    """A datum's bytes, nulls and escaped characters do not derail the target list."""
    tree = (
        r"({QUERY :commandType 1 :rtable ({RTE :alias <> :eref {ALIAS :aliasname a\ b"
        r' :colnames ("x\(y" "")}}) :targetList ({TARGETENTRY :expr {CONST :consttype 23'
        r" :constvalue 4 [ 1 0 0 0 0 0 0 0 ]} :resno 1 :resname \:odd :ressortgroupref 0"
        r" :resorigtbl 0 :resorigcol 0 :resjunk false} {TARGETENTRY :expr {VAR :varno 1}"
        r" :resno 2 :resname b :ressortgroupref 0 :resorigtbl 16400 :resorigcol 3"
        r" :resjunk false} {TARGETENTRY :expr {VAR :varno 1} :resno 3 :resname <>"
        r" :ressortgroupref 1 :resorigtbl 16400 :resorigcol 1 :resjunk true}) :onConflict <>})"
    )
    assert target_origins(tree) == {2: (16400, 3)}
