"""Recovery and sign-in by email under attack: guessing mailed codes counts as sign-ins against
the client address's limit (30 per 5 minutes, as GoTrue's verify limit), so a guesser is stopped
and the right code still works from elsewhere; asking for mails counts as sign-ups against it,
whatever the addresses asked for; a mail server that hangs holds a request no longer than
WAGERBASE_SMTP_TIMEOUT, and its failure is GoTrue's unexpected_failure with 503, which keeps
nothing (the address may ask again at once)."""

from collections.abc import Iterator
from typing import Any

import httpx
import psycopg
import pytest

from tests.attack.abuse import own_node
from tests.attack.auth_client import PASSWORD, from_address, too_many
from tests.pgserver import PgServer
from tests.serving import Node
from tests.support.gotrue import DATED, error_code, error_message
from tests.support.smtp_sink import Sink, node_env, running_sink, silent_server

LIMIT = 30  # sign-ins (and sign-ups) per address per window, Supabase's default
GUESSER, OWNER = "10.77.0.1", "10.77.0.2"


@pytest.fixture(scope="module")
def sink_port() -> Iterator[tuple[Sink, int]]:
    with running_sink() as started:
        yield started


@pytest.fixture(scope="module")
def mail_node(
    pg_server: PgServer,
    template_db: str,
    sink_port: tuple[Sink, int],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Node]:
    """A node that mails through the sink, trusts 127.0.0.1 as a proxy (a test speaks for any
    client address) and has the default limits per address."""
    env = node_env(
        sink_port[1], WAGERBASE_TRUSTED_PROXIES="127.0.0.1", WAGERBASE_SMTP_MAX_FREQUENCY=0
    )
    with own_node(pg_server, template_db, tmp_path_factory.mktemp("mail-abuse"), env) as node:
        with psycopg.connect(node.database_url, autocommit=True) as conn:
            conn.execute(
                "update app.config set sign_in_limit_per_address = default, "
                "sign_up_limit_per_address = default"
            )
        yield node


@pytest.fixture(scope="module")
def hung_node(
    pg_server: PgServer, template_db: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Node]:
    """A node whose mail server accepts connections and never answers; a mail may take 1 s."""
    with silent_server() as port:
        env = node_env(port, WAGERBASE_SMTP_TIMEOUT=1)
        with own_node(pg_server, template_db, tmp_path_factory.mktemp("mail-hung"), env) as node:
            yield node


def post(node: Node, path: str, body: Any, address: str | None = None) -> httpx.Response:
    headers = {"apikey": node.anon_key, **DATED, **(from_address(address) if address else {})}
    return httpx.post(f"{node.url}/auth/v1/{path}", json=body, headers=headers, timeout=120)


def test_guessing_codes_stops_at_the_address_limit_and_the_right_code_still_works(
    mail_node: Node, sink_port: tuple[Sink, int]
) -> None:
    sink = sink_port[0]
    email = "victim.guess@example.test"
    signed_up = post(mail_node, "signup", {"email": email, "password": PASSWORD}, OWNER)
    assert signed_up.status_code == 200, signed_up.text
    assert post(mail_node, "recover", {"email": email}, OWNER).status_code == 200
    code = sink.only_mail_to(email).code
    guesses = [f"{(int(code) + n) % 1_000_000:06d}" for n in range(1, LIMIT + 1)]
    for guess in guesses:
        answer = post(
            mail_node, "verify", {"type": "recovery", "email": email, "token": guess}, GUESSER
        )
        assert (answer.status_code, error_code(answer)) == (403, "otp_expired"), answer.text
    right = {"type": "recovery", "email": email, "token": code}
    too_many(post(mail_node, "verify", right, GUESSER))  # even the right code, from there
    answer = post(mail_node, "verify", right, OWNER)
    assert answer.status_code == 200, answer.text


def test_asking_for_mails_counts_against_the_address_whatever_the_addresses(
    mail_node: Node, sink_port: tuple[Sink, int]
) -> None:
    sink, asker = sink_port[0], "10.77.0.3"
    emails = [f"nobody{n}.flood@example.test" for n in range(LIMIT + 1)]
    answers = [post(mail_node, "recover", {"email": e}, asker) for e in emails[:LIMIT]]
    assert [a.status_code for a in answers] == [200] * LIMIT
    too_many(post(mail_node, "otp", {"email": emails[LIMIT]}, asker))
    assert sink.sent_to(emails[LIMIT]) == []
    assert post(mail_node, "otp", {"email": emails[LIMIT]}, "10.77.0.4").status_code == 200
    assert len(sink.sent_to(emails[LIMIT])) == 1


def test_a_hung_mail_server_holds_a_request_no_longer_than_the_timeout(hung_node: Node) -> None:
    email = "hung@example.test"
    signed_up = post(hung_node, "signup", {"email": email, "password": PASSWORD})
    assert signed_up.status_code == 200, signed_up.text
    for path, kind in (("recover", "recovery"), ("recover", "recovery"), ("otp", "magic link")):
        answer = post(hung_node, path, {"email": email})
        # the failed mail kept nothing: asking again is not over_email_send_rate_limit
        assert (answer.status_code, error_code(answer)) == (503, "unexpected_failure")
        assert error_message(answer) == (
            f"Error sending {kind} email: the mail server did not answer within 1 s"
        )
        assert int(answer.headers["retry-after"]) >= 1
    assert httpx.get(f"{hung_node.url}/health", timeout=60).status_code == 200
