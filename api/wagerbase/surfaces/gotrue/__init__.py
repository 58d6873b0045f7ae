"""GoTrue's surface, /auth/v1: GoTrue (Supabase Auth) as the official clients use it
(docs/api.md, "Auth").

Sign-up (with `data` as user_metadata; anonymous sign-in when the setting allows it), password
sign-in, refresh-token rotation (with GoTrue's reuse interval), get-user, update-user (email,
password, user_metadata), logout, and the admin API for the service key. Users sign up with an
email or a username; admin is granted only by the operator or the admin API (app_metadata is
the server's). Errors take GoTrue's shape for the API version the request names (errors.py).
/signup and /token ignore the Authorization header, which the clients fill with a stale token
(SUPABASE_COMPAT.md 2.1). Sign-ups, sign-ins and refreshes are limited per client address (429
`over_request_rate_limit` with Retry-After, as GoTrue answers); /user and /logout refuse a token
whose session ended with GoTrue's 403 `session_not_found`.

- `structs.py`: what is sent and answered (and the refusals each route documents);
- `errors.py`: every refusal and error in GoTrue's shapes;
- `callers.py`: a user's token and the service key, verified, with GoTrue's refusals;
- `routes.py`: the routes and their router;
- `admin.py`: the admin API's routes (`/admin/users`).

Sign-ups, sign-ins, sessions and user changes themselves are wagerbase.accounts, which BetMarket's
/api/auth shares.
"""

from wagerbase.surfaces.gotrue.routes import router

__all__ = ["router"]
