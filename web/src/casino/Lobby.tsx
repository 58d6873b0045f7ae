// The casino's lobby: every game of the registry, with whether the house has it on, and the
// player's seeds page; the player's level, rakeback and referrals (Rewards.tsx), and the live bets
// feed (LiveBets.tsx).
import { follow } from '../router'
import { LiveBets } from './LiveBets'
import { GAMES, MINES } from './registry'
import { Rewards } from './Rewards'
import { useHouseGames } from './settings'

export function Lobby() {
  const { data, error } = useHouseGames()
  return (
    <main className="page">
      <h1>Casino</h1>
      <p className="muted">
        Every bet is drawn from your own seed pair, one transaction each: check any of them on{' '}
        <a href="/casino/seeds" onClick={follow}>
          your seeds page
        </a>
        .
      </p>
      {error && <p className="error">{error}</p>}
      <div className="board">
        {[...GAMES, MINES].map((game) => {
          const settings = data?.find((g) => g.game === game.key)
          return (
            <a key={game.key} className="card market-card game-card" href={`/casino/${game.key}`} onClick={follow}>
              <strong>{game.name}</strong>
              <span className="muted">{game.blurb}</span>
              {settings && !settings.enabled && <span className="badge status-void">Switched off</span>}
            </a>
          )
        })}
      </div>
      <Rewards />
      <LiveBets />
    </main>
  )
}
