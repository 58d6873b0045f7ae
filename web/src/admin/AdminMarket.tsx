// Admin/Market/:id (DBGP 6.4): the market's figures and actions, its wagers waiting for
// approval, the settlement review, corrections, and every wager on it, all live.
import { useMarket, useMarkets } from '../markets'
import { formatMinor, formatOdds } from '../money'
import { follow } from '../router'
import { Badges, OutcomeHeader, OutcomeRow } from '../screens/parts'
import { Table } from '../Table'
import { AdminPage } from './AdminNav'
import { Corrections, useMarketWagers } from './Corrections'
import { MarketActions } from './MarketActions'
import { PendingWagers, usePending } from './PendingWagers'
import { Settlement } from './Settlement'

function Wagers({ marketId, version }: { marketId: number; version: number }) {
  const { data, loading } = useMarketWagers(marketId, version)
  const wagers = data ?? []
  return (
    <section className="card" aria-labelledby="all-wagers-title">
      <h2 id="all-wagers-title">Every wager ({wagers.length})</h2>
      <Table
        rows={wagers}
        rowKey={(w) => w.id}
        rowProps={(w) => ({ 'data-wager-id': w.id })}
        empty="No wager on this market yet."
        loading={loading}
        columns={[
          { header: 'Wager', cell: (w) => `#${w.id}` },
          { header: 'Bettor', cell: (w) => w.user_id.slice(0, 8) },
          { header: 'Outcome', cell: (w) => w.outcome_label },
          { header: 'Stake', numeric: true, cell: (w) => formatMinor(w.stake) },
          { header: 'Odds', numeric: true, cell: (w) => formatOdds(w.odds, 4) },
          { header: 'Approval', cell: (w) => w.approval },
          { header: 'Settlement', cell: (w) => w.settlement, cellProps: (w) => ({ className: `state-${w.settlement}` }) },
          { header: 'Payout', numeric: true, cell: (w) => (w.payout === null ? '–' : formatMinor(w.payout)) },
        ]}
      />
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
