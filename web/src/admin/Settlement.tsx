// Settlement review (DBGP 6.4, docs/settlement-review.md): pick the winner, see exactly what
// settle_market would do (preview_settlement: winners, losers, pools, payout per unit, every
// wager), then confirm. A market that requires a second admin is proposed here and confirmed by
// another admin (propose_settlement, confirm_settlement, cancel_settlement_proposal); whether it
// does is the market's own `settlement_requires_confirmation`, said before any preview and kept
// live (the admin feed reads the market again on a `settlement_confirmation` message).
import { useState } from 'react'
import { call, rows, useLoad } from '../load'
import { refreshMarket, type Market } from '../markets'
import { formatMinor } from '../money'
import { useWho } from '../session'
import { supabase } from '../supabase'
import { Table } from '../Table'
import { ConfirmDialog } from './ConfirmDialog'
import { useAdminRevision } from './live'

interface PreviewWager {
  wager_id: number
  username: string | null
  user_id: string
  outcome_id: number
  stake: number
  settlement: 'won' | 'lost' | 'void'
  payout: number
}

export interface Preview {
  total_pool: number
  rake: number
  net_pool: number
  winning_pool: number
  payout_per_unit: number | null
  total_paid: number
  dust: number
  house_result: number
  refunded: boolean
  winners_count: number
  losers_count: number
  winning_users: number
  wagers: PreviewWager[]
  pending_wagers: number
  pending_refunded: { wagers: number; amount: number }
  summary: string
  market_version: number
  settlement_requires_confirmation: boolean
  winning_outcome_id: number
  winning_label: string
}

interface Proposal {
  id: number
  outcome_id: number
  outcome_label: string
  status: string
  note: string | null
  preview: Partial<Preview> | null
  proposed_by: string
  proposed_by_username: string | null
  proposed_at: string
}

function Figures({ preview }: { preview: Preview }) {
  const rowsOf: [string, string][] = [
    ['Total pool', formatMinor(preview.total_pool)],
    ['Rake', formatMinor(preview.rake)],
    ['Net pool', formatMinor(preview.net_pool)],
    ['On the winner', formatMinor(preview.winning_pool)],
    ['Paid per 1.00 staked', preview.payout_per_unit === null ? '–' : preview.payout_per_unit.toFixed(4)],
    ['Paid out', formatMinor(preview.total_paid)],
    ['Dust', formatMinor(preview.dust)],
    ['House result', formatMinor(preview.house_result)],
    ['Winning / losing wagers', `${preview.winners_count} / ${preview.losers_count}`],
    ['Winning bettors', String(preview.winning_users)],
  ]
  return (
    <>
      <p className="summary" data-testid="settlement-summary">
        {preview.summary}
      </p>
      {preview.refunded && <p className="notice">Nobody backed the winner: every stake goes back, no rake.</p>}
      {preview.pending_refunded.wagers > 0 && (
        <p className="notice">
          {preview.pending_refunded.wagers} wager(s) still waiting for approval will be rejected and
          refunded ({formatMinor(preview.pending_refunded.amount)}).
        </p>
      )}
      <dl className="facts">
        {rowsOf.map(([name, value]) => (
          <div key={name}>
            <dt>{name}</dt>
            <dd>{value}</dd>
          </div>
        ))}
      </dl>
      {preview.wagers.length > 0 && (
        <details>
          <summary>Wager by wager ({preview.wagers.length})</summary>
          <Table
            rows={preview.wagers}
            rowKey={(w) => w.wager_id}
            empty="No wager."
            columns={[
              { header: 'Wager', cell: (w) => `#${w.wager_id}` },
              { header: 'Bettor', cell: (w) => w.username ?? w.user_id.slice(0, 8) },
              { header: 'Stake', numeric: true, cell: (w) => formatMinor(w.stake) },
              { header: 'Result', cell: (w) => w.settlement, cellProps: (w) => ({ className: `state-${w.settlement}` }) },
              { header: 'Payout', numeric: true, cell: (w) => formatMinor(w.payout) },
            ]}
          />
        </details>
      )}
    </>
  )
}

