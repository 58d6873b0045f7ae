"""The loader of the `.sql` files beside the surfaces' modules (wagerbase.sql_files): each named
statement is its own text, and a file it cannot read whole is refused when it is loaded."""

import pytest

from wagerbase.sql_files import SqlFileError, parse

TWO = """-- name: game
-- One game, by id.
select id from public.markets where id = %(game_id)s

-- name: games
select id from public.markets
order by id desc
"""


def test_each_statement_runs_to_the_next_name() -> None:
    found = parse(TWO, "two.sql")
    assert dict(found) == {
        "game": "-- One game, by id.\nselect id from public.markets where id = %(game_id)s\n",
        "games": "select id from public.markets\norder by id desc\n",
    }


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("select 1\n", "no `-- name:` line"),
        ("select 1\n-- name: one\nselect 1\n", "text before the first"),
        ("-- name: one\nselect 1\n-- name: one\nselect 2\n", "one is named twice"),
        ("-- name: one\n\n-- name: two\nselect 2\n", "one is empty"),
    ],
)
def test_a_file_that_cannot_be_read_whole_is_refused(text: str, why: str) -> None:
    with pytest.raises(SqlFileError, match=why):
        parse(text, "bad.sql")
