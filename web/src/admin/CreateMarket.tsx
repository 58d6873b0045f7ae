// Create a market (create_market): both kinds and every option it accepts (rpc/20_markets.sql);
// or a virtual game (create_virtual_market, rpc/75_virtual.sql, docs/provably-fair.md): roulette or
// dice with its threshold, closing at a time given, after which the engine draws and settles it.
// A virtual market's answer carries the commitment (server_seed_hash), shown with a link to the
// market's provably-fair page. An option left empty is not sent, so the engine's default
// (app.config) applies. Amounts are typed as money and sent in minor units; basis points as whole
// numbers; the dice threshold as hundredths.
import { useState, type FormEvent } from 'react'
import { call } from '../load'
import { refreshMarket } from '../markets'
import { parseMinor } from '../money'
import { follow } from '../router'

interface OutcomeInput {
  label: string
  color: string
  abbreviation: string
}

const PALETTE = ['#3b82f6', '#ef4444', '#22c55e', '#f59e0b', '#a855f7', '#14b8a6']
const blank = (index: number): OutcomeInput => ({ label: '', color: PALETTE[index % 6], abbreviation: '' })
const WHOLE = /^\s*\d{1,4}\s*$/

type Kind = 'fixed_odds' | 'parimutuel'
type Mode = 'event' | 'virtual'
type Template = 'roulette' | 'dice'

const ROLL = /^\s*(\d{1,2})(?:[.,](\d{1,2}))?\s*$/

/** "25.5" -> 2550 hundredths (1 to 9999), null for anything else. */
export function parseThreshold(text: string): number | null {
  const match = ROLL.exec(text)
  if (!match) return null
  const hundredths = Number(match[1]) * 100 + Number((match[2] ?? '').padEnd(2, '0'))
  return hundredths >= 1 && hundredths <= 9999 ? hundredths : null
}

/** 2550 -> "25.50", as the engine writes a roll. */
const rollText = (hundredths: number) => `${Math.floor(hundredths / 100)}.${String(hundredths % 100).padStart(2, '0')}`

/** A datetime-local field's value for `minutes` from now (local time, to the minute). */
function localIn(minutes: number): string {
  const at = new Date(Date.now() + minutes * 60_000)
  const two = (n: number) => String(n).padStart(2, '0')
  return `${at.getFullYear()}-${two(at.getMonth() + 1)}-${two(at.getDate())}T${two(at.getHours())}:${two(at.getMinutes())}`
}

interface Created {
  id: number
  title: string
  outcomes: { label: string }[]
  server_seed_hash?: string
}

type Message = { ok: boolean; text: string; virtual?: { id: number; hash: string } }

