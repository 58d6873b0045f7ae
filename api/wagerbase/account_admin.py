"""GoTrue's admin API (supabase-js's auth.admin): list, get, create, update and delete users.
The route has checked the service key; these only call the server schema's admin functions."""

import json
from typing import Any

import psycopg

from wagerbase.account_core import AccountsBase, one
from wagerbase.account_refusals import invalid_input, refusal, weak_password
from wagerbase.sql_files import statements

QUERIES = statements(__package__, "account_admin.sql")


def _json_or_null(value: dict[str, Any] | None) -> str | None:
    """A JSON object as text for a jsonb argument, or None (SQL null: no change)."""
    return None if value is None else json.dumps(value)


class AdminAccounts(AccountsBase):
    """The admin_* methods, part of accounts.Accounts."""

    async def admin_list_users(self, page: int, per_page: int) -> dict[str, Any]:
        """{users, total}: page `page` of `per_page` users, newest first."""
        try:
            async with self.db.as_server() as conn:
                row = await one(
                    conn, QUERIES["admin_list_users"], {"page": page, "per_page": per_page}
                )
        except psycopg.Error as exc:
            refused = invalid_input(exc)
            if refused is None:
                raise
            raise refused from exc
        listed: dict[str, Any] = row["page"]
        return listed

    async def admin_get_user(self, user_id: str) -> dict[str, Any]:
        """The User with this id. Refusals: user_not_found (404)."""
        async with self.db.as_server() as conn:
            row = await one(conn, QUERIES["admin_get_user"], {"user_id": user_id})
        if row["user"] is None:
            raise refusal(404, "user_not_found", "User not found")
        user: dict[str, Any] = row["user"]
        return user

    async def _admin_password_hash(self, password: str | None) -> str | None:
        if password is None:
            return None
        weak = weak_password(password)
        if weak is not None:
            raise weak
        return await self._hash(password)

    async def admin_create_user(
        self,
        *,
        email: str | None,
        password: str | None,
        user_metadata: dict[str, Any] | None,
        app_metadata: dict[str, Any] | None,
    ) -> dict[str, Any]:
        """A new user, made by the service role (server.admin_create_user). Refusals:
        weak_password, validation_failed, email_exists."""
        password_hash = await self._admin_password_hash(password)
        return await self._admin_call(
            "admin_create_user",
            {
                "email": email,
                "password_hash": password_hash,
                "user_metadata": json.dumps(user_metadata or {}),
                "app_metadata": _json_or_null(app_metadata),
            },
        )

    async def admin_update_user(
        self,
        user_id: str,
        *,
        email: str | None,
        password: str | None,
        user_metadata: dict[str, Any] | None,
        app_metadata: dict[str, Any] | None,
    ) -> dict[str, Any]:
        """A user changed by the service role (server.admin_update_user). Refusals:
        weak_password, validation_failed, email_exists, user_not_found."""
        password_hash = await self._admin_password_hash(password)
        return await self._admin_call(
            "admin_update_user",
            {
                "user_id": user_id,
                "email": email or None,
                "password_hash": password_hash,
                "user_metadata": _json_or_null(user_metadata),
                "app_metadata": _json_or_null(app_metadata),
            },
        )

    async def admin_delete_user(self, user_id: str) -> None:
        """Delete a user softly (server.admin_delete_user). Refusals: user_not_found."""
        await self._admin_call("admin_delete_user", {"user_id": user_id})

    async def _admin_call(self, name: str, params: dict[str, Any]) -> dict[str, Any]:
        try:
            async with self.db.as_server() as conn:
                row = await one(conn, QUERIES[name], params)
        except psycopg.Error as exc:
            key = exc.diag.message_primary
            if key == "user_exists":
                message = "A user with this email address has already been registered"
                raise refusal(422, "email_exists", message) from exc
            if key == "user_not_found":
                raise refusal(404, "user_not_found", "User not found") from exc
            if key == "anonymous_user":
                message = "An anonymous user cannot have a password without an email"
                raise refusal(422, "validation_failed", message) from exc
            refused = invalid_input(exc)
            if refused is None:
                raise
            raise refused from exc
        user: dict[str, Any] = row["user"] or {}
        return user
