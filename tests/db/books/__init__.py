"""The model of the books that tests/db/test_books_match_the_model.py drives a database against:
the markets, wagers, wallets, debts, proposals and limits the engine should hold, and the
hypothesis state machine's rules, one module per part of the engine (each a class the next one
builds on, so that a rule may use those of the parts before it)."""
