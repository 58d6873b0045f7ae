// Corrections (docs/corrections.md): unsettle or resettle a settled market, void one accepted
// wager. Each is behind a confirmation that says who is debited, that a wallet which no longer
// holds its winnings is debited what it holds and the shortfall becomes a debt the house carries,
// and asks for the reason the audit log keeps.
import { useState } from 'react'
import { call, everyRow, rows, useLoad } from '../load'
import type { Market } from '../markets'
import { formatMinor, formatOdds } from '../money'
import { supabase } from '../supabase'
import { Table } from '../Table'
import { ConfirmDialog } from './ConfirmDialog'
import { useAdminRevision } from './live'

interface SettlementRow {
  winning_outcome_id: number
  total_pool: number
  total_paid: number
  house_result: number
  winning_users: number
  winners_count: number
  refunded: boolean
}

export interface AdminWager {
  id: number
  user_id: string
  market_id: number
  market_title: string
  outcome_label: string
  stake: number
  odds: number
  potential_payout: number
  approval: string
  settlement: string
  payout: number | null
  created_at: string
}

interface Debt {
  id: number
  user_id: string
  amount: number
  created_at: string
}

type Pending =
  | { kind: 'unsettle' }
  | { kind: 'resettle'; outcomeId: number }
  | { kind: 'void'; wager: AdminWager }

export const WAGER_COLUMNS =
  'id,user_id,market_id,market_title,outcome_label,stake,odds,potential_payout,approval,settlement,payout,created_at'

export function useMarketWagers(marketId: number, version: number) {
  const revision = useAdminRevision()
  return useLoad(
    () =>
      rows<AdminWager>(
        supabase().from('wagers').select(WAGER_COLUMNS).eq('market_id', marketId).order('id', { ascending: false }).limit(200),
      ),
    [marketId, version, revision],
  )
}

