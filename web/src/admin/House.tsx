// The bookmaker's figures (house_summary), reloaded whenever a wager or a market moves, and the
// house's own `profit` messages when the socket sends them.
import { call, useLoad } from '../load'
import { useMarkets } from '../markets'
import { formatMinor } from '../money'
import { useAdminRevision, useHouseMessage } from './live'

interface Summary {
  balance: number
  profit: number
  version: number
  settled_result: number
  escrow_held: number
  user_balances: number
  wallets: number
  deposits_net: number
  grants: number
  markets_open: number
  markets_closed: number
  markets_settled: number
  pending_wagers: number
}

export function House() {
  const revision = useAdminRevision()
  const { markets } = useMarkets()
  const states = markets.map((m) => `${m.id}:${m.status}:${m.version}`).join(',')
  const { data, error } = useLoad(() => call<Summary>('house_summary'), [revision, states])
  const message = useHouseMessage()
  // the newer of the summary and the last profit message (both carry the house's version)
  const profit = message && data && message.version > data.version ? message.profit : data?.profit
  return (
    <section className="card house" aria-labelledby="house-title">
      <h2 id="house-title">House</h2>
      {error && <p className="error">{error}</p>}
      <dl className="facts">
        <div>
          <dt>Current profit</dt>
          <dd className={`big ${(profit ?? 0) < 0 ? 'minus' : 'plus'}`} data-testid="house-profit">
            {formatMinor(profit)}
          </dd>
        </div>
        <div>
          <dt>Settled result</dt>
          <dd>{formatMinor(data?.settled_result)}</dd>
        </div>
        <div>
          <dt>Held in escrow</dt>
          <dd data-testid="house-escrow">{formatMinor(data?.escrow_held)}</dd>
        </div>
        <div>
          <dt>Bettors' balances</dt>
          <dd>{formatMinor(data?.user_balances)}</dd>
        </div>
        <div>
          <dt>Wallets</dt>
          <dd>{data?.wallets ?? '–'}</dd>
        </div>
        <div>
          <dt>Net deposits</dt>
          <dd>{formatMinor(data?.deposits_net)}</dd>
        </div>
        <div>
          <dt>Open / closed / settled</dt>
          <dd>
            {data ? `${data.markets_open} / ${data.markets_closed} / ${data.markets_settled}` : '–'}
          </dd>
        </div>
        <div>
          <dt>Waiting for approval</dt>
          <dd data-testid="house-pending">{data?.pending_wagers ?? '–'}</dd>
        </div>
      </dl>
    </section>
  )
}
