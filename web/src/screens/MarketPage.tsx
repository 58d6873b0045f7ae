// One market (BetMarket 4.3): its outcomes live, the betslip, and the user's wagers on it.
import { DepthView } from '../depth/DepthView'
import { useMe } from '../me'
import { useMarket, useMarkets } from '../markets'
import { follow } from '../router'
import { useNow } from '../time'
import { Betslip } from './Betslip'
import { Badges, MarketFacts, OutcomeHeader, OutcomeRow } from './parts'
import { useMyWagers, WagerTable } from './WagerList'

export function MarketPage({ id, signedIn }: { id: number; signedIn: boolean }) {
  const market = useMarket(id)
  const { loaded } = useMarkets()
  const { balance } = useMe()
  const { wagers, error, loading } = useMyWagers(id)
  const now = useNow()

  if (!market) {
    return (
      <main className="page">
        <p className="muted">{loaded ? 'There is no such market.' : 'Loading the market…'}</p>
        <a href="/" onClick={follow}>
          Back to the markets
        </a>
      </main>
    )
  }
  return (
    <main className="page market-page" data-market-id={market.id}>
      <p>
        <a href="/" onClick={follow}>
          ← Markets
        </a>
      </p>
      <div className="market-layout">
        <section className="card">
          <header>
            <h1>{market.title}</h1>
            <Badges market={market} />
          </header>
          {market.description && <p className="muted">{market.description}</p>}
          <MarketFacts market={market} now={now}>
            {market.requires_approval && (
              <div>
                <dt>Approval</dt>
                <dd>wagers wait for an admin</dd>
              </div>
            )}
          </MarketFacts>
          <div className="outcomes" role="table" aria-label="Outcomes">
            <OutcomeHeader />
            {market.outcomes.map((outcome) => (
              <OutcomeRow
                key={outcome.outcome_id}
                outcome={outcome}
                won={market.winning_outcome_id === outcome.outcome_id}
              />
            ))}
          </div>
        </section>
        <Betslip market={market} signedIn={signedIn} balance={balance} />
      </div>
      <DepthView market={market} />
      {market.category === 'virtual' && (
        <p>
          <a href={`/markets/${market.id}/fair`} onClick={follow}>
            How this draw is provably fair
          </a>
        </p>
      )}
      {signedIn && (
        <section className="card" aria-labelledby="mine-title">
          <h2 id="mine-title">Your wagers on this market</h2>
          {error && <p className="error">{error}</p>}
          <WagerTable wagers={wagers} showMarket={false} empty="None yet." loading={loading} />
        </section>
      )}
    </main>
  )
}
