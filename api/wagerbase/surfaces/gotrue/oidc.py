"""GoTrue's external-provider routes, for OpenID Connect providers (oidc_flows.py): /authorize
(supabase-js's signInWithOAuth sends the browser there), /callback (where the provider sends
it back) and /settings (which providers are enabled). The PKCE exchange is /token's
grant_type=pkce (routes.py).

A redirect_to that the settings do not allow (site_urls.redirect_allowed) is replaced by the
site URL, as GoTrue replaces it: no user is ever sent elsewhere. A callback that cannot sign
anyone in sends the user back with GoTrue's `error`, `error_code` and `error_description`, in
the query string and the fragment; without a valid state, to the site URL.
"""

from typing import Annotated, Any

from litestar import Request, Response, get
from litestar.params import Parameter, QueryParameter

from wagerbase.http.common import client_address
from wagerbase.oidc_flows import CallbackError, OidcFlows
from wagerbase.site_urls import error_url, with_params
from wagerbase.surfaces.gotrue.structs import documented_errors

MAX_QUERY_VALUE = 2048  # the longest redirect_to, code or state taken


def _api_url(request: Request[Any, Any, Any], flows: OidcFlows) -> str:
    return flows.site.api_external_url or str(request.base_url).rstrip("/")


def _site_url(request: Request[Any, Any, Any], flows: OidcFlows) -> str:
    return flows.site.site_url or _api_url(request, flows)


def _found(url: str) -> Response[None]:
    return Response(None, status_code=302, headers={"Location": url, "Cache-Control": "no-store"})


Bounded = Annotated[str | None, Parameter(max_length=MAX_QUERY_VALUE)]


@get(
    "/authorize",
    summary="Sign in with an OpenID Connect provider: a redirect to it (signInWithOAuth)",
    responses=documented_errors(400, 429, 502),
)
async def authorize(
    request: Request[Any, Any, Any],
    flows: OidcFlows,
    provider: Annotated[str | None, Parameter(max_length=100)] = None,
    redirect_to: Bounded = None,
    scopes: Annotated[str | None, Parameter(max_length=1000)] = None,
    code_challenge: Annotated[str | None, Parameter(max_length=200)] = None,
    code_challenge_method: Annotated[str | None, Parameter(max_length=20)] = None,
) -> Response[None]:
    chosen = flows.provider(provider)
    url = await flows.begin(
        address=client_address(request),
        provider=chosen,
        redirect_to=flows.site.target(redirect_to, _site_url(request, flows)),
        callback_url=f"{_api_url(request, flows)}/auth/v1/callback",
        code_challenge=code_challenge or None,
        code_challenge_method=code_challenge_method or None,
        scopes=scopes,
    )
    return _found(url)


@get(
    "/callback",
    summary="Where an OpenID Connect provider sends the user back: a redirect to redirect_to",
    responses=documented_errors(400),
)
async def callback(
    request: Request[Any, Any, Any],
    flows: OidcFlows,
    code: Bounded = None,
    oauth_state: Annotated[
        str | None, QueryParameter(name="state", max_length=MAX_QUERY_VALUE)
    ] = None,
    error: Bounded = None,
    error_description: Bounded = None,
) -> Response[None]:
    try:
        flow = await flows.take_state(oauth_state)
    except CallbackError as exc:
        return _found(_error_url(_site_url(request, flows), exc))
    try:
        if error:
            raise CallbackError(
                error[:100], "bad_oauth_callback", (error_description or error)[:300]
            )
        params = await flows.complete(flow, code, f"{_api_url(request, flows)}/auth/v1/callback")
    except CallbackError as exc:
        return _found(_error_url(flow["redirect_to"], exc))
    return _found(with_params(flow["redirect_to"], params, fragment=not flow["pkce"]))


def _error_url(url: str, exc: CallbackError) -> str:
    """`url` with GoTrue's error parameters in its query string and its fragment."""
    return error_url(url, exc.error, exc.code, exc.description)


@get("/settings", summary="What sign-ins this node offers, as GoTrue's settings")
async def settings(flows: OidcFlows) -> dict[str, Any]:
    external = {"email": True, "phone": False}
    external |= {provider.name: True for provider in flows.settings.providers}
    return {
        "external": external,
        "disable_signup": False,
        "mailer_autoconfirm": True,
        "phone_autoconfirm": False,
        "sms_provider": "",
        "saml_enabled": False,
    }


HANDLERS = [authorize, callback, settings]
