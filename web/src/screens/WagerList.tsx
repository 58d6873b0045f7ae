// A list of the user's own wagers (the `my_wagers` view), reloaded when any of them changes: the
// socket sends a `my_wagers` row for every change, an admin's correction included (a wager
// voided on its own, a settlement reversed), so the list never waits for a reload of the page.
import { rows, useLoad } from '../load'
import { useMe } from '../me'
import { formatMinor, formatOdds } from '../money'
import { follow } from '../router'
import { supabase } from '../supabase'
import { Table } from '../Table'

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

const NONE: Wager[] = []

/** The user's wagers (on one market, or all), read again on every change to any of them. */
export function useMyWagers(marketId: number | null): { wagers: Wager[]; error: string | null; loading: boolean } {
  const { userId, wagersRevision } = useMe()
  const { data, error, loading } = useLoad(
    userId
      ? () => {
          let query = supabase()
            .from('my_wagers')
            .select(
              'id,market_id,market_title,market_status,outcome_label,stake,odds,potential_payout,' +
                'approval,settlement,payout,profit,created_at',
            )
            .order('created_at', { ascending: false })
            .limit(200)
          if (marketId !== null) query = query.eq('market_id', marketId)
          return rows<Wager>(query)
        }
      : null,
    [userId, wagersRevision, marketId],
  )
  return { wagers: data ?? NONE, error, loading }
}

export function WagerTable({ wagers, showMarket, empty, loading }: {
  wagers: Wager[]
  showMarket: boolean
  empty: string
  loading?: boolean
}) {
  return (
    <Table
      className="wagers"
      rows={wagers}
      rowKey={(w) => w.id}
      rowProps={(w) => ({ 'data-wager-id': w.id })}
      empty={empty}
      loading={loading}
      columns={[
        { header: 'Placed', cell: (w) => new Date(w.created_at).toLocaleString() },
        showMarket && {
          header: 'Market',
          cell: (w) => (
            <a href={`/markets/${w.market_id}`} onClick={follow}>
              {w.market_title}
            </a>
          ),
        },
        { header: 'Outcome', cell: (w) => w.outcome_label },
        { header: 'Stake', numeric: true, cell: (w) => formatMinor(w.stake) },
        { header: 'Odds', numeric: true, cell: (w) => formatOdds(w.odds, 4) },
        { header: 'Pays if it wins', numeric: true, cell: (w) => formatMinor(w.potential_payout) },
        { header: 'State', cell: wagerState, cellProps: (w) => ({ className: `state-${w.settlement}` }) },
        { header: 'Payout', numeric: true, cell: (w) => (w.payout === null ? '–' : formatMinor(w.payout)) },
        {
          header: 'Profit',
          numeric: true,
          cell: (w) => (w.profit === null ? '–' : formatMinor(w.profit)),
          cellProps: (w) => ({ className: (w.profit ?? 0) < 0 ? 'minus' : 'plus' }),
        },
      ]}
    />
  )
}