export function Corrections({ market }: { market: Market }) {
  const [pending, setPending] = useState<Pending | null>(null)
  const [done, setDone] = useState<string | null>(null)
  const settlement = useLoad(
    () =>
      rows<SettlementRow>(
        supabase()
          .from('settlements')
          .select('winning_outcome_id,total_pool,total_paid,house_result,winning_users,winners_count,refunded')
          .eq('market_id', market.id),
      ),
    [market.id, market.version],
  )
  const wagers = useMarketWagers(market.id, market.version)
  const debts = useLoad(
    () =>
      everyRow<Debt>((from, to) =>
        supabase().from('user_debts').select('id,user_id,amount,created_at').eq('market_id', market.id).order('id').range(from, to),
      ),
    [market.id, market.version],
  )
  const settled = settlement.data?.[0] ?? null
  const winner = market.outcomes.find((o) => o.outcome_id === market.winning_outcome_id)
  const voidable = (wagers.data ?? []).filter((w) => w.approval === 'accepted' && w.settlement === 'open')
  const canVoid = market.status === 'open' || market.status === 'closed'

  const reversal = settled
    ? [
        `take back what the settlement paid: ${formatMinor(settled.total_paid)} from ${settled.winning_users} ` +
          `bettor(s) who were paid${winner ? ` on ${winner.label}` : ''}, each debited what they received;`,
        'debit a wallet that no longer holds its winnings only what it holds: the shortfall becomes a ' +
          'debt the house carries (listed below, never skipped);',
        `reverse the house's result of ${formatMinor(settled.house_result)} and put the stakes ` +
          `(${formatMinor(settled.total_pool)}) back in escrow;`,
      ]
    : []

  const dialog = (() => {
    if (!pending) return null
    if (pending.kind === 'void') {
      const w = pending.wager
      return (
        <ConfirmDialog
          title={`Void wager #${w.id}?`}
          consequences={[
            `give its stake of ${formatMinor(w.stake)} back from escrow to the bettor who placed it;`,
            `take it out of ${w.outcome_label}'s pool, so the odds move back as if it was never placed;`,
            'if that bettor owes the house from a correction of this market, keep the refund toward the debt.',
          ]}
          confirmLabel="Void the wager"
          danger
          reason={{ label: 'Reason (kept in the audit log)', required: true }}
          onConfirm={async (reason) => {
            const answer = await call('void_wager', { wager_id: w.id, reason })
            if (answer.ok) setDone(`Wager #${w.id} voided.`)
            return answer.ok ? null : answer.refusal.text
          }}
          onClose={() => setPending(null)}
        />
      )
    }
    const target = pending.kind === 'resettle' ? market.outcomes.find((o) => o.outcome_id === pending.outcomeId) : null
    return (
      <ConfirmDialog
        title={pending.kind === 'unsettle' ? 'Unsettle this market?' : `Resettle on ${target?.label}?`}
        consequences={[
          ...reversal,
          pending.kind === 'unsettle'
            ? 'reopen every wager the settlement decided and put the market back to closed, to be settled again;'
            : `then settle again with ${target?.label} as the winner, paying its backers at once;`,
        ]}
        confirmLabel={pending.kind === 'unsettle' ? 'Unsettle' : 'Resettle'}
        danger
        reason={{ label: 'Reason (kept in the audit log)', required: true }}
        onConfirm={async (reason) => {
          const answer =
            pending.kind === 'unsettle'
              ? await call('unsettle_market', { market_id: market.id, reason })
              : await call('resettle_market', { market_id: market.id, outcome_id: pending.outcomeId, reason })
          if (answer.ok) setDone(pending.kind === 'unsettle' ? 'Settlement reversed.' : `Resettled on ${target?.label}.`)
          return answer.ok ? null : answer.refusal.text
        }}
        onClose={() => setPending(null)}
      />
    )
  })()

  return (
    <section className="card stack" aria-labelledby="corrections-title">
      <h2 id="corrections-title">Corrections</h2>
      {done && (
        <p className="success" role="status">
          {done}
        </p>
      )}
      {market.status === 'settled' && settled && (
        <div className="stack">
          <p>
            Settled on <strong>{winner?.label ?? '–'}</strong>: {formatMinor(settled.total_paid)} paid to{' '}
            {settled.winning_users} bettor(s), house {formatMinor(settled.house_result)}.
          </p>
          <span className="row-actions">
            <button type="button" className="danger" onClick={() => setPending({ kind: 'unsettle' })}>
              Unsettle
            </button>
            {market.outcomes
              .filter((o) => o.outcome_id !== market.winning_outcome_id)
              .map((o) => (
                <button key={o.outcome_id} type="button" className="secondary" onClick={() => setPending({ kind: 'resettle', outcomeId: o.outcome_id })}>
                  Resettle on {o.label}
                </button>
              ))}
          </span>
        </div>
      )}
      {canVoid && (
        <div>
          <h3>Void one wager</h3>
          <Table
            rows={voidable}
            rowKey={(w) => w.id}
            empty="No accepted wager is open on this market."
            loading={wagers.loading}
            columns={[
              { header: 'Wager', cell: (w) => `#${w.id}` },
              { header: 'Outcome', cell: (w) => w.outcome_label },
              { header: 'Stake', numeric: true, cell: (w) => formatMinor(w.stake) },
              { header: 'Odds', numeric: true, cell: (w) => formatOdds(w.odds, 4) },
              {
                header: '',
                key: 'void',
                cell: (w) => (
                  <button type="button" className="danger small" aria-label={`Void wager ${w.id}`} onClick={() => setPending({ kind: 'void', wager: w })}>
                    Void
                  </button>
                ),
              },
            ]}
          />
        </div>
      )}
      {!canVoid && market.status !== 'settled' && <p className="muted">Nothing to correct.</p>}
      {(debts.data ?? []).length > 0 && (
        <div>
          <h3>Debts the house carries from this market</h3>
          <ul>
            {(debts.data ?? []).map((d) => (
              <li key={d.id}>
                Bettor {d.user_id.slice(0, 8)} owes {formatMinor(d.amount)}
              </li>
            ))}
          </ul>
        </div>
      )}
      {dialog}
    </section>
  )
}
