// My bets (BetMarket 4.4, DBGP 6.6): active and settled wagers, payouts, profit and loss,
// filtered by market and state; live, since the list reloads when any wager changes.
import { useEffect, useState } from 'react'
import { useMe } from '../me'
import { formatMinor } from '../money'
import { supabase } from '../supabase'
import { useMyWagers, WagerTable, type Wager } from './WagerList'

type Filter = 'all' | 'active' | 'settled'

interface Stats {
  wagers: number
  wins: number
  wagered: number
  won: number
  profit: number
}

/** The user's totals as the engine keeps them (the `user_stats` view): no sums in the browser. */
function Totals() {
  const { userId, wagersRevision } = useMe()
  const [stats, setStats] = useState<Stats | null>(null)
  useEffect(() => {
    if (!userId) return
    void supabase()
      .from('user_stats')
      .select('wagers,wins,wagered,won,profit')
      .eq('user_id', userId)
      .then(({ data, error }) => {
        if (!error) setStats(((data as unknown as Stats[]) ?? [])[0] ?? null)
      })
  }, [userId, wagersRevision])
  if (!stats) return null
  return (
    <dl className="facts card">
      <div>
        <dt>Settled wagers</dt>
        <dd>{stats.wagers}</dd>
      </div>
      <div>
        <dt>Won</dt>
        <dd>{stats.wins}</dd>
      </div>
      <div>
        <dt>Wagered</dt>
        <dd>{formatMinor(stats.wagered)}</dd>
      </div>
      <div>
        <dt>Paid out</dt>
        <dd>{formatMinor(stats.won)}</dd>
      </div>
      <div>
        <dt>Profit and loss</dt>
        <dd className={stats.profit < 0 ? 'minus' : 'plus'}>{formatMinor(stats.profit)}</dd>
      </div>
    </dl>
  )
}

const isActive = (w: Wager) =>
  w.approval === 'pending' || (w.approval === 'accepted' && w.settlement === 'open')

export function MyBets() {
  const { wagers, error } = useMyWagers(null)
  const [filter, setFilter] = useState<Filter>('all')
  const [market, setMarket] = useState('all')
  const markets = [...new Map(wagers.map((w) => [w.market_id, w.market_title])).entries()]
  const shown = wagers.filter(
    (w) =>
      (market === 'all' || String(w.market_id) === market) &&
      (filter === 'all' || (filter === 'active' ? isActive(w) : !isActive(w))),
  )
  return (
    <main className="page">
      <h1>My bets</h1>
      <div className="filters">
        <label>
          Show
          <select value={filter} onChange={(e) => setFilter(e.target.value as Filter)}>
            <option value="all">All</option>
            <option value="active">Active</option>
            <option value="settled">Settled</option>
          </select>
        </label>
        <label>
          Market
          <select value={market} onChange={(e) => setMarket(e.target.value)}>
            <option value="all">All markets</option>
            {markets.map(([id, title]) => (
              <option key={id} value={String(id)}>
                {title}
              </option>
            ))}
          </select>
        </label>
      </div>
      <Totals />
      {error && <p className="error">{error}</p>}
      {shown.length === 0 ? (
        <p className="muted">No wagers here yet.</p>
      ) : (
        <section className="card">
          <WagerTable wagers={shown} showMarket />
        </section>
      )}
    </main>
  )
}
