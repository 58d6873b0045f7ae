"""One PostgREST filter grammar and one compiler for both surfaces that filter: /rest/v1's query
strings and the `filter` of a Realtime postgres_changes binding (surfaces/postgrest/grammar.py,
compiler.py). Realtime once read its filters with a grammar of its own; each case below is one
where the two disagreed, now read as PostgREST documents it (URL grammar, "Reserved
characters"): a binding's clauses are read as the items of a logic tree are, and values are cast
to the column's type without its modifier. The end-to-end checks of the same cases are in
tests/live/test_realtime_joins.py."""

import pytest

from wagerbase.surfaces.postgrest.catalog import Column
from wagerbase.surfaces.postgrest.compiler import Params, condition_sql
from wagerbase.surfaces.postgrest.grammar import Condition, GrammarError, parse_logic_body
from wagerbase.surfaces.realtime.bindings import BindingError, compile_filter, parse_filter

ODDS = Column("odds", "pg_catalog", "numeric")  # numeric(24,4) in app.wagers: the modifier drops


def as_rest(item: str) -> Condition:
    """What /rest/v1 reads for the same clause as the only item of `and=(..)`."""
    (condition,) = parse_logic_body(f"({item})", "and", 1)
    assert isinstance(condition, Condition)
    return condition


@pytest.mark.parametrize(
    ("binding", "rest", "expected"),
    [
        # a double-quoted value is unquoted (Realtime kept the quotes: it could never match)
        ('title=eq."Derby, North"', 'title.eq."Derby, North"', "Derby, North"),
        # inside quotes a backslash escapes any character (Realtime unescaped only \", and its
        # split took an escaped quote for the end of the value)
        (r'title=eq."a\"b\\c"', r'title.eq."a\"b\\c"', 'a"b\\c'),
        (r'title=in.("a\",b","c\\d")', r'title.in.("a\",b","c\\d")', ('a",b', "c\\d")),
        # an empty list element is kept (Realtime dropped it)
        ("stake=in.(1,,2)", "stake.in.(1,,2)", ("1", "", "2")),
    ],
)
def test_a_binding_reads_its_clauses_as_rest_reads_a_logic_tree(
    binding: str, rest: str, expected: str | tuple[str, ...]
) -> None:
    (condition,) = parse_filter(binding)
    assert condition.value == expected
    assert condition == as_rest(rest)


def test_a_binding_may_name_a_double_quoted_column() -> None:
    """Realtime took only bare names; PostgREST quotes a column that holds a reserved character."""
    assert parse_filter('"market_id"=eq.3,position=not.eq.2') == (
        Condition("market_id", "eq", "3"),
        Condition("position", "eq", "2", negated=True),
    )


def test_unbalanced_parentheses_are_refused_not_read_as_a_value() -> None:
    """Realtime took `a)b` as a value; PostgREST refuses it (quote it: `title=eq."a)b"`)."""
    with pytest.raises(BindingError, match="unbalanced parentheses"):
        parse_filter("title=eq.a)b")
    with pytest.raises(GrammarError) as refused:
        parse_logic_body("(title.eq.a)b)", "and", 1)
    assert "unbalanced parentheses" in refused.value.message
    (quoted,) = parse_filter('title=eq."a)b"')
    assert quoted.value == "a)b"


def test_realtime_keeps_its_operators_and_messages() -> None:
    with pytest.raises(BindingError, match="filter operator 'match' is not supported"):
        parse_filter("title=match.((")
    with pytest.raises(BindingError, match="filter operator 'like' is not supported"):
        parse_filter("title=like(any).{a*}")
    with pytest.raises(BindingError, match=r"is not col=op\.value"):
        parse_filter("market_id")
    with pytest.raises(BindingError, match="at most 100"):
        parse_filter(f"id=in.({','.join(map(str, range(101)))})")
    # full-text search is /rest/v1's: a binding refuses it as any operator Realtime lacks
    for text in ("title=fts.derby", "title=wfts(english).derby", "title=not.plfts.a b"):
        with pytest.raises(BindingError, match=r"filter operator '[a-z]*fts' is not supported"):
            parse_filter(text)


def test_full_text_search_compiles_to_a_tsvector_match_on_rest() -> None:
    """`col=fts(config).query`: the column's text against the operator's tsquery function, the
    configuration (a placeholder, as every value) on both sides."""
    title = Column("title", "pg_catalog", "text")
    params = Params()
    english = condition_sql(as_rest("title.wfts(english).derby -cup"), title, params)
    assert english.as_string() == (
        'pg_catalog.to_tsvector(%(p1)s::"pg_catalog"."regconfig", "pgrst_source"."title"::'
        '"pg_catalog"."text") @@ "pg_catalog"."websearch_to_tsquery"(%(p3)s::'
        '"pg_catalog"."regconfig", %(p2)s::"pg_catalog"."text")'
    )
    assert params.values == {"p1": "english", "p2": "derby -cup", "p3": "english"}
    plain = condition_sql(as_rest("title.not.plfts.a b"), title, Params())
    assert plain.as_string() == (
        'not (pg_catalog.to_tsvector("pgrst_source"."title"::"pg_catalog"."text") @@ '
        '"pg_catalog"."plainto_tsquery"(%(p1)s::"pg_catalog"."text"))'
    )


def test_values_are_cast_to_the_type_without_its_modifier_on_both_surfaces() -> None:
    """Realtime cast to pg_catalog.format_type (`numeric(24,4)`), so `odds=eq.1.23456` matched
    odds of 1.2346 and a bound past 10^20 was refused as an overflow; /rest/v1 compares with the
    value as given, and now Realtime does too: the same compiler, its row `v`, `%s` placeholders."""
    (clause,) = parse_filter("odds=eq.1.23456")
    compiled, probes = compile_filter("odds=eq.1.23456", (clause,), {"odds": ODDS}, "wagers")
    assert compiled.expression.as_string() == (
        'coalesce(("v"."odds" = %s::"pg_catalog"."numeric"), false)'
    )
    assert compiled.params == ("1.23456",)
    assert [probe.statement.as_string() for probe in probes] == [
        'select %s::"pg_catalog"."numeric"'
    ]
    params = Params()
    rest = condition_sql(as_rest("odds.eq.1.23456"), ODDS, params)
    assert rest.as_string() == '"pgrst_source"."odds" = %(p1)s::"pg_catalog"."numeric"'
    assert params.values == {"p1": "1.23456"}


def test_a_value_text_cannot_hold_is_refused_at_the_join() -> None:
    """As /rest/v1 refuses it (22021), before any statement: a NUL or an unpaired surrogate."""
    for value in ("a\x00b", "\ud800"):
        (clause,) = parse_filter(f"title=eq.{value}")
        column = Column("title", "pg_catalog", "text")
        with pytest.raises(BindingError, match="bad filter value"):
            compile_filter("f", (clause,), {"title": column}, "markets")
