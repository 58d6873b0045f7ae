"""What the guards of library_patches read of a library's code: the names a function's code uses
(the attributes it reads or sets), to tell that a library's private part is still there and still
read where Wagerbase relies on it."""

from __future__ import annotations

from collections.abc import Sequence


def sets(function: object, names: Sequence[str]) -> bool:
    """Whether the code of `function` names each of `names` (the attributes it reads or sets)."""
    code = getattr(function, "__code__", None)
    return code is not None and set(names) <= set(code.co_names)


def init_sets(cls: type, names: Sequence[str]) -> bool:
    """Whether the `__init__` of `cls` (its own or inherited) names each of `names`."""
    return sets(getattr(cls, "__init__", None), names)
