// The markets board (BetMarket 4.2, DBGP 6.1): every market, live.
import { useMarkets, type Market } from '../markets'
import { follow } from '../router'
import { useNow } from '../time'
import { Badges, MarketFacts, OutcomeHeader, OutcomeRow } from './parts'

function Card({ market, now }: { market: Market; now: number }) {
  return (
    <article className="card market-card" data-market-id={market.id}>
      <header>
        <h2>
          <a href={`/markets/${market.id}`} onClick={follow}>
            {market.title}
          </a>
        </h2>
        <Badges market={market} />
      </header>
      <MarketFacts market={market} now={now} />
      <div className="outcomes" role="table" aria-label={`Outcomes of ${market.title}`}>
        <OutcomeHeader />
        {market.outcomes.map((outcome) => (
          <OutcomeRow
            key={outcome.outcome_id}
            outcome={outcome}
            won={market.winning_outcome_id === outcome.outcome_id}
          />
        ))}
      </div>
      {market.accepting_wagers && (
        <a className="button primary" href={`/markets/${market.id}`} onClick={follow}>
          Open betslip
        </a>
      )}
    </article>
  )
}

export function Board() {
  const { markets, loaded } = useMarkets()
  const now = useNow()
  return (
    <main className="page">
      <h1>Markets</h1>
      {!loaded && <p className="muted">Loading the markets…</p>}
      {loaded && markets.length === 0 && <p className="muted">No markets yet.</p>}
      <div className="board">
        {markets.map((market) => (
          <Card key={market.id} market={market} now={now} />
        ))}
      </div>
    </main>
  )
}
