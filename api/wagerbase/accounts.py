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
"""

import asyncio
import hashlib
import json
import secrets
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import psycopg
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from wagerbase.database import Conn, Database
from wagerbase.errors import ApiError
from wagerbase.hashing import Busy, Hashing, for_worker
from wagerbase.sql_files import statements
from wagerbase.tokens import Claims, Tokens

QUERIES = statements(__package__, "accounts.sql")

MIN_PASSWORD = 8
_hasher = PasswordHasher()

Action = Literal["sign_in", "sign_up", "refresh"]
_ACTIONS: dict[Action, str] = {
    "sign_in": "sign-ins",
    "sign_up": "sign-ups",
    "refresh": "token refreshes",
}


def hash_password(password: str) -> str:
    """An argon2 hash: the one way Wagerbase stores a password (sign-up, the CLI)."""
    return _hasher.hash(password)


def _seconds_per_hash() -> float:
    """How long one hash takes on this machine: the first guess of Hashing.typical_seconds."""
    started = time.perf_counter()
    hash_password(secrets.token_urlsafe(16))
    return time.perf_counter() - started


def new_hashing(workers: int = 1) -> Hashing:
    """This process's hashing threads and queue: the node's (WAGERBASE_HASH_THREADS,
    WAGERBASE_HASH_QUEUE), divided among its `workers` processes (hashing.for_worker)."""
    threads, queue = for_worker(workers)
    return Hashing(threads, queue, _seconds_per_hash())


def _verify(stored: str, password: str) -> bool:
    try:
        return bool(_hasher.verify(stored, password))
    except (VerificationError, InvalidHashError):
        return False


@dataclass(frozen=True)
class SignedIn:
    """A new session: the user's GoTrue JSON, an access token and a refresh token."""

    user: dict[str, Any]
    session_id: str
    access_token: str
    expires_at: int
    refresh_token: str


@dataclass
class Counters:
    """Refusals before any hash (shown in /health with the hashing's own counts)."""

    refused_address_limit: int = 0  # a client address over its limit
    refused_name_limit: int = 0  # a name over the sign-in limit
    unknown_names: int = 0  # sign-ins answered without a hash: the name names nobody


def refusal(status: int, code: str, message: str) -> ApiError:
    return ApiError(status=status, code=code, message=message)


def too_many(message: str, retry_after: int) -> ApiError:
    return ApiError(
        status=429,
        code="over_request_rate_limit",
        message=message,
        headers={"Retry-After": str(retry_after)},
    )


def _busy(exc: Busy) -> ApiError:
    return too_many(
        f"Too many passwords are being checked now; try again in {exc.retry_after} s.",
        exc.retry_after,
    )


def digest(refresh_token: str) -> str:
    return hashlib.sha256(refresh_token.encode()).hexdigest()


def _signed_in(tokens: Tokens, user: dict[str, Any], session_id: str, refresh: str) -> SignedIn:
    access, expires_at = tokens.access_token(user, session_id)
    return SignedIn(user, session_id, access, expires_at, refresh)


async def _one(conn: Conn, query: str, params: Mapping[str, Any] | Sequence[Any]) -> dict[str, Any]:
    row = await (await conn.execute(query, params)).fetchone()
    assert row is not None
    return row


def _session_refusal(exc: psycopg.Error) -> ApiError | None:
    """GoTrue's answer to server.check_session's refusal, or None for another error."""
    key = exc.diag.message_primary
    if key == "unknown_user":
        return refusal(403, "user_not_found", "User from sub claim in JWT does not exist")
    if key == "session_ended":
        message = "Session from session_id claim in JWT does not exist"
        return refusal(403, "session_not_found", message)
    if key == "not_authenticated":
        return refusal(403, "bad_jwt", "invalid JWT: not a user's token")
    return None


def _detail(exc: psycopg.Error) -> dict[str, Any]:
    """The JSON object an engine refusal carries in its detail ({} when it has none)."""
    try:
        value = json.loads(exc.diag.message_detail or "")
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def weak_password(password: str) -> ApiError | None:
    """GoTrue's refusal of a password that is too short (422 weak_password, with its reasons),
    or None."""
    if len(password) >= MIN_PASSWORD:
        return None
    return ApiError(
        status=422,
        code="weak_password",
        message=f"Password should be at least {MIN_PASSWORD} characters.",
        details={"reasons": ["length"]},
    )


def invalid_input(exc: psycopg.Error) -> ApiError | None:
    """GoTrue's 400 validation_failed, in words, for the engine's invalid_argument (a bad email,
    username or user_metadata), or None for another error."""
    if exc.diag.message_primary != "invalid_argument":
        return None
    detail = _detail(exc)
    argument, reason = detail.get("argument", "argument"), str(detail.get("reason", "invalid"))
    if argument == "email" and reason == "an email address":
        message = "Unable to validate email address: invalid format"  # GoTrue's words
    elif reason.endswith("is required"):
        message = f"{reason[:1].upper()}{reason[1:]}."
    else:
        shown = "user_metadata (data)" if argument == "data" else argument
        message = f"Invalid {shown}: {reason}."
    return refusal(400, "validation_failed", message)


def _json_or_null(value: dict[str, Any] | None) -> str | None:
    """A JSON object as text for a jsonb argument, or None (SQL null: no change)."""
    return None if value is None else json.dumps(value)


