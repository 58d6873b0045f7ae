"""The matrix covers the catalog: every relation and function of schema `public` has exactly one
row in tests/attack/matrix.py (a new view or function fails here until its row is written), the
columns it names exist, and docs/reliability.md shows exactly its tables."""

from tests.attack.matrix import FUNCTIONS, RELATIONS, markdown
from tests.attack.matrix_arguments import PREPARE
from tests.pgserver import Connection
from tests.serving import REPO

BEGIN = "<!-- attack-matrix:begin (generated from tests/attack/matrix.py; do not edit by hand) -->"
END = "<!-- attack-matrix:end -->"


def test_every_relation_of_public_has_one_row_in_the_matrix(conn: Connection) -> None:
    catalog = sorted(
        name
        for (name,) in conn.execute(
            """select c.relname from pg_catalog.pg_class as c
               where c.relnamespace = 'public'::regnamespace
                 and c.relkind in ('r', 'p', 'v', 'm', 'f')"""
        )
    )
    written = [r.name for r in RELATIONS]
    assert len(written) == len(set(written))
    assert sorted(written) == catalog


def test_every_function_of_public_has_one_row_in_the_matrix(conn: Connection) -> None:
    catalog = sorted(
        name
        for (name,) in conn.execute(
            """select p.proname from pg_catalog.pg_proc as p
               where p.pronamespace = 'public'::regnamespace
                 and not exists (select 1 from pg_catalog.pg_depend as d
                                 where d.objid = p.oid and d.deptype = 'e')"""
        )
    )
    written = [f.name for f in FUNCTIONS]
    assert len(written) == len(set(written))
    assert sorted(written) == catalog  # an overload would appear twice here


def test_every_function_of_the_matrix_has_arguments_to_call_it_with() -> None:
    assert sorted(PREPARE) == sorted(f.name for f in FUNCTIONS)


def test_the_owner_and_market_columns_the_matrix_names_exist(conn: Connection) -> None:
    for relation in RELATIONS:
        columns = {
            name
            for (name,) in conn.execute(
                """select attname from pg_catalog.pg_attribute
                   where attrelid = %s::regclass and attnum > 0 and not attisdropped""",
                [f"public.{relation.name}"],
            )
        }
        for column in (relation.owner, relation.market):
            assert column is None or column in columns, (relation.name, column)


def test_the_docs_show_exactly_the_matrix() -> None:
    text = (REPO / "docs" / "reliability.md").read_text()
    assert text.count(BEGIN) == 1 and text.count(END) == 1
    shown = text.split(BEGIN, 1)[1].split(END, 1)[0]
    assert shown.strip("\n") == markdown().strip("\n")
