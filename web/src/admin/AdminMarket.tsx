// Admin/Market/:id (DBGP 6.4): the market's figures and actions, its wagers waiting for
// approval, the settlement review, corrections, and every wager on it, all live.
import { useMarket, useMarkets } from '../markets'
import { formatMinor, formatOdds } from '../money'
import { follow } from '../router'
import { Badges, OutcomeHeader, OutcomeRow } from '../screens/parts'
import { AdminPage } from './AdminNav'
import { Corrections, useMarketWagers } from './Corrections'
import { MarketActions } from './MarketActions'
import { PendingWagers, usePending } from './PendingWagers'
import { Settlement } from './Settlement'

function Wagers({ marketId, version }: { marketId: number; version: number }) {
  const { data } = useMarketWagers(marketId, version)
  const wagers = data ?? []
  return (
    <section className="card" aria-labelledby="all-wagers-title">
      <h2 id="all-wagers-title">Every wager ({wagers.length})</h2>
      <div className="table-wrap">
        <table>
          <thead>
            <tr>
              <th scope="col">Wager</th>
              <th scope="col">Bettor</th>
              <th scope="col">Outcome</th>
              <th scope="col" className="num">Stake</th>
              <th scope="col" className="num">Odds</th>
              <th scope="col">Approval</th>
              <th scope="col">Settlement</th>
              <th scope="col" className="num">Payout</th>
            </tr>
          </thead>
          <tbody>
            {wagers.map((w) => (
              <tr key={w.id} data-wager-id={w.id}>
                <td>#{w.id}</td>
                <td>{w.user_id.slice(0, 8)}</td>
                <td>{w.outcome_label}</td>
                <td className="num">{formatMinor(w.stake)}</td>
                <td className="num">{formatOdds(w.odds, 4)}</td>
                <td>{w.approval}</td>
                <td className={`state-${w.settlement}`}>{w.settlement}</td>
                <td className="num">{w.payout === null ? '–' : formatMinor(w.payout)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </section>
  )
}

export function AdminMarket({ id, isAdmin }: { id: number; isAdmin: boolean }) {
  const market = useMarket(id)
  const { loaded } = useMarkets()
  const { data: pending } = usePending(id)
  if (!market)
    return (
      <AdminPage isAdmin={isAdmin} title={`Market ${id}`}>
        <p className="muted">{loaded ? 'There is no such market.' : 'Loading…'}</p>
      </AdminPage>
    )
  return (
    <AdminPage isAdmin={isAdmin} title={market.title}>
      <section className="card stack" data-market-id={market.id}>
        <header>
          <Badges market={market} />
          <MarketActions market={market} pending={(pending ?? []).length} />
        </header>
        <dl className="facts">
          <div>
            <dt>Pool</dt>
            <dd data-testid="pool">{formatMinor(market.total_pool)}</dd>
          </div>
          <div>
            <dt>Approval</dt>
            <dd>{market.requires_approval ? 'every wager waits for an admin' : 'none'}</dd>
          </div>
          <div>
            <dt>Version</dt>
            <dd>{market.version}</dd>
          </div>
          <div>
            <dt>Closes</dt>
            <dd>{market.closes_at ? new Date(market.closes_at).toLocaleString() : 'when closed by hand'}</dd>
          </div>
        </dl>
        <div className="outcomes" role="table" aria-label="Outcomes">
          <OutcomeHeader />
          {market.outcomes.map((o) => (
            <OutcomeRow key={o.outcome_id} outcome={o} won={market.winning_outcome_id === o.outcome_id} />
          ))}
        </div>
        <a href={`/markets/${market.id}`} onClick={follow}>
          The market as bettors see it, with its depth
        </a>
      </section>
      {(market.requires_approval || (pending ?? []).length > 0) && <PendingWagers marketId={market.id} />}
      <Settlement market={market} />
      <Corrections market={market} />
      <Wagers marketId={market.id} version={market.version} />
    </AdminPage>
  )
}
