"""/rest/v1: the PostgREST subset the official Supabase clients use (SUPABASE_COMPAT.md 3 and 4;
docs/rest.md).

- routes.py: the handlers and the router, and what a request runs as (docstring there)
- reads.py: a read's headers (JSON, one object, CSV; counts), its one statement, and its answer
- calls.py: calling a function (a read, or a money call)
- transactions.py: a statement in the caller's transaction, or as a money call (money_calls.py)
- arguments.py: a call's arguments from a POST body or a query string, and their checks
- errors.py: PostgREST's error body, from every error the surface may meet
- grammar.py: PostgREST's filter grammar (`col=op.value`, `in.(..)`, `not.`, logic trees,
  full-text search)
- query.py: a read's query string (filters, `order`, `limit`, `offset`, for the read and each
  resource it embeds); selects.py: `select` (columns and embedded resources); shapes.py: what
  they parse to
- compiler.py: filters, `order` and `select` as SQL (identifiers from the catalog, values as
  placeholders)
- statements.py: the statements a read or a call becomes; embedding.py: a read that embeds
  related views (embeds.py resolves them against the schema cache)
- catalog.py (and catalog.sql): the views, functions and their types, and the relationships
  between the views (relationships.py, from where the views' columns come from:
  view_origins.py), kept per node and reloaded
"""