function Proposals({ market, proposals }: { market: Market; proposals: Proposal[] }) {
  const who = useWho()
  const me = who.session?.user.id
  const [error, setError] = useState<string | null>(null)
  const [cancelling, setCancelling] = useState<Proposal | null>(null)
  const [confirming, setConfirming] = useState<Proposal | null>(null)
  if (proposals.length === 0) return null
  return (
    <div className="stack" data-testid="proposals">
      {proposals.map((p) => (
        <div key={p.id} className="proposal">
          <p>
            <strong>Proposal #{p.id}:</strong> {p.outcome_label} wins, proposed by{' '}
            {p.proposed_by === me ? 'you' : (p.proposed_by_username ?? p.proposed_by.slice(0, 8))}
            {p.note ? ` (“${p.note}”)` : ''}.
          </p>
          {p.preview?.summary && <p className="muted">{p.preview.summary}</p>}
          {p.proposed_by === me && <p className="muted">Another administrator must confirm it.</p>}
          <span className="row-actions">
            <button type="button" className="primary small" disabled={p.proposed_by === me} onClick={() => setConfirming(p)}>
              Confirm proposal
            </button>
            <button type="button" className="secondary small" onClick={() => setCancelling(p)}>
              Cancel proposal
            </button>
          </span>
        </div>
      ))}
      {error && (
        <p className="error" role="alert">
          {error}
        </p>
      )}
      {confirming && (
        <ConfirmDialog
          title={`Settle on ${confirming.outcome_label}?`}
          consequences={[
            `pay out the market as proposed (${confirming.preview?.summary ?? 'see the proposal'});`,
            'if wagers were approved or rejected since, the settlement pays what the market holds now;',
            'this is final, short of a correction (unsettle or resettle).',
          ]}
          confirmLabel="Confirm and settle"
          onConfirm={async () => {
            const answer = await call('confirm_settlement', { market_id: market.id, proposal_id: confirming.id })
            return answer.ok ? null : answer.refusal.text
          }}
          onClose={() => setConfirming(null)}
        />
      )}
      {cancelling && (
        <ConfirmDialog
          title={`Cancel proposal #${cancelling.id}?`}
          consequences={['drop the proposal; the market stays closed and can be proposed again.']}
          confirmLabel="Cancel the proposal"
          reason={{ label: 'Reason', required: true }}
          onConfirm={async (reason) => {
            const answer = await call('cancel_settlement_proposal', { market_id: market.id, reason })
            if (!answer.ok) setError(answer.refusal.text)
            return answer.ok ? null : answer.refusal.text
          }}
          onClose={() => setCancelling(null)}
        />
      )}
    </div>
  )
}

