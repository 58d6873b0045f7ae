// Admin/Markets (DBGP 6.4, BetMarket 4.6): the house, every market with its pool, wagers and
// approvals waiting, and what can be done to it; the wagers and the withdrawals waiting; a new
// market; a credit to a wallet. A wager that
// starts waiting is shown the moment its `wager_pending` message arrives (live.ts), before the
// list of waiting wagers has been read again.
import { useMarkets, type Market } from '../markets'
import { formatMinor, formatOdds } from '../money'
import { follow } from '../router'
import { Badges } from '../screens/parts'
import { Table } from '../Table'
import { AdminPage } from './AdminNav'
import { CreateMarket } from './CreateMarket'
import { House } from './House'
import { usePendingArrivals, type PendingArrival } from './live'
import { MarketActions } from './MarketActions'
import { CreditWallet } from './CreditWallet'
import { PendingWagers, usePending } from './PendingWagers'
import { PendingWithdrawals } from './PendingWithdrawals'

const DECIDABLE: Market['status'][] = ['open', 'closed']

/** The wagers announced as waiting on markets that still take decisions (settling or voiding a
 *  market refunds its waiting wagers without a `wager_decided`). */
function useWaitingArrivals(markets: Market[]): PendingArrival[] {
  const arrivals = usePendingArrivals()
  const decidable = new Set(markets.filter((m) => DECIDABLE.includes(m.status)).map((m) => m.id))
  return arrivals.filter((w) => decidable.has(w.market_id))
}

/** What just started waiting, as the engine announced it. */
function Arrivals() {
  const { markets } = useMarkets()
  const arrivals = useWaitingArrivals(markets).slice(0, 5)
  const title = (id: number) => markets.find((m) => m.id === id)?.title ?? `Market ${id}`
  const label = (w: PendingArrival) =>
    markets.find((m) => m.id === w.market_id)?.outcomes.find((o) => o.outcome_id === w.outcome_id)?.label ??
    `outcome ${w.position}`
  return (
    <div className="stack" role="status" aria-live="polite" data-testid="pending-arrivals">
      {arrivals.map((w) => (
        <p key={w.id} className="notice" data-wager-id={w.id}>
          Just in, waiting for approval: wager #{w.id}, {formatMinor(w.stake)} on {label(w)} at{' '}
          {formatOdds(w.odds, 4)} in{' '}
          <a href={`/admin/markets/${w.market_id}`} onClick={follow}>
            {title(w.market_id)}
          </a>
          .
        </p>
      ))}
    </div>
  )
}

function MarketsTable() {
  const { markets, loaded } = useMarkets()
  const { data: pending } = usePending(null)
  const arrivals = useWaitingArrivals(markets)
  // the waiting wagers as last read, and those announced since
  const waiting = (id: number) =>
    new Set([
      ...(pending ?? []).filter((w) => w.market_id === id).map((w) => w.wager_id),
      ...arrivals.filter((w) => w.market_id === id).map((w) => w.id),
    ]).size
  return (
    <section className="card" aria-labelledby="markets-title">
      <h2 id="markets-title">Markets</h2>
      <Table
        className="admin-markets"
        rows={markets}
        rowKey={(m) => m.id}
        rowProps={(m) => ({ 'data-market-id': m.id })}
        loading={!loaded}
        empty="No market yet: create one below."
        columns={[
          { header: '#', cell: (m) => m.id },
          {
            header: 'Market',
            cellProps: () => ({ className: 'title-cell' }),
            cell: (m) => (
              <a href={`/admin/markets/${m.id}`} onClick={follow}>
                {m.title}
              </a>
            ),
          },
          { header: 'Status', cell: (m) => <Badges market={m} /> },
          { header: 'Pool', numeric: true, cell: (m) => formatMinor(m.total_pool), cellProps: () => ({ 'data-testid': 'pool' }) },
          { header: 'Wagers', numeric: true, cell: (m) => m.outcomes.reduce((n, o) => n + o.wager_count, 0) },
          { header: 'Pending', numeric: true, cell: (m) => waiting(m.id), cellProps: () => ({ 'data-testid': 'pending' }) },
          { header: 'Actions', cell: (m) => <MarketActions market={m} pending={waiting(m.id)} /> },
        ]}
      />
    </section>
  )
}

export function AdminHome({ isAdmin }: { isAdmin: boolean }) {
  return (
    <AdminPage isAdmin={isAdmin} title="Admin console">
      <House />
      <Arrivals />
      <PendingWagers marketId={null} />
      <PendingWithdrawals />
      <MarketsTable />
      <CreateMarket />
      <CreditWallet />
    </AdminPage>
  )
}
