// Open, close and void a market (open_market, close_market, void_market), the void behind a
// confirmation that names the refunds and asks for the reason the audit log keeps.
import { useState } from 'react'
import { call } from '../load'
import type { Market } from '../markets'
import { formatMinor } from '../money'
import { ConfirmDialog } from './ConfirmDialog'

export function MarketActions({ market, pending }: { market: Market; pending: number }) {
  const [error, setError] = useState<string | null>(null)
  const [voiding, setVoiding] = useState(false)
  const [busy, setBusy] = useState(false)

  async function act(fn: 'open_market' | 'close_market') {
    setBusy(true)
    setError(null)
    const answer = await call(fn, { market_id: market.id })
    setBusy(false)
    if (!answer.ok) setError(answer.refusal.text)
  }

  const live = market.status === 'draft' || market.status === 'open' || market.status === 'closed'
  return (
    <span className="row-actions">
      {market.status === 'draft' && (
        <button type="button" className="primary small" disabled={busy} onClick={() => void act('open_market')}
          aria-label={`Open market ${market.id}`}>
          Open
        </button>
      )}
      {market.status === 'open' && (
        <button type="button" className="secondary small" disabled={busy} onClick={() => void act('close_market')}
          aria-label={`Close market ${market.id}`}>
          Close
        </button>
      )}
      {live && (
        <button type="button" className="danger small" onClick={() => setVoiding(true)} aria-label={`Void market ${market.id}`}>
          Void
        </button>
      )}
      {error && (
        <span className="error" role="alert">
          {error}
        </span>
      )}
      {voiding && (
        <ConfirmDialog
          title={`Void “${market.title}”?`}
          consequences={[
            'call the market off for good: it takes no more wagers and is never settled;',
            `give every stake back from its escrow: ${formatMinor(market.total_pool)} accepted` +
              (pending > 0 ? `, and the stakes of ${pending} wager(s) waiting for approval` : '') +
              ', each to the bettor who placed it;',
            'tell every bettor on the board at once.',
          ]}
          confirmLabel="Void the market"
          danger
          reason={{ label: 'Reason (kept in the audit log)', required: true }}
          onConfirm={async (reason) => {
            const answer = await call('void_market', { market_id: market.id, reason })
            return answer.ok ? null : answer.refusal.text
          }}
          onClose={() => setVoiding(false)}
        />
      )}
    </span>
  )
}
