// A list of the user's own wagers (the `my_wagers` view), reloaded when any of them changes: the
// socket sends a `my_wagers` row for every change, an admin's correction included (a wager
// voided on its own, a settlement reversed), so the list never waits for a reload of the page.
import { useEffect, useState } from 'react'
import { fromRest } from '../errors'
import { useMe } from '../me'
import { formatMinor, formatOdds } from '../money'
import { follow } from '../router'
import { supabase } from '../supabase'

export interface Wager {
  id: number
  market_id: number
  market_title: string
  market_status: string
  outcome_label: string
  stake: number
  odds: number
  potential_payout: number
  approval: 'pending' | 'accepted' | 'rejected'
  settlement: 'open' | 'won' | 'lost' | 'void'
  payout: number | null
  profit: number | null
  created_at: string
}

export function wagerState(w: Wager): string {
  if (w.approval === 'pending') return 'Waiting for approval'
  if (w.approval === 'rejected') return 'Rejected, refunded'
  // void on a market still taking or awaiting its result: an admin called this wager off alone
  if (w.settlement === 'void' && (w.market_status === 'open' || w.market_status === 'closed'))
    return 'Refunded: voided by the house'
  if (w.settlement === 'void' && w.market_status === 'void') return 'Refunded: market called off'
  return { open: 'Open', won: 'Won', lost: 'Lost', void: 'Refunded' }[w.settlement]
}

export function useMyWagers(marketId: number | null): { wagers: Wager[]; error: string | null } {
  const { userId, wagersRevision } = useMe()
  const [wagers, setWagers] = useState<Wager[]>([])
  const [error, setError] = useState<string | null>(null)
  useEffect(() => {
    if (!userId) {
      setWagers([])
      return
    }
    let current = true
    let query = supabase()
      .from('my_wagers')
      .select(
        'id,market_id,market_title,market_status,outcome_label,stake,odds,potential_payout,' +
          'approval,settlement,payout,profit,created_at',
      )
      .order('created_at', { ascending: false })
      .limit(200)
    if (marketId !== null) query = query.eq('market_id', marketId)
    void query.then(({ data, error: failed }) => {
      if (!current) return
      if (failed) setError(fromRest(failed).text)
      else {
        setError(null)
        setWagers(data as unknown as Wager[])
      }
    })
    return () => {
      current = false
    }
  }, [userId, wagersRevision, marketId])
  return { wagers, error }
}

export function WagerTable({ wagers, showMarket }: { wagers: Wager[]; showMarket: boolean }) {
  return (
    <div className="table-wrap">
      <table className="wagers">
        <thead>
          <tr>
            <th scope="col">Placed</th>
            {showMarket && <th scope="col">Market</th>}
            <th scope="col">Outcome</th>
            <th scope="col" className="num">Stake</th>
            <th scope="col" className="num">Odds</th>
            <th scope="col" className="num">Pays if it wins</th>
            <th scope="col">State</th>
            <th scope="col" className="num">Payout</th>
            <th scope="col" className="num">Profit</th>
          </tr>
        </thead>
        <tbody>
          {wagers.map((w) => (
            <tr key={w.id} data-wager-id={w.id}>
              <td>{new Date(w.created_at).toLocaleString()}</td>
              {showMarket && (
                <td>
                  <a href={`/markets/${w.market_id}`} onClick={follow}>
                    {w.market_title}
                  </a>
                </td>
              )}
              <td>{w.outcome_label}</td>
              <td className="num">{formatMinor(w.stake)}</td>
              <td className="num">{formatOdds(w.odds, 4)}</td>
              <td className="num">{formatMinor(w.potential_payout)}</td>
              <td className={`state-${w.settlement}`}>{wagerState(w)}</td>
              <td className="num">{w.payout === null ? '–' : formatMinor(w.payout)}</td>
              <td className={`num ${(w.profit ?? 0) < 0 ? 'minus' : 'plus'}`}>
                {w.profit === null ? '–' : formatMinor(w.profit)}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  )
}
