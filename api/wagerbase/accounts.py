"""Signing up, signing in and sessions, shared by every surface that offers them (GoTrue's
/auth/v1 and BetMarket's /api/auth). Refusals are ApiErrors with GoTrue's codes; a surface that
speaks another dialect maps them.

The rows are written by the private SQL functions of rpc/05_users.sql and rpc/06_sessions.sql,
reached through schema server's (rpc/95_server.sql, rpc/06_sessions.sql), the only ones the
node's own role may call; this module only hashes and checks passwords (argon2, through the
node's bounded Hashing) and makes tokens. Before any password is hashed, the database counts the
attempt against the client address's limit (sign-ins, sign-ups and refreshes, shared by every
node) and, for a sign-in, against the name's: a refused attempt costs one statement and no hash.

A sign-in whose name names nobody costs no hash either: it waits, without hashing, about as long
as checking a password would take now (Hashing.expected_seconds), and is refused like a wrong
password, or like one that finds the threads busy. A dummy hash would cost as much CPU as a real
one to hide whether a name exists, which sign-up tells anyway (user_already_exists, itself
limited per address); so a flood of made-up names takes no hashing thread from real users.

This module holds sign-up, sign-in, sessions and refresh; the rest of Accounts is in
account_changes.py (the user's own changes, updateUser) and account_admin.py (the service key's
admin API), on account_core.py (hashes, sessions, the address's limit); the refusals are in
account_refusals.py. The names other modules import from here stay importable from here.
"""

import asyncio
import json
import secrets
from dataclasses import asdict
from typing import Any

import psycopg

from wagerbase.account_admin import AdminAccounts
from wagerbase.account_changes import UserChanges
from wagerbase.account_core import (
    QUERIES,
    Counters,
    SignedIn,
    digest,
    hash_password,
    new_hashing,
    one,
    signed_in,
    verify,
)
from wagerbase.account_refusals import (
    MIN_PASSWORD,
    busy,
    invalid_input,
    refusal,
    session_refusal,
    too_many,
    weak_password,
)
from wagerbase.hashing import Busy
from wagerbase.tokens import Claims

__all__ = [
    "MIN_PASSWORD",
    "Accounts",
    "Counters",
    "SignedIn",
    "digest",
    "hash_password",
    "invalid_input",
    "new_hashing",
    "refusal",
    "too_many",
    "weak_password",
]


