-- name: is_game
-- Whether a market is a BetMarket game; read as anon: that is public (drafts send no message).
select betmarket_game from public.markets where id = %(market_id)s
