"""The user's own changes (GoTrue's PUT /user, supabase-js's updateUser): a new email, a new
password and user_metadata, by the user whose token it is while its session is live."""

import json
from typing import Any

import psycopg

from wagerbase.account_core import AccountsBase, one, verify
from wagerbase.account_refusals import busy, invalid_input, refusal, session_refusal, weak_password
from wagerbase.hashing import Busy
from wagerbase.sql_files import statements
from wagerbase.tokens import Claims

QUERIES = statements(__package__, "account_changes.sql")


class UserChanges(AccountsBase):
    """update_user, part of accounts.Accounts."""

    async def update_user(
        self,
        claims: Claims,
        *,
        address: str,
        email: str | None,
        password: str | None,
        data: dict[str, Any] | None,
    ) -> dict[str, Any]:
        """GoTrue's PUT /user for the token's user, whose session must be live: a new email
        (stored at once), a new password (hashed here; the user's other sessions end) and
        `data` merged into user_metadata, in one call of server.update_user. A new password is
        first checked against the old one (GoTrue's same_password), and counts as a sign-in
        against the address's limit: it costs two hashes. Returns the user's GoTrue JSON.
        Refusals: weak_password, same_password, over_request_rate_limit, validation_failed,
        email_exists, user_not_found, session_not_found."""
        password_hash = None
        try:
            if password is not None:
                weak = weak_password(password)
                if weak is not None:
                    raise weak
                async with self.db.as_server() as conn:
                    await self.within_limit(conn, "sign_in", address)
                    row = await one(
                        conn, QUERIES["current_password_hash"], {"claims": json.dumps(claims)}
                    )
                stored = row["hash"]
                if stored:
                    try:
                        same = await self.hashing.run(lambda: verify(stored, password))
                    except Busy as exc:
                        raise busy(exc) from None
                    if same:
                        raise refusal(
                            422,
                            "same_password",
                            "New password should be different from the old password.",
                        )
                password_hash = await self._hash(password)
            async with self.db.as_server() as conn:
                row = await one(
                    conn,
                    QUERIES["update_user"],
                    {
                        "claims": json.dumps(claims),
                        "email": email or None,
                        "password_hash": password_hash,
                        "data": None if data is None else json.dumps(data),
                    },
                )
        except psycopg.Error as exc:
            key = exc.diag.message_primary
            if key == "user_exists":
                message = "A user with this email address has already been registered"
                raise refusal(422, "email_exists", message) from exc
            if key == "anonymous_user":
                message = (
                    "Updating password of an anonymous user without an email or phone is not "
                    "allowed"
                )
                raise refusal(422, "validation_failed", message) from exc
            refused = session_refusal(exc) or invalid_input(exc)
            if refused is None:
                raise
            raise refused from exc
        user: dict[str, Any] = row["user"]
        return user
