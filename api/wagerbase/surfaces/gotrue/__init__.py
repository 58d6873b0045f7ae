"""GoTrue's surface, /auth/v1: the subset of GoTrue (Supabase Auth) the official clients use.

sign-up, password sign-in, refresh-token rotation, get-user, logout. Users sign up with an email
or a username; admin is never granted here (app_metadata is the server's). Errors use GoTrue's
2024-01-01 shape {code, message} with the X-Supabase-Api-Version header, so supabase-py maps
`code`. /signup and /token ignore the Authorization header, which the clients fill with a stale
token (SUPABASE_COMPAT.md 2.1). Sign-ups, sign-ins and refreshes are limited per client address
(429 `over_request_rate_limit` with Retry-After, as GoTrue answers); /user and /logout refuse a
token whose session ended with GoTrue's 403 `session_not_found`.

- `structs.py`: what is sent and answered (and the refusals each route documents);
- `errors.py`: every refusal and error as GoTrue's {code, message};
- `routes.py`: the routes and their router.

Sign-ups, sign-ins and sessions themselves are wagerbase.accounts, which BetMarket's /api/auth
shares.
"""

from wagerbase.surfaces.gotrue.routes import router

__all__ = ["router"]
