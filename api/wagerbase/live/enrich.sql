-- name: market
-- A market as the `markets` view shows it to anon: its title and outcome labels among the rest.
select to_jsonb(m) as market from public.markets as m where m.id = %(market_id)s