export function Settlement({ market }: { market: Market }) {
  const revision = useAdminRevision()
  const [winner, setWinner] = useState<number | null>(null)
  const [preview, setPreview] = useState<Preview | null>(null)
  const [error, setError] = useState<string | null>(null)
  const [settling, setSettling] = useState(false)
  const [note, setNote] = useState('')
  const [done, setDone] = useState<string | null>(null)
  const proposals = useLoad(
    () =>
      rows<Proposal>(
        supabase()
          .from('settlement_proposals')
          .select('id,outcome_id,outcome_label,status,note,preview,proposed_by,proposed_by_username,proposed_at')
          .eq('market_id', market.id)
          .eq('status', 'pending'),
      ),
    [market.id, market.version, revision, done],
  )
  const pendingProposals = proposals.data ?? []
  const settleable = market.status === 'open' || market.status === 'closed'

  async function review(outcomeId: number) {
    setWinner(outcomeId)
    setError(null)
    setDone(null)
    const answer = await call<Preview>('preview_settlement', { market_id: market.id, outcome_id: outcomeId })
    if (answer.ok) setPreview(answer.data)
    else {
      setPreview(null)
      setError(answer.refusal.text)
    }
  }

  async function twoStep(required: boolean) {
    setError(null)
    const answer = await call('require_settlement_confirmation', { market_id: market.id, required })
    if (!answer.ok) {
      setError(answer.refusal.text)
      return
    }
    refreshMarket(market.id)
    if (winner !== null) await review(winner)
  }

  async function propose() {
    if (winner === null) return
    const answer = await call('propose_settlement', { market_id: market.id, outcome_id: winner, note: note || null })
    if (!answer.ok) setError(answer.refusal.text)
    else setDone('Proposed: another administrator must confirm it.')
  }

  if (!settleable)
    return (
      <section className="card" aria-labelledby="settle-title">
        <h2 id="settle-title">Settlement</h2>
        <p className="muted">
          {market.status === 'settled'
            ? 'Settled. A wrong result is corrected below.'
            : market.status === 'void'
              ? 'Called off: every stake went back.'
              : 'A draft cannot be settled: open or void it.'}
        </p>
      </section>
    )
  const twoStepOn = market.settlement_requires_confirmation
  return (
    <section className="card stack" aria-labelledby="settle-title">
      <h2 id="settle-title">Settlement review</h2>
      <p className={twoStepOn ? 'notice' : 'muted'} data-testid="settlement-mode">
        {twoStepOn
          ? 'This market needs a second administrator to settle: propose the winner here, and another administrator confirms it.'
          : 'One administrator settles this market: preview the winner, then confirm.'}
      </p>
      <label className="check">
        <input type="checkbox" checked={twoStepOn} onChange={(e) => void twoStep(e.target.checked)} />{' '}
        Settlement needs a second administrator (four eyes)
      </label>
      <Proposals market={market} proposals={pendingProposals} />
      <fieldset className="pick">
        <legend>Which outcome won?</legend>
        {market.outcomes.map((o) => (
          <button
            key={o.outcome_id}
            type="button"
            className={o.outcome_id === winner ? 'pick-button picked' : 'pick-button'}
            aria-pressed={o.outcome_id === winner}
            onClick={() => void review(o.outcome_id)}
          >
            <span className="chip" style={{ background: o.color ?? undefined }} aria-hidden="true" />
            <span>Preview: {o.label} wins</span>
            <span />
          </button>
        ))}
      </fieldset>
      {error && (
        <p className="error" role="alert">
          {error}
        </p>
      )}
      {done && (
        <p className="success" role="status">
          {done}
        </p>
      )}
      {preview && (
        <div className="stack settlement-preview" data-testid="settlement-preview">
          <Figures preview={preview} />
          {market.version !== preview.market_version && (
            <p className="notice">The market moved since this preview. <button type="button" className="small secondary" onClick={() => void review(preview.winning_outcome_id)}>Preview again</button></p>
          )}
          {twoStepOn || pendingProposals.length > 0 ? (
            <div className="stack">
              <label>
                Note for the confirming admin
                <input value={note} onChange={(e) => setNote(e.target.value)} maxLength={500} />
              </label>
              <button type="button" className="primary" disabled={pendingProposals.length > 0} onClick={() => void propose()}>
                Propose: {preview.winning_label} wins
              </button>
            </div>
          ) : (
            <button type="button" className="primary" onClick={() => setSettling(true)}>
              Confirm settlement: {preview.winning_label} wins
            </button>
          )}
        </div>
      )}
      {settling && preview && (
        <ConfirmDialog
          title={`Settle “${market.title}” on ${preview.winning_label}?`}
          consequences={[
            `close the market if it is still open, and pay ${formatMinor(preview.total_paid)} to ` +
              `${preview.winning_users} winning bettor(s) from its escrow;`,
            `leave the house ${formatMinor(preview.house_result)} (a negative result is paid by the house);`,
            ...(preview.pending_refunded.wagers > 0
              ? [`reject and refund the ${preview.pending_refunded.wagers} wager(s) still waiting for approval;`]
              : []),
            'this is final, short of a correction (unsettle or resettle).',
          ]}
          confirmLabel="Settle now"
          onConfirm={async () => {
            const answer = await call('settle_market', { market_id: market.id, outcome_id: preview.winning_outcome_id })
            if (answer.ok) setDone(`Settled: ${preview.winning_label} won.`)
            return answer.ok ? null : answer.refusal.text
          }}
          onClose={() => setSettling(false)}
        />
      )}
    </section>
  )
}
