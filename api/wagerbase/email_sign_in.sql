-- name: issue_email_token
-- The checks and the token before a recovery or sign-in mail (rpc/08_email_tokens.sql):
-- {status: ok | no_user | rate_limited | signups_disabled, new_user, retry_after}.
select server.issue_email_token(
    %(email)s, %(purpose)s, %(digest)s, %(create_user)s, %(data)s::jsonb, %(expiry)s, %(interval)s,
    %(code_challenge)s, %(code_challenge_method)s
) as result

-- name: cancel_email_token
-- Undo issue_email_token after the mail could not be sent.
select server.cancel_email_token(%(email)s, %(digest)s)

-- name: verify_email_token
-- Use up a one-time token (by the digest of its token hash): {status: ok | otp_expired, user_id,
-- pkce}; with pkce, the PKCE auth code of `auth_code_digest` was made for the user.
select server.verify_email_token(%(digest)s, %(auth_code_digest)s, %(redirect_to)s) as result