@dataclass
class Accounts:
    """One node's sign-ups, sign-ins and sessions."""

    db: Database
    tokens: Tokens
    hashing: Hashing
    sign_in_limit: int  # password sign-ins per name per minute
    counters: Counters = field(default_factory=Counters)

    async def _open_session(self, conn: Conn, user_id: str) -> SignedIn:
        session_id = str(uuid.uuid4())
        refresh = secrets.token_urlsafe(32)
        row = await _one(
            conn,
            QUERIES["start_session"],
            {"user_id": user_id, "session_id": session_id, "refresh_digest": digest(refresh)},
        )
        return _signed_in(self.tokens, row["user"], session_id, refresh)

    async def _within_limit(self, conn: Conn, action: Action, address: str) -> None:
        """Count the attempt against the address's limit; 429 when it is over it."""
        row = await _one(conn, QUERIES["check_rate_limit"], {"action": action, "address": address})
        if row["wait"] > 0:
            raise self._over_address_limit(action, row["wait"])

    def _over_address_limit(self, action: Action, wait: int) -> ApiError:
        self.counters.refused_address_limit += 1
        return too_many(
            f"Too many {_ACTIONS[action]} from this address; try again in {wait} s.", wait
        )

    async def _hash(self, password: str) -> str:
        try:
            return await self.hashing.run(lambda: hash_password(password))
        except Busy as exc:
            raise _busy(exc) from None

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
            await self._within_limit(conn, "sign_up", address)
        password_hash = await self._hash(password)
        try:
            # the user and their first session in one transaction: never a user without a session
            async with self.db.as_server() as conn:
                row = await _one(
                    conn,
                    QUERIES["create_user"],
                    {
                        "email": email,
                        "username": username,
                        "password_hash": password_hash,
                        "data": json.dumps(data or {}),
                    },
                )
                return await self._open_session(conn, str(row["id"]))
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
                await self._within_limit(conn, "sign_up", address)
                row = await _one(
                    conn,
                    "select server.create_anonymous_user(%s::jsonb) as id",
                    [json.dumps(data or {})],
                )
                return await self._open_session(conn, str(row["id"]))
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
            found = await _one(
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
                raise _busy(exc) from None
            self.counters.unknown_names += 1
            await asyncio.sleep(self.hashing.expected_seconds())
            raise refusal(400, "invalid_credentials", "Invalid login credentials")
        try:
            verified = await self.hashing.run(lambda: _verify(stored, password))
        except Busy as exc:
            raise _busy(exc) from None
        if not verified:
            raise refusal(400, "invalid_credentials", "Invalid login credentials")
        async with self.db.as_server() as conn:
            return await self._open_session(conn, str(found["user_id"]))

    async def refresh(self, *, address: str, refresh_token: str) -> SignedIn:
        """Use up a refresh token for a new session token pair, within the address's limit; a
        token presented again within the reuse interval (10 s) refreshes again. Refusals:
        over_request_rate_limit, refresh_token_already_used (past the interval; it also ends the
        session), session_not_found (the session ended), refresh_token_not_found."""
        new_refresh = secrets.token_urlsafe(32)
        async with self.db.as_server() as conn:
            await self._within_limit(conn, "refresh", address)
            row = await _one(
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
        return _signed_in(self.tokens, result["user"], result["session_id"], new_refresh)

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
            refused = _session_refusal(exc)
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
                row = await _one(
                    conn,
                    QUERIES["user_json"],
                    {"claims": json.dumps(claims), "user_id": claims["sub"]},
                )
        except psycopg.Error as exc:
            refused = _session_refusal(exc)
            if refused is None:
                raise
            raise refused from exc
        user: dict[str, Any] = row["user"]
        return user

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
                    await self._within_limit(conn, "sign_in", address)
                    row = await _one(
                        conn,
                        "select server.current_password_hash(%s::jsonb) as hash",
                        [json.dumps(claims)],
                    )
                stored = row["hash"]
                if stored:
                    try:
                        same = await self.hashing.run(lambda: _verify(stored, password))
                    except Busy as exc:
                        raise _busy(exc) from None
                    if same:
                        raise refusal(
                            422,
                            "same_password",
                            "New password should be different from the old password.",
                        )
                password_hash = await self._hash(password)
            async with self.db.as_server() as conn:
                row = await _one(
                    conn,
                    "select server.update_user(%s::jsonb, %s, %s, %s::jsonb) as user",
                    [
                        json.dumps(claims),
                        email or None,
                        password_hash,
                        None if data is None else json.dumps(data),
                    ],
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
            refused = _session_refusal(exc) or invalid_input(exc)
            if refused is None:
                raise
            raise refused from exc
        user: dict[str, Any] = row["user"]
        return user

    # GoTrue's admin API: the route has checked the service key --------------------------------

    async def admin_list_users(self, page: int, per_page: int) -> dict[str, Any]:
        """{users, total}: page `page` of `per_page` users, newest first."""
        try:
            async with self.db.as_server() as conn:
                row = await _one(
                    conn, "select server.admin_list_users(%s, %s) as page", [page, per_page]
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
            row = await _one(conn, "select server.user_json(%s) as user", [user_id])
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
            "select server.admin_create_user(%s, %s, %s::jsonb, %s::jsonb) as user",
            [email, password_hash, json.dumps(user_metadata or {}), _json_or_null(app_metadata)],
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
            "select server.admin_update_user(%s, %s, %s, %s::jsonb, %s::jsonb) as user",
            [
                user_id,
                email or None,
                password_hash,
                _json_or_null(user_metadata),
                _json_or_null(app_metadata),
            ],
        )

    async def admin_delete_user(self, user_id: str) -> None:
        """Delete a user softly (server.admin_delete_user). Refusals: user_not_found."""
        await self._admin_call("select server.admin_delete_user(%s) as user", [user_id])

    async def _admin_call(self, query: str, params: list[Any]) -> dict[str, Any]:
        try:
            async with self.db.as_server() as conn:
                row = await _one(conn, query, params)
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

    def snapshot(self) -> dict[str, int]:
        return {**asdict(self.counters), **self.hashing.snapshot()}
