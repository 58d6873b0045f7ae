"""The `wagerbase` command's data commands against a migrated copy: seed-demo, users, db check."""

import io
import sys
from collections.abc import Callable

import psycopg
import pytest

from tests.db.invariants import assert_invariants
from wagerbase.operations.cli import main
from wagerbase.operations.invariants import NAMES


@pytest.fixture
def database(fresh_db: Callable[[], str], monkeypatch: pytest.MonkeyPatch) -> str:
    url = fresh_db()
    monkeypatch.setenv("DATABASE_URL", url)
    return url


def test_seed_demo_loads_both_kinds_once(database: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["seed-demo"]) == 0
    assert main(["seed-demo"]) == 0
    with psycopg.connect(database) as conn:
        kinds = conn.execute(
            "select kind, count(*) from app.markets where status = 'open'"
            " group by kind order by kind"
        ).fetchall()
        assert kinds == [("fixed_odds", 3), ("parimutuel", 2)]
        admins = conn.execute(
            "select count(*) from auth.users where raw_app_meta_data ->> 'role' = 'admin'"
        ).fetchone()
        assert admins == (1,)
        assert conn.execute("select count(*) from app.wagers").fetchone() == (11,)
        assert conn.execute(
            "select count(*) from app.wagers where approval = 'pending'"
        ).fetchone() == (1,)
        assert_invariants(conn)
    assert "exists" in capsys.readouterr().out


def test_users_create_then_promote_and_demote(
    database: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO("correct horse battery\n"))
    assert main(["migrate"]) == 0
    assert main(["users", "create", "dora", "--email", "dora@example.test"]) == 0

    def role() -> str | None:
        with psycopg.connect(database) as conn:
            row = conn.execute(
                "select raw_app_meta_data ->> 'role' from auth.users where email = %s",
                ["dora@example.test"],
            ).fetchone()
            assert row is not None
            found: str | None = row[0]
            return found

    assert role() is None
    assert main(["users", "promote", "dora"]) == 0
    assert role() == "admin"
    assert main(["users", "demote", "dora@example.test"]) == 0
    assert role() is None

    assert main(["users", "promote", "nobody"]) == 1
    assert "user_not_found" in capsys.readouterr().err


def test_users_create_refuses_a_taken_name(
    database: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["migrate"]) == 0
    monkeypatch.setattr(sys, "stdin", io.StringIO("first password\n"))
    assert main(["users", "create", "erin"]) == 0
    monkeypatch.setattr(sys, "stdin", io.StringIO("second password\n"))
    assert main(["users", "create", "ERIN"]) == 1
    assert "user_exists" in capsys.readouterr().err


def test_users_sign_out_ends_every_session_and_logs_it(
    database: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with psycopg.connect(database) as conn:
        user = conn.execute("select app._create_user(null, 'fay', 'not a hash')").fetchone()
        assert user is not None
        start = "select app._start_session(%s, gen_random_uuid(), %s)"
        for session in range(2):
            conn.execute(start, [user[0], f"digest {session}"])
    assert main(["users", "sign-out", "FAY", "--reason", "lost her phone"]) == 0
    assert "2 sessions ended" in capsys.readouterr().out
    with psycopg.connect(database) as conn:
        ended = conn.execute(
            "select count(*) filter (where ended_reason = 'revoked'), count(*) from app.sessions"
            " where user_id = %s",
            [user[0]],
        ).fetchone()
        assert ended == (2, 2)
        logged = conn.execute(
            "select reason, after from app.admin_actions where action = 'revoke_sessions'"
        ).fetchall()
        assert logged == [("lost her phone", {"user_id": str(user[0]), "live_sessions": 0})]
    assert main(["users", "sign-out", "nobody"]) == 1
    assert "user_not_found" in capsys.readouterr().err


def test_db_check_passes_on_a_sound_database_and_names_what_is_broken(
    database: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["seed-demo"]) == 0
    capsys.readouterr()
    assert main(["db", "check"]) == 0
    assert f"all {len(NAMES)} invariants hold" in capsys.readouterr().out

    with psycopg.connect(database) as conn:  # a wallet whose cached balance lies
        conn.execute(
            "update app.accounts set balance = balance + 1"
            " where id = (select min(id) from app.accounts where kind = 'user')"
        )
    assert main(["db", "check"]) == 1
    out = capsys.readouterr().out
    assert "BROKEN: cached balance differs from entries: 1 row(s)" in out
    assert f"1 of {len(NAMES)} invariants broken" in out


def test_settings_show_set_and_profile_go_through_update_settings(
    database: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["migrate"]) == 0
    capsys.readouterr()
    assert main(["settings", "show"]) == 0
    shown = capsys.readouterr().out.splitlines()
    assert "self_service_deposits=true" in shown
    assert "withdrawals_require_approval=false" in shown
    assert "initial_balance=10000" in shown

    assert main(["settings", "profile", "real-money"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert {"initial_balance=0", "self_service_deposits=false"} <= set(out)
    assert main(["settings", "set", "max_deposit=50000", "withdrawals_require_approval=false"]) == 0
    capsys.readouterr()
    with psycopg.connect(database) as conn:
        row = conn.execute(
            "select initial_balance, max_deposit, self_service_deposits,"
            " withdrawals_require_approval from app.config"
        ).fetchone()
        assert row == (0, 50000, False, False)
        logged = conn.execute(
            "select actor, actor_role from app.admin_actions where action = 'update_settings'"
        ).fetchall()
        assert logged == [(None, "service_role"), (None, "service_role")]

    # refused by the database, with its key; nothing changes
    assert main(["settings", "set", "initial_balance=-5"]) == 1
    assert "invalid_argument" in capsys.readouterr().err
    assert main(["settings", "set", "free_money=true"]) == 1
    assert "unknown setting" in capsys.readouterr().err
    assert main(["settings", "set", "initial_balance"]) == 2
    assert main(["settings", "profile", "play-money"]) == 0
    with psycopg.connect(database) as conn:
        row = conn.execute(
            "select initial_balance, max_deposit, self_service_deposits,"
            " withdrawals_require_approval from app.config"
        ).fetchone()
        assert row == (10000, 50000, True, False)


def test_supabase_check_says_the_checkout_s_project_is_current(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["supabase", "--check"]) == 0
    assert capsys.readouterr().out == "supabase/ is current\n"
