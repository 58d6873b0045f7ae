// The bookmaker's figures. The profit follows the engine's `profit` messages on the admin topic
// (each carries the house account's version; the newer of it and house_summary's is shown), so it
// moves the moment a settlement commits, without asking the server. The rest of house_summary is
// read again only when it can have changed: the house moved, a wager or a withdrawal started or
// stopped waiting for approval, a market changed status, or the feed (re)connected. Not on every wager or odds.
import { call, rows, useLoad } from '../load'
import { useMarkets } from '../markets'
import { formatMinor } from '../money'
import { supabase } from '../supabase'
import { useHouseMessage, useHouseRevision } from './live'

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
  withdrawals_pending: number
  pending_withdrawals: number
}

export function House() {
  const houseRevision = useHouseRevision()
  const { markets } = useMarkets()
  const states = markets.map((m) => `${m.id}:${m.status}`).join(',')
  const { data, error } = useLoad(() => call<Summary>('house_summary'), [houseRevision, states])
  const settings = useLoad(
    () => rows<{ big_wager_min_stake: number }>(supabase().from('settings').select('big_wager_min_stake')),
    [],
  )
  const bigFrom = settings.data?.[0]?.big_wager_min_stake
  const message = useHouseMessage()
  // the newer of the summary and the last profit message (both carry the house's version)
  const live = message !== null && (!data || message.version > data.version)
  const profit = live ? message.profit : data?.profit
  return (
    <section className="card house" aria-labelledby="house-title">
      <h2 id="house-title">House</h2>
      {error && <p className="error">{error}</p>}
      <dl className="facts">
        <div>
          <dt>Current profit</dt>
          <dd
            className={`big ${(profit ?? 0) < 0 ? 'minus' : 'plus'}`}
            data-testid="house-profit"
            data-version={live ? message.version : data?.version}
          >
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
        <div>
          <dt>Withdrawals waiting</dt>
          <dd data-testid="house-withdrawals">
            {data ? `${data.pending_withdrawals} · ${formatMinor(data.withdrawals_pending)}` : '–'}
          </dd>
        </div>
        <div>
          <dt>Big wagers</dt>
          <dd data-testid="big-wager-from">{bigFrom === undefined ? '–' : `from ${formatMinor(bigFrom)}`}</dd>
        </div>
      </dl>
    </section>
  )
}
