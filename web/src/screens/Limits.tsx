// Responsible play on the wallet page (docs/responsible-play.md): a daily stake limit, a daily
// deposit limit and self-exclusion, each set for the caller only. A tighter limit applies at
// once; a looser one (or removing one) waits out the cooling-off; a self-exclusion can be made
// longer but never shorter. The engine decides all of it: this shows what it answered, and how
// long the cooling-off is as the engine is set (`settings.play_limit_cooling_off_seconds`), so
// the page can say when a raised limit would apply before the bettor asks.
import { useState, type FormEvent } from 'react'
import { ConfirmDialog } from '../admin/ConfirmDialog'
import { call, rows, useLoad } from '../load'
import { useMe } from '../me'
import { formatMinor, parseMinor } from '../money'
import { supabase } from '../supabase'

interface Limits {
  self_excluded: boolean
  self_excluded_until: string | null
  daily_stake_limit: number | null
  pending_daily_stake_limit: number | null
  pending_daily_stake_limit_at: string | null
  daily_deposit_limit: number | null
  pending_daily_deposit_limit: number | null
  pending_daily_deposit_limit_at: string | null
  stake_used: number
  deposit_used: number
}

interface SetAnswer {
  effect: 'immediate' | 'pending' | 'unchanged'
  applies_at: string | null
}

const when = (iso: string | null) => (iso ? new Date(iso).toLocaleString() : '')

/** The cooling-off in words: "24 hours", "2 days 6 hours", "90 minutes"... */
export function duration(seconds: number): string {
  const plural = (n: number, unit: string) => `${n} ${unit}${n === 1 ? '' : 's'}`
  if (seconds % 3600 === 0 && seconds <= 72 * 3600) return plural(seconds / 3600, 'hour')
  if (seconds < 3600 && seconds % 60 === 0) return plural(seconds / 60, 'minute')
  const days = Math.floor(seconds / 86400)
  const hours = Math.floor((seconds % 86400) / 3600)
  const minutes = Math.floor((seconds % 3600) / 60)
  const rest = seconds % 60
  const parts = [
    days ? plural(days, 'day') : '',
    hours ? plural(hours, 'hour') : '',
    minutes ? plural(minutes, 'minute') : '',
    rest ? plural(rest, 'second') : '',
  ]
  return parts.filter(Boolean).join(' ')
}

/** The engine's cooling-off, in seconds (null until read). */
function useCoolingOff(): number | null {
  const { data } = useLoad(
    () =>
      rows<{ play_limit_cooling_off_seconds: number }>(
        supabase().from('settings').select('play_limit_cooling_off_seconds'),
      ),
    [],
  )
  return data?.[0]?.play_limit_cooling_off_seconds ?? null
}
const FOREVER = 'infinity'
const PERIODS: { label: string; hours: number | null }[] = [
  { label: '24 hours', hours: 24 },
  { label: '7 days', hours: 24 * 7 },
  { label: '30 days', hours: 24 * 30 },
  { label: '6 months', hours: 24 * 182 },
  { label: 'For good', hours: null },
]

function explain(answer: SetAnswer, what: string, coolingOff: number | null): string {
  if (answer.effect === 'immediate') return `Your ${what} applies now.`
  const wait = coolingOff === null ? '' : ` (${duration(coolingOff)})`
  if (answer.effect === 'pending')
    return `Your ${what} is looser than before, so it applies after the cooling-off${wait}, at ${when(answer.applies_at)}.`
  return `Your ${what} is unchanged.`
}

function DailyLimit({ setting, limits, coolingOff, onChange }: {
  setting: 'stake' | 'deposit'
  limits: Limits | null
  coolingOff: number | null
  onChange: () => void
}) {
  const [text, setText] = useState('')
  const [message, setMessage] = useState<{ ok: boolean; text: string } | null>(null)
  const current = setting === 'stake' ? limits?.daily_stake_limit : limits?.daily_deposit_limit
  const pending = setting === 'stake' ? limits?.pending_daily_stake_limit : limits?.pending_daily_deposit_limit
  const pendingAt = setting === 'stake' ? limits?.pending_daily_stake_limit_at : limits?.pending_daily_deposit_limit_at
  const used = setting === 'stake' ? limits?.stake_used : limits?.deposit_used
  const fn = setting === 'stake' ? 'set_daily_stake_limit' : 'set_daily_deposit_limit'
  const what = `daily ${setting} limit`

  async function set(amount: number | null) {
    const answer = await call<SetAnswer>(fn, { amount })
    if (!answer.ok) setMessage({ ok: false, text: answer.refusal.text })
    else {
      setMessage({ ok: true, text: explain(answer.data, amount === null ? `${what} removal` : what, coolingOff) })
      setText('')
      onChange()
    }
  }

  function submit(event: FormEvent) {
    event.preventDefault()
    const amount = parseMinor(text)
    if (amount === null) {
      setMessage({ ok: false, text: 'Enter an amount like 50 or 12.50 (0 allows nothing).' })
      return
    }
    void set(amount)
  }

  const title = setting === 'stake' ? 'Daily stake limit' : 'Daily deposit limit'
  return (
    <form className="stack limit" onSubmit={submit} aria-label={title}>
      <h3>{title}</h3>
      <p data-testid={`${setting}-limit`}>
        {current === null || current === undefined ? 'No limit' : `${formatMinor(current)} in any 24 hours`}
        <span className="muted"> · {formatMinor(used ?? 0)} used in the last 24 hours</span>
      </p>
      {pendingAt && (
        <p className="notice" data-testid={`${setting}-limit-pending`}>
          {pending === null ? 'No limit' : formatMinor(pending ?? 0)} from {when(pendingAt)} (cooling-off).
        </p>
      )}
      {current !== null && current !== undefined && coolingOff !== null && coolingOff > 0 && (
        <p className="muted" data-testid={`${setting}-limit-raise`}>
          A lower limit applies at once; a higher one, or removing it, asked now would apply at{' '}
          {new Date(Date.now() + coolingOff * 1000).toLocaleString()}.
        </p>
      )}
      <label>
        New limit
        <input
          name={`${setting}-limit`}
          inputMode="decimal"
          autoComplete="off"
          placeholder="50.00"
          value={text}
          onChange={(e) => {
            setText(e.target.value)
            setMessage(null)
          }}
        />
      </label>
      <span className="row-actions">
        <button type="submit" className="primary small">
          Set limit
        </button>
        <button type="button" className="secondary small" disabled={current === null || current === undefined} onClick={() => void set(null)}>
          Remove limit
        </button>
      </span>
      {message && (
        <p className={message.ok ? 'success' : 'error'} role={message.ok ? 'status' : 'alert'}>
          {message.text}
        </p>
      )}
    </form>
  )
}

