// Admin/Markets (DBGP 6.4, BetMarket 4.6): the house, every market with its pool, wagers and
// approvals waiting, and what can be done to it; the wagers waiting; a new market.
import { useMarkets } from '../markets'
import { formatMinor } from '../money'
import { follow } from '../router'
import { Badges } from '../screens/parts'
import { AdminPage } from './AdminNav'
import { CreateMarket } from './CreateMarket'
import { House } from './House'
import { MarketActions } from './MarketActions'
import { PendingWagers, usePending } from './PendingWagers'

function MarketsTable() {
  const { markets, loaded } = useMarkets()
  const { data: pending } = usePending(null)
  const waiting = (id: number) => (pending ?? []).filter((w) => w.market_id === id).length
  return (
    <section className="card" aria-labelledby="markets-title">
      <h2 id="markets-title">Markets</h2>
      {!loaded && <p className="muted">Loading…</p>}
      <div className="table-wrap">
        <table className="admin-markets">
          <thead>
            <tr>
              <th scope="col">#</th>
              <th scope="col">Market</th>
              <th scope="col">Status</th>
              <th scope="col" className="num">Pool</th>
              <th scope="col" className="num">Wagers</th>
              <th scope="col" className="num">Pending</th>
              <th scope="col">Actions</th>
            </tr>
          </thead>
          <tbody>
            {markets.map((m) => (
              <tr key={m.id} data-market-id={m.id}>
                <td>{m.id}</td>
                <td className="title-cell">
                  <a href={`/admin/markets/${m.id}`} onClick={follow}>
                    {m.title}
                  </a>
                </td>
                <td>
                  <Badges market={m} />
                </td>
                <td className="num" data-testid="pool">{formatMinor(m.total_pool)}</td>
                <td className="num">{m.outcomes.reduce((n, o) => n + o.wager_count, 0)}</td>
                <td className="num" data-testid="pending">{waiting(m.id)}</td>
                <td>
                  <MarketActions market={m} pending={waiting(m.id)} />
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </section>
  )
}

export function AdminHome({ isAdmin }: { isAdmin: boolean }) {
  return (
    <AdminPage isAdmin={isAdmin} title="Admin console">
      <House />
      <PendingWagers marketId={null} />
      <MarketsTable />
      <CreateMarket />
    </AdminPage>
  )
}
