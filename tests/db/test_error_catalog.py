"""The error catalog is one list: docs/errors.md shows exactly app.error_catalog(), every key the
SQL raises is in it, every key in it is raised somewhere, and a refusal carries the catalog's
SQLSTATE and hint with a JSON detail."""

import json
import re
from pathlib import Path

from tests.db.personas import Persona
from tests.pgserver import Connection

ROOT = Path(__file__).resolve().parents[2]
SQL_FILES = sorted(
    [*ROOT.glob("migrations/*.sql"), *ROOT.glob("rpc/*.sql"), *ROOT.glob("sql/*.sql")]
)
# Raised directly, on purpose outside the catalog: _fail's own guard against a key missing from
# the catalog, and the 40001 that asks a caller to retry an idempotent call still in flight.
NOT_REFUSALS = {"unknown_error_key", "idempotency_key_in_flight"}


def documented_keys() -> list[tuple[str, str, int, str, str]]:
    """The rows of the "Keys" table in docs/errors.md."""
    text = (ROOT / "docs" / "errors.md").read_text()
    section = text.split("\n## Keys\n", 1)[1].split("\n## ", 1)[0]
    lines = [line for line in section.splitlines() if line.startswith("|")]
    header, rule, *rows = lines
    assert [c.strip() for c in header.strip("|").split("|")] == [
        "key",
        "SQLSTATE",
        "HTTP",
        "meaning",
        "what to do",
    ]
    assert set(rule) <= {"|", "-", " "}
    table = []
    for row in rows:
        key, sqlstate, http, meaning, hint = (c.strip() for c in row.strip("|").split("|"))
        table.append((key.strip("`"), sqlstate.strip("`"), int(http), meaning, hint))
    return table


def first_argument(text: str, start: int) -> str:
    """The SQL text of the first argument of the call whose '(' is at `start`."""
    depth, quoted, i = 0, False, start + 1
    while i < len(text):
        char = text[i]
        if quoted:
            if char == "'":
                quoted = False
        elif char == "'":
            quoted = True
        elif char == "(":
            depth += 1
        elif char == ")":
            if depth == 0:
                break
            depth -= 1
        elif char == "," and depth == 0:
            break
        i += 1
    return text[start + 1 : i]


def failed_keys() -> dict[str, set[str]]:
    """Every key passed to app._fail (or app._refusal, which makes the same refusal as a value),
    with the files it appears in (a key chosen by a CASE expression counts each key it can result
    in)."""
    keys: dict[str, set[str]] = {}
    for path in SQL_FILES:
        text = path.read_text()
        for call in re.finditer(r"(?<!function )app\._(?:fail|refusal)\(", text):
            argument = first_argument(text, call.end() - 1)
            if argument.strip().lower().startswith("case"):
                literals = re.findall(r"\b(?:then|else)\s+'([a-z_]+)'", argument)
            else:
                literals = re.findall(r"^\s*'([a-z_]+)'\s*$", argument)
            assert literals, f"{path.name}: app._fail({argument}...) names no literal key"
            for key in literals:
                keys.setdefault(key, set()).add(path.name)
    return keys


def raised_keys() -> dict[str, set[str]]:
    """Every key raised directly with `raise exception using ... message = '<key>'`."""
    keys: dict[str, set[str]] = {}
    for path in SQL_FILES:
        for key in re.findall(r"message\s*=\s*'([a-z_]+)'", path.read_text()):
            keys.setdefault(key, set()).add(path.name)
    return keys


def catalog(conn: Connection) -> list[tuple[str, str, int, str, str]]:
    return [
        (key, sqlstate, http, meaning, hint)
        for key, sqlstate, http, meaning, hint in conn.execute(
            "select key, sqlstate, http_status, meaning, hint from app.error_catalog()"
        ).fetchall()
    ]


def test_the_docs_table_equals_the_catalog_row_for_row(conn: Connection) -> None:
    assert documented_keys() == catalog(conn)


def test_every_catalog_key_is_unique_and_its_http_status_is_its_sqlstate(
    conn: Connection,
) -> None:
    rows = catalog(conn)
    assert len({key for key, *_ in rows}) == len(rows)
    for key, sqlstate, http, _meaning, _hint in rows:
        assert re.fullmatch(r"PT[45]\d\d", sqlstate), key
        assert http == int(sqlstate[2:]), key


def test_every_key_the_sql_raises_is_in_the_catalog(conn: Connection) -> None:
    known = {key for key, *_ in catalog(conn)}
    failed = failed_keys()
    assert {"insufficient_funds", "already_settled", "invalid_market_state"} <= set(failed)
    assert {k: v for k, v in failed.items() if k not in known} == {}
    raised = {k: v for k, v in raised_keys().items() if k not in NOT_REFUSALS}
    assert {"ledger_unbalanced", "ledger_append_only"} <= set(raised)
    assert {k: v for k, v in raised.items() if k not in known} == {}


def test_every_catalog_key_is_raised_somewhere(conn: Connection) -> None:
    raised = set(failed_keys()) | set(raised_keys())
    assert [key for key, *_ in catalog(conn) if key not in raised] == []


def test_every_key_a_public_function_says_it_raises_is_in_the_catalog(conn: Connection) -> None:
    known = {key for key, *_ in catalog(conn)}
    headers = 0
    for path in sorted(ROOT.glob("rpc/*.sql")):
        text = path.read_text()
        for match in re.finditer(
            r"((?:^--.*\n)+)create or replace function public\.(\w+)", text, re.MULTILINE
        ):
            comment, function = match.group(1), match.group(2)
            raises = re.search(r"^-- Raises: (.*(?:\n-- (?!\w+:).*)*)", comment, re.MULTILINE)
            assert raises, f"{function} has no Raises: line in its header"
            headers += 1
            listed = re.sub(r"\s*\n--\s*", " ", raises.group(1)).rstrip(".")
            if listed == "nothing":  # a function that refuses nobody says so
                continue
            keys = {re.sub(r"\s*\(.*\)", "", item).strip() for item in listed.split(",")}
            assert keys - known == set(), function
    assert headers >= 14


def test_a_refusal_carries_the_catalog_sqlstate_hint_and_a_json_detail(
    conn: Connection, bettor: Persona
) -> None:
    rows = {key: (sqlstate, hint) for key, sqlstate, _http, _meaning, hint in catalog(conn)}
    error = bettor.refused("insufficient_funds", "withdraw", amount=10001)
    assert (error.sqlstate, error.diag.message_hint) == rows["insufficient_funds"]
    assert json.loads(error.diag.message_detail or "") == {"balance": 10000, "amount": 10001}
    error = bettor.refused("invalid_amount", "deposit", amount=0)
    assert (error.sqlstate, error.diag.message_hint) == rows["invalid_amount"]
