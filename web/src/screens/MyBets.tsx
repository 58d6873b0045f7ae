// My bets (BetMarket 4.4, DBGP 6.6): active and settled wagers, payouts, profit and loss,
// filtered by market and state; live, since the list reloads when any wager changes. What an
// admin's correction did to a wager while the page was open (a wager voided on its own, a result
// withdrawn) is also said in words above the list.
import { useEffect, useRef, useState } from 'react'
import { rows, useLoad } from '../load'
import { useMe } from '../me'
import { formatMinor } from '../money'
import { supabase } from '../supabase'
import { useMyWagers, WagerTable, type Wager } from './WagerList'

type Filter = 'all' | 'active' | 'settled'

/** A row of the `user_stats` view: a user's settled wagers, wins, staked, won and profit. */
export interface UserStats {
  wagers: number
  wins: number
  wagered: number
  won: number
  profit: number
}

export const USER_STATS_COLUMNS = 'wagers,wins,wagered,won,profit'

/** The user's totals as the engine keeps them (the `user_stats` view): no sums in the browser. */
function Totals() {
  const { userId, wagersRevision } = useMe()
  const { data } = useLoad(
    userId ? () => rows<UserStats>(supabase().from('user_stats').select(USER_STATS_COLUMNS).eq('user_id', userId)) : null,
    [userId, wagersRevision],
  )
  const stats = data?.[0] ?? null
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

/** A sentence for a correction seen between two loads of the list, or null. */
function correction(before: Wager, after: Wager): string | null {
  if (before.settlement === 'open' && after.settlement === 'void' && after.market_status !== 'void')
    return `Wager #${after.id} on ${after.market_title} was voided by the house: your stake of ${formatMinor(after.stake)} is back.`
  if ((before.settlement === 'won' || before.settlement === 'lost') && after.settlement === 'open')
    return `The result of ${after.market_title} was withdrawn to be corrected: wager #${after.id} is open again.`
  return null
}

/** The corrections that reached the list while it was shown, newest first. */
function useCorrections(wagers: Wager[]): string[] {
  const seen = useRef(new Map<number, Wager>())
  const [news, setNews] = useState<string[]>([])
  useEffect(() => {
    const found: string[] = []
    for (const w of wagers) {
      const before = seen.current.get(w.id)
      const said = before ? correction(before, w) : null
      if (said) found.push(said)
      seen.current.set(w.id, w)
    }
    if (found.length > 0) setNews((old) => [...found, ...old].slice(0, 5))
  }, [wagers])
  return news
}

export function MyBets() {
  const { wagers, error, loading } = useMyWagers(null)
  const news = useCorrections(wagers)
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
      <div role="status" aria-live="polite" data-testid="bets-news">
        {news.map((text) => (
          <p key={text} className="notice">
            {text}
          </p>
        ))}
      </div>
      {error && <p className="error">{error}</p>}
      <section className="card">
        <WagerTable wagers={shown} showMarket empty="No wagers here yet." loading={loading} />
      </section>
    </main>
  )
}