class Accounts(UserChanges, AdminAccounts):
    """One node's sign-ups, sign-ins and sessions; the user's own changes (UserChanges) and the
    admin API (AdminAccounts)."""

    async def sign_up(
        self,
        *,
        address: str,
        email: str | None,
        username: str | None,
        password: str,
        data: dict[str, Any] | None = None,
    ) -> SignedIn:
        """A new user (never an admin) and their first session; `data` is their user_metadata.
        Refusals: weak_password, validation_failed, over_request_rate_limit,
        user_already_exists."""
        weak = weak_password(password)
        if weak is not None:
            raise weak
        if not email and not username:
            raise refusal(400, "validation_failed", "An email or a username is required.")
        async with self.db.as_server() as conn:
            await self.within_limit(conn, "sign_up", address)
        password_hash = await self._hash(password)
        try:
            # the user and their first session in one transaction: never a user without a session
            async with self.db.as_server() as conn:
                row = await one(
                    conn,
                    QUERIES["create_user"],
                    {
                        "email": email,
                        "username": username,
                        "password_hash": password_hash,
                        "data": json.dumps(data or {}),
                    },
                )
                return await self.open_session(conn, str(row["id"]))
        except psycopg.Error as exc:
            if exc.diag.message_primary == "user_exists":
                raise refusal(422, "user_already_exists", "User already registered") from exc
            refused = invalid_input(exc)
            if refused is None:
                raise
            raise refused from exc

    async def sign_in_anonymously(self, *, address: str, data: dict[str, Any] | None) -> SignedIn:
        """A new anonymous user and their first session (supabase-js's signInAnonymously), while
        the setting anonymous_sign_ins is on, counted as a sign-up against the address's limit;
        `data` is their user_metadata. No password, so no hash. Refusals:
        anonymous_provider_disabled, validation_failed, over_request_rate_limit."""
        try:
            async with self.db.as_server() as conn:
                await self.within_limit(conn, "sign_up", address)
                row = await one(
                    conn, QUERIES["create_anonymous_user"], {"data": json.dumps(data or {})}
                )
                return await self.open_session(conn, str(row["id"]))
        except psycopg.Error as exc:
            if exc.diag.message_primary == "anonymous_sign_ins_disabled":
                raise refusal(
                    422, "anonymous_provider_disabled", "Anonymous sign-ins are disabled"
                ) from exc
            refused = invalid_input(exc)
            if refused is None:
                raise
            raise refused from exc

    async def sign_in(self, *, address: str, identifier: str, password: str) -> SignedIn:
        """A session for the user with this email or username and password, within the
        address's limit and `sign_in_limit` attempts a minute per name. Refusals:
        validation_failed, over_request_rate_limit, invalid_credentials."""
        identifier = identifier.strip()
        if not identifier or not password:
            raise refusal(
                400, "validation_failed", "An email (or username) and a password are required."
            )
        async with self.db.as_server() as conn:
            found = await one(
                conn,
                QUERIES["begin_sign_in"],
                {"address": address, "identifier": identifier, "limit": self.sign_in_limit},
            )
        if found["limited_by"] == "address":
            raise self._over_address_limit("sign_in", found["retry_after"])
        if found["limited_by"] == "identifier":
            self.counters.refused_name_limit += 1
            raise too_many("Too many sign-in attempts; wait a minute.", found["retry_after"])
        stored = found["password_hash"]
        if found["user_id"] is None or not stored:
            try:
                self.hashing.refuse_if_full()
            except Busy as exc:
                raise busy(exc) from None
            self.counters.unknown_names += 1
            await asyncio.sleep(self.hashing.expected_seconds())
            raise refusal(400, "invalid_credentials", "Invalid login credentials")
        try:
            verified = await self.hashing.run(lambda: verify(stored, password))
        except Busy as exc:
            raise busy(exc) from None
        if not verified:
            raise refusal(400, "invalid_credentials", "Invalid login credentials")
        async with self.db.as_server() as conn:
            return await self.open_session(conn, str(found["user_id"]))

    async def refresh(self, *, address: str, refresh_token: str) -> SignedIn:
        """Use up a refresh token for a new session token pair, within the address's limit; a
        token presented again within the reuse interval (10 s) refreshes again. Refusals:
        over_request_rate_limit, refresh_token_already_used (past the interval; it also ends the
        session), session_not_found (the session ended), refresh_token_not_found."""
        new_refresh = secrets.token_urlsafe(32)
        async with self.db.as_server() as conn:
            await self.within_limit(conn, "refresh", address)
            row = await one(
                conn,
                QUERIES["refresh_session"],
                {"refresh_digest": digest(refresh_token), "new_digest": digest(new_refresh)},
            )
        result = row["result"]
        if result["status"] == "refresh_token_already_used":
            raise refusal(400, "refresh_token_already_used", "Invalid Refresh Token: Already Used")
        if result["status"] == "session_not_found":  # GoTrue's words for a token without one
            raise refusal(400, "session_not_found", "Invalid Refresh Token: No Valid Session Found")
        if result["status"] != "ok":
            raise refusal(
                400, "refresh_token_not_found", "Invalid Refresh Token: Refresh Token Not Found"
            )
        return signed_in(
            self.tokens, result["user"], result["session_id"], new_refresh, row["acts_as_admin"]
        )

    async def sign_out(self, claims: Claims, scope: str) -> None:
        """End sessions of the token's user (scope local, others or global), if the token's own
        session is live. Refusals: user_not_found, session_not_found (403, as GoTrue)."""
        try:
            async with self.db.as_server() as conn:
                await conn.execute(QUERIES["check_session"], {"claims": json.dumps(claims)})
                await conn.execute(
                    QUERIES["end_sessions"],
                    {
                        "user_id": claims["sub"],
                        "session_id": claims.get("session_id"),
                        "scope": scope,
                    },
                )
        except psycopg.Error as exc:
            refused = session_refusal(exc)
            if refused is None:
                raise
            raise refused from exc

    async def end_session(self, claims: Claims) -> None:
        """End the token's own session, if it is still live (BetMarket's logout)."""
        session_id = claims.get("session_id")
        if session_id is None:
            return
        async with self.db.as_server() as conn:
            await conn.execute(
                QUERIES["end_sessions"],
                {"user_id": claims["sub"], "session_id": session_id, "scope": "local"},
            )

    async def user_json(self, claims: Claims) -> dict[str, Any]:
        """The GoTrue User object of the token's user, whose session must be live. Refusals:
        user_not_found, session_not_found (403, as GoTrue)."""
        try:
            async with self.db.as_server() as conn:
                row = await one(
                    conn,
                    QUERIES["user_json"],
                    {"claims": json.dumps(claims), "user_id": claims["sub"]},
                )
        except psycopg.Error as exc:
            refused = session_refusal(exc)
            if refused is None:
                raise
            raise refused from exc
        user: dict[str, Any] = row["user"]
        return user

    def snapshot(self) -> dict[str, int]:
        return {**asdict(self.counters), **self.hashing.snapshot()}
