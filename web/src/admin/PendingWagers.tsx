// Wagers waiting for approval (admin_list_pending_wagers), approved or rejected from here; the
// list follows every wager change live.
import { useState } from 'react'
import { call, everyRow, useLoad } from '../load'
import { formatMinor, formatOdds } from '../money'
import { follow } from '../router'
import { supabase } from '../supabase'
import { Table } from '../Table'
import { useAdminRevision } from './live'

export interface PendingWager {
  wager_id: number
  market_id: number
  market_title: string
  outcome_label: string
  username: string | null
  email: string | null
  stake: number
  odds: number
  potential_payout: number
  price_impact_pp: number
  created_at: string
}

export function usePending(marketId: number | null) {
  const revision = useAdminRevision()
  return useLoad(
    () =>
      everyRow<PendingWager>((from, to) =>
        supabase().rpc('admin_list_pending_wagers', { market_id: marketId }).range(from, to),
      ),
    [revision, marketId],
  )
}

export function PendingWagers({ marketId }: { marketId: number | null }) {
  const { data, error, loading } = usePending(marketId)
  const [done, setDone] = useState<Record<number, string>>({})
  const [failure, setFailure] = useState<string | null>(null)

  async function decide(wager: PendingWager, approve: boolean) {
    setFailure(null)
    const answer = approve
      ? await call('approve_wager', { wager_id: wager.wager_id })
      : await call('reject_wager', { wager_id: wager.wager_id, reason: 'rejected by an admin' })
    if (!answer.ok) setFailure(`Wager ${wager.wager_id}: ${answer.refusal.text}`)
    else setDone({ ...done, [wager.wager_id]: approve ? 'approved' : 'rejected' })
  }

  const pending = data ?? []
  return (
    <section className="card" aria-labelledby="pending-title">
      <h2 id="pending-title">
        Waiting for approval <span className="badge" data-testid="pending-count">{pending.length}</span>
      </h2>
      {error && <p className="error">{error}</p>}
      {failure && (
        <p className="error" role="alert">
          {failure}
        </p>
      )}
      <Table
        className="pending"
        rows={pending}
        rowKey={(w) => w.wager_id}
        rowProps={(w) => ({ 'data-wager-id': w.wager_id })}
        empty="No wager is waiting."
        loading={loading}
        columns={[
          { header: 'Wager', cell: (w) => `#${w.wager_id}` },
          marketId === null && {
            header: 'Market',
            cell: (w) => (
              <a href={`/admin/markets/${w.market_id}`} onClick={follow}>
                {w.market_title}
              </a>
            ),
          },
          { header: 'Bettor', cell: (w) => w.username ?? w.email ?? '–' },
          { header: 'Outcome', cell: (w) => w.outcome_label },
          { header: 'Stake', numeric: true, cell: (w) => formatMinor(w.stake) },
          { header: 'Odds', numeric: true, cell: (w) => formatOdds(w.odds, 4) },
          { header: 'Pays', numeric: true, cell: (w) => formatMinor(w.potential_payout) },
          { header: 'Impact', numeric: true, cell: (w) => `${w.price_impact_pp.toFixed(2)} pp` },
          {
            header: 'Decide',
            cellProps: () => ({ className: 'row-actions' }),
            cell: (w) =>
              done[w.wager_id] ? (
                <span className="muted">{done[w.wager_id]}…</span>
              ) : (
                <>
                  <button type="button" className="primary small" aria-label={`Approve wager ${w.wager_id}`} onClick={() => void decide(w, true)}>
                    Approve
                  </button>
                  <button type="button" className="secondary small" aria-label={`Reject wager ${w.wager_id}`} onClick={() => void decide(w, false)}>
                    Reject
                  </button>
                </>
              ),
          },
        ]}
      />
    </section>
  )
}
