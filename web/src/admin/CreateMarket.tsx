// Create a market (create_market): both kinds and every option it accepts (rpc/20_markets.sql).
// An option left empty is not sent, so the engine's default (app.config) applies. Amounts are
// typed as money and sent in minor units; basis points as whole numbers.
import { useState, type FormEvent } from 'react'
import { call } from '../load'
import { refreshMarket } from '../markets'
import { parseMinor } from '../money'

interface OutcomeInput {
  label: string
  color: string
  abbreviation: string
}

const PALETTE = ['#3b82f6', '#ef4444', '#22c55e', '#f59e0b', '#a855f7', '#14b8a6']
const blank = (index: number): OutcomeInput => ({ label: '', color: PALETTE[index % 6], abbreviation: '' })
const WHOLE = /^\s*\d{1,4}\s*$/

type Kind = 'fixed_odds' | 'parimutuel'

export function CreateMarket({ onCreated }: { onCreated?: (id: number) => void }) {
  const [title, setTitle] = useState('')
  const [kind, setKind] = useState<Kind>('fixed_odds')
  const [outcomes, setOutcomes] = useState<OutcomeInput[]>([blank(0), blank(1)])
  const [description, setDescription] = useState('')
  const [category, setCategory] = useState('real')
  const [draft, setDraft] = useState(false)
  const [closesAt, setClosesAt] = useState('')
  const [approval, setApproval] = useState(false)
  const [twoStep, setTwoStep] = useState(false)
  const [amounts, setAmounts] = useState({ virtual_stake: '', margin: '', min_cap: '', max_payout: '' })
  const [bps, setBps] = useState({ commission_bps: '', rake_bps: '' })
  const [busy, setBusy] = useState(false)
  const [message, setMessage] = useState<{ ok: boolean; text: string } | null>(null)

  function setOutcome(index: number, patch: Partial<OutcomeInput>) {
    setOutcomes(outcomes.map((o, i) => (i === index ? { ...o, ...patch } : o)))
  }

  function options(): Record<string, unknown> | string {
    const chosen: Record<string, unknown> = { category, status: draft ? 'draft' : 'open' }
    if (description.trim()) chosen.description = description.trim()
    if (closesAt) chosen.closes_at = new Date(closesAt).toISOString()
    if (approval) chosen.requires_approval = true
    const moneyKeys = kind === 'fixed_odds' ? ['virtual_stake', 'margin', 'min_cap', 'max_payout'] : ['max_payout']
    for (const key of moneyKeys) {
      const text = amounts[key as keyof typeof amounts]
      if (!text.trim()) continue
      const minor = parseMinor(text)
      if (minor === null || minor <= 0) return `${key.replace('_', ' ')}: enter an amount like 100 or 12.50.`
      chosen[key] = minor
    }
    for (const key of kind === 'fixed_odds' ? ['commission_bps'] : ['rake_bps']) {
      const text = bps[key as keyof typeof bps]
      if (!text.trim()) continue
      if (!WHOLE.test(text)) return `${key.replace('_', ' ')}: a whole number of basis points.`
      chosen[key] = Number(text.trim())
    }
    return chosen
  }

  async function submit(event: FormEvent) {
    event.preventDefault()
    setMessage(null)
    const chosen = options()
    if (typeof chosen === 'string') {
      setMessage({ ok: false, text: chosen })
      return
    }
    setBusy(true)
    const created = await call<{ id: number; title: string }>('create_market', {
      title,
      kind,
      outcomes: outcomes.map((o) => ({
        label: o.label,
        color: o.color,
        ...(o.abbreviation.trim() ? { abbreviation: o.abbreviation.trim() } : {}),
      })),
      options: chosen,
    })
    if (!created.ok) {
      setBusy(false)
      setMessage({ ok: false, text: created.refusal.text })
      return
    }
    let note = ''
    if (twoStep) {
      const set = await call('require_settlement_confirmation', { market_id: created.data.id, required: true })
      note = set.ok ? ' Its settlement needs a second admin.' : ` But: ${set.refusal.text}`
    }
    setBusy(false)
    setMessage({ ok: true, text: `Created market ${created.data.id}: ${created.data.title}.${note}` })
    setTitle('')
    setDescription('')
    setOutcomes([blank(0), blank(1)])
    refreshMarket(created.data.id)
    onCreated?.(created.data.id)
  }

  return (
    <form className="card stack create-market" onSubmit={submit} aria-labelledby="create-title">
      <h2 id="create-title">Create a market</h2>
      <div className="grid-2">
        <label>
          Title
          <input name="title" required maxLength={200} value={title} onChange={(e) => setTitle(e.target.value)} />
        </label>
        <label>
          Kind
          <select name="kind" value={kind} onChange={(e) => setKind(e.target.value as Kind)}>
            <option value="fixed_odds">Fixed odds (BetMarket)</option>
            <option value="parimutuel">Pool, parimutuel (DBGP)</option>
          </select>
        </label>
      </div>
      <fieldset className="outcome-inputs">
        <legend>Outcomes (2 to 32)</legend>
        {outcomes.map((o, i) => (
          <div className="outcome-input" key={i}>
            <label>
              Outcome {i + 1}
              <input
                name={`outcome-${i + 1}`}
                required
                maxLength={100}
                value={o.label}
                onChange={(e) => setOutcome(i, { label: e.target.value })}
              />
            </label>
            <label>
              Colour
              <input type="color" value={o.color} onChange={(e) => setOutcome(i, { color: e.target.value })} />
            </label>
            <label>
              Short
              <input maxLength={8} value={o.abbreviation} onChange={(e) => setOutcome(i, { abbreviation: e.target.value })} />
            </label>
            <button
              type="button"
              className="secondary small"
              disabled={outcomes.length <= 2}
              aria-label={`Remove outcome ${i + 1}`}
              onClick={() => setOutcomes(outcomes.filter((_, j) => j !== i))}
            >
              ✕
            </button>
          </div>
        ))}
        <button
          type="button"
          className="secondary small"
          disabled={outcomes.length >= 32}
          onClick={() => setOutcomes([...outcomes, blank(outcomes.length)])}
        >
          Add an outcome
        </button>
      </fieldset>
      <label>
        Description
        <input name="description" value={description} onChange={(e) => setDescription(e.target.value)} />
      </label>
      <div className="grid-3">
        <label>
          Category
          <select name="category" value={category} onChange={(e) => setCategory(e.target.value)}>
            <option value="real">Real</option>
            <option value="virtual">Virtual</option>
          </select>
        </label>
        <label>
          Closes at (optional)
          <input type="datetime-local" name="closes_at" value={closesAt} onChange={(e) => setClosesAt(e.target.value)} />
        </label>
        <div className="checks">
          <label className="check">
            <input type="checkbox" checked={draft} onChange={(e) => setDraft(e.target.checked)} /> Keep as a draft
          </label>
          <label className="check">
            <input type="checkbox" checked={approval} onChange={(e) => setApproval(e.target.checked)} /> Wagers need approval
          </label>
          <label className="check">
            <input type="checkbox" checked={twoStep} onChange={(e) => setTwoStep(e.target.checked)} /> Settlement needs a second admin
          </label>
        </div>
      </div>
      <details>
        <summary>Pricing options (empty: the engine's defaults)</summary>
        <div className="grid-3">
          {kind === 'fixed_odds' ? (
            <>
              <label>
                Virtual stake per outcome
                <input inputMode="decimal" placeholder="100.00" value={amounts.virtual_stake}
                  onChange={(e) => setAmounts({ ...amounts, virtual_stake: e.target.value })} />
              </label>
              <label>
                Commission (basis points)
                <input inputMode="numeric" placeholder="5000" value={bps.commission_bps}
                  onChange={(e) => setBps({ ...bps, commission_bps: e.target.value })} />
              </label>
              <label>
                Margin
                <input inputMode="decimal" placeholder="50.00" value={amounts.margin}
                  onChange={(e) => setAmounts({ ...amounts, margin: e.target.value })} />
              </label>
              <label>
                Minimum cap
                <input inputMode="decimal" placeholder="10.00" value={amounts.min_cap}
                  onChange={(e) => setAmounts({ ...amounts, min_cap: e.target.value })} />
              </label>
            </>
          ) : (
            <label>
              Rake (basis points, 0 to 2500)
              <input inputMode="numeric" placeholder="500" value={bps.rake_bps}
                onChange={(e) => setBps({ ...bps, rake_bps: e.target.value })} />
            </label>
          )}
          <label>
            Maximum payout per wager
            <input inputMode="decimal" placeholder="1000000.00" value={amounts.max_payout}
              onChange={(e) => setAmounts({ ...amounts, max_payout: e.target.value })} />
          </label>
        </div>
      </details>
      {message && (
        <p className={message.ok ? 'success' : 'error'} role={message.ok ? 'status' : 'alert'}>
          {message.text}
        </p>
      )}
      <button type="submit" className="primary" disabled={busy}>
        Create market
      </button>
    </form>
  )
}
