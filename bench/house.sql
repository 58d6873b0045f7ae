-- name: count_house_bets
-- The house games' bets so far.
select count(*) from app.house_bets
