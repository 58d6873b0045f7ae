"""Code the tests share that is not a fixture: the model of the engine's documented formulas."""