export function CreateMarket({ onCreated }: { onCreated?: (id: number) => void }) {
  const [mode, setMode] = useState<Mode>('event')
  const [template, setTemplate] = useState<Template>('roulette')
  const [threshold, setThreshold] = useState('50.00')
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
  const [message, setMessage] = useState<Message | null>(null)
  const virtual = mode === 'virtual'
  const roll = parseThreshold(threshold)

  function pickMode(next: Mode) {
    setMode(next)
    setMessage(null)
    // a virtual game is a pool unless asked otherwise (the engine's default for it)
    if (next === 'virtual') setKind('parimutuel')
  }

  function setOutcome(index: number, patch: Partial<OutcomeInput>) {
    setOutcomes(outcomes.map((o, i) => (i === index ? { ...o, ...patch } : o)))
  }

  function options(): Record<string, unknown> | string {
    const chosen: Record<string, unknown> = virtual
      ? { kind, status: draft ? 'draft' : 'open' }
      : { category, status: draft ? 'draft' : 'open' }
    if (description.trim()) chosen.description = description.trim()
    if (virtual) {
      if (!closesAt) return 'A virtual game needs the time of its draw: when it closes.'
      if (template === 'dice') {
        if (roll === null) return 'Threshold: a roll from 0.01 to 99.99, like 50 or 25.50.'
        chosen.threshold = roll
      }
    } else if (closesAt) chosen.closes_at = new Date(closesAt).toISOString()
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
    const created = virtual
      ? await call<Created>('create_virtual_market', {
          template,
          title,
          closes_at: new Date(closesAt).toISOString(),
          options: chosen,
        })
      : await call<Created>('create_market', {
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
    if (virtual) {
      const labels = created.data.outcomes.map((o) => o.label).join(', ')
      setBusy(false)
      setMessage({
        ok: true,
        text: `Created virtual market ${created.data.id}: ${created.data.title} (${labels}).`,
        virtual: { id: created.data.id, hash: created.data.server_seed_hash ?? '' },
      })
      setTitle('')
      setDescription('')
      refreshMarket(created.data.id)
      onCreated?.(created.data.id)
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
      <fieldset className="modes">
        <legend>What to create</legend>
        <label className="check">
          <input type="radio" name="mode" value="event" checked={!virtual} onChange={() => pickMode('event')} /> Event
          market: you name the outcomes and settle it
        </label>
        <label className="check">
          <input type="radio" name="mode" value="virtual" checked={virtual} onChange={() => pickMode('virtual')} />{' '}
          Virtual game: roulette or dice, drawn by the engine, provably fair
        </label>
      </fieldset>
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
      {virtual ? (
        <fieldset className="outcome-inputs virtual-game">
          <legend>The game</legend>
          <div className="grid-3">
            <label>
              Game
              <select name="template" aria-label="Game" value={template} onChange={(e) => setTemplate(e.target.value as Template)}>
                <option value="roulette">Roulette (single zero)</option>
                <option value="dice">Dice (a roll from 0.00 to 99.99)</option>
              </select>
            </label>
            {template === 'dice' && (
              <label>
                Threshold (0.01 to 99.99)
                <input
                  name="threshold"
                  inputMode="decimal"
                  value={threshold}
                  aria-invalid={roll === null}
                  aria-describedby="game-outcomes"
                  onChange={(e) => setThreshold(e.target.value)}
                />
              </label>
            )}
          </div>
          <p className="muted" id="game-outcomes" data-testid="game-outcomes">
            {template === 'roulette'
              ? 'Outcomes: Red (18 pockets), Black (18 pockets), Green (the zero).'
              : roll === null
                ? 'Outcomes: Under and Over the threshold.'
                : `Outcomes: Under ${rollText(roll)} and Over ${rollText(roll)} (a roll of exactly ${rollText(roll)} is Over).`}{' '}
            The engine commits to a secret seed now and draws the result from it and the wagers in play when the
            market closes.
          </p>
        </fieldset>
      ) : (
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
      )}
      <label>
        Description
        <input name="description" value={description} onChange={(e) => setDescription(e.target.value)} />
      </label>
      <div className="grid-3">
        {!virtual && (
          <label>
            Category
            <select name="category" value={category} onChange={(e) => setCategory(e.target.value)}>
              <option value="real">Real</option>
              <option value="virtual">Virtual</option>
            </select>
          </label>
        )}
        <div>
          <label>
            {virtual ? 'Closes at (then the draw)' : 'Closes at (optional)'}
            <input
              type="datetime-local"
              name="closes_at"
              value={closesAt}
              onChange={(e) => setClosesAt(e.target.value)}
            />
          </label>
          {virtual && (
            <span className="row-actions quick-close">
              {[
                [1, '1 min'],
                [5, '5 min'],
                [60, '1 hour'],
              ].map(([minutes, text]) => (
                <button
                  key={minutes}
                  type="button"
                  className="secondary small"
                  aria-label={`Close in ${text}`}
                  onClick={() => setClosesAt(localIn(Number(minutes)))}
                >
                  +{text}
                </button>
              ))}
            </span>
          )}
        </div>
        <div className="checks">
          <label className="check">
            <input type="checkbox" checked={draft} onChange={(e) => setDraft(e.target.checked)} /> Keep as a draft
          </label>
          <label className="check">
            <input type="checkbox" checked={approval} onChange={(e) => setApproval(e.target.checked)} /> Wagers need approval
          </label>
          {!virtual && (
            <label className="check">
              <input type="checkbox" checked={twoStep} onChange={(e) => setTwoStep(e.target.checked)} /> Settlement needs a second admin
            </label>
          )}
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
      {message?.virtual ? (
        <div className="success committed" role="status">
          <p>{message.text}</p>
          <p>
            Committed before the first wager, the SHA-256 of its secret server seed:{' '}
            <code className="hash" data-testid="committed-hash">
              {message.virtual.hash}
            </code>
          </p>
          <a href={`/markets/${message.virtual.id}/fair`} onClick={follow}>
            The provably-fair page of market {message.virtual.id}
          </a>
        </div>
      ) : (
        message && (
          <p className={message.ok ? 'success' : 'error'} role={message.ok ? 'status' : 'alert'}>
            {message.text}
          </p>
        )
      )}
      <button type="submit" className="primary" disabled={busy}>
        {virtual ? 'Create virtual market' : 'Create market'}
      </button>
    </form>
  )
}