function SelfExclusion({ limits, onChange }: { limits: Limits | null; onChange: () => void }) {
  const [period, setPeriod] = useState(0)
  const [asking, setAsking] = useState(false)
  const [message, setMessage] = useState<string | null>(null)
  const chosen = PERIODS[period]
  const until = () =>
    chosen.hours === null ? FOREVER : new Date(Date.now() + chosen.hours * 3600 * 1000).toISOString()
  return (
    <div className="stack limit">
      <h3>Take a break (self-exclusion)</h3>
      {limits?.self_excluded ? (
        <p className="notice" data-testid="self-excluded">
          You are excluded from betting and deposits until{' '}
          {limits.self_excluded_until === FOREVER ? 'you contact us' : when(limits.self_excluded_until)}.
          You can make it longer, never shorter. Withdrawals stay open.
        </p>
      ) : (
        <p className="muted">No wager and no deposit until the time you choose. Withdrawals stay open.</p>
      )}
      <label>
        For
        <select value={period} onChange={(e) => setPeriod(Number(e.target.value))}>
          {PERIODS.map((p, i) => (
            <option key={p.label} value={i}>
              {p.label}
            </option>
          ))}
        </select>
      </label>
      <button type="button" className="danger small" onClick={() => setAsking(true)}>
        Exclude me
      </button>
      {message && <p role="status" className="success">{message}</p>}
      {asking && (
        <ConfirmDialog
          title={`Exclude yourself ${chosen.hours === null ? 'for good' : `for ${chosen.label}`}?`}
          consequences={[
            'stop you placing any wager and making any deposit at once;',
            'last until its end: it cannot be shortened or lifted, only made longer;',
            'leave your balance yours: you can still withdraw it.',
          ]}
          confirmLabel="Exclude me"
          danger
          onConfirm={async () => {
            const answer = await call<SetAnswer>('set_self_exclusion', { until: until() })
            if (!answer.ok) return answer.refusal.text
            setMessage('You are excluded from play.')
            onChange()
            return null
          }}
          onClose={() => setAsking(false)}
        />
      )}
    </div>
  )
}

function CoolingOff({ seconds }: { seconds: number | null }) {
  if (seconds === null)
    return (
      <p className="muted" data-testid="cooling-off">
        Limits count a rolling 24 hours, not a calendar day. Lowering a limit applies at once; raising
        or removing one waits out a cooling-off, so a limit cannot be undone in a weak moment.
      </p>
    )
  if (seconds === 0)
    return (
      <p className="muted" data-testid="cooling-off">
        Limits count a rolling 24 hours, not a calendar day. Any change applies at once: no
        cooling-off is set here.
      </p>
    )
  return (
    <p className="muted" data-testid="cooling-off">
      Limits count a rolling 24 hours, not a calendar day. Lowering a limit applies at once; raising
      or removing one waits out a cooling-off of {duration(seconds)}, so a limit cannot be undone in a
      weak moment.
    </p>
  )
}

export function ResponsiblePlay() {
  const { userId } = useMe()
  const coolingOff = useCoolingOff()
  const [revision, setRevision] = useState(0)
  const reload = () => setRevision((r) => r + 1)
  const { data } = useLoad(
    () =>
      rows<Limits>(
        supabase()
          .from('my_play_limits')
          .select(
            'self_excluded,self_excluded_until,daily_stake_limit,pending_daily_stake_limit,' +
              'pending_daily_stake_limit_at,daily_deposit_limit,pending_daily_deposit_limit,' +
              'pending_daily_deposit_limit_at,stake_used,deposit_used',
          ),
      ),
    [userId, revision],
  )
  const limits = data?.[0] ?? null
  return (
    <section className="card stack" aria-labelledby="play-title">
      <h2 id="play-title">Responsible play</h2>
      <CoolingOff seconds={coolingOff} />
      <div className="three">
        <DailyLimit setting="stake" limits={limits} coolingOff={coolingOff} onChange={reload} />
        <DailyLimit setting="deposit" limits={limits} coolingOff={coolingOff} onChange={reload} />
        <SelfExclusion limits={limits} onChange={reload} />
      </div>
    </section>
  )
}
