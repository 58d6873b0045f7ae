"""Code the tests share: the model of the engine's documented formulas, what the GoTrue tests
share, a user signed up through the official supabase client (supabase_users.py), and the
fixtures of a `wagerbase serve` node that tests/api and tests/attack import (node_fixtures.py)."""
