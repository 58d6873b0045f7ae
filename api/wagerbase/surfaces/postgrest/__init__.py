"""/rest/v1: the PostgREST subset the official Supabase clients use (SUPABASE_COMPAT.md 3 and 4;
docs/rest.md).

- routes.py: the handlers and the router, and what a request runs as (docstring there)
- reads.py: a read's headers, its one statement, and its answer
- calls.py: calling a function (a read, or a money call)
- transactions.py: a statement in the caller's transaction, or as a money call (money_calls.py)
- arguments.py: a call's arguments from a POST body or a query string, and their checks
- errors.py: PostgREST's error body, from every error the surface may meet
- grammar.py: PostgREST's filter grammar (`col=op.value`, `in.(..)`, `not.`, logic trees)
- query.py: a read's query string (`select`, filters, `order`, `limit`, `offset`)
- compiler.py: filters, `order` and `select` as SQL (identifiers from the catalog, values as
  placeholders)
- statements.py: the statements a read or a call becomes
- catalog.py (and catalog.sql): the views, functions and their types, kept per node and reloaded
"""
