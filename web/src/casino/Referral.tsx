// Referrals: the player's own code and what their referred players brought them (get_affiliate),
// "Claim commission" (claim_affiliate_commission), and who referred them (set_referrer: once,
// before their first bet; a refusal said in words).
import { useState, type FormEvent } from 'react'
import { call, useLoad } from '../load'
import { useMe } from '../me'
import { formatMinor } from '../money'
import { claim, useTick, type Affiliate, type Said } from './rewards'

export function Referral() {
  const { userId, ledgerRevision } = useMe()
  const tick = useTick()
  const [changed, setChanged] = useState(0)
  const figures = useLoad(userId ? () => call<Affiliate>('get_affiliate') : null, [userId, ledgerRevision, tick, changed])
  const [code, setCode] = useState('')
  const [busy, setBusy] = useState(false)
  const [message, setMessage] = useState<Said | null>(null)
  const data = figures.data

  async function setReferrer(event: FormEvent) {
    event.preventDefault()
    setBusy(true)
    const answer = await call<{ referrer: string }>('set_referrer', { code })
    setBusy(false)
    setChanged((n) => n + 1)
    setMessage(answer.ok ? { ok: true, text: `Referred by ${answer.data.referrer}.` } : { ok: false, text: answer.refusal.text })
  }

  async function claimCommission() {
    setBusy(true)
    setMessage(await claim('claim_affiliate_commission', 'commission'))
    setBusy(false)
    setChanged((n) => n + 1)
  }

  return (
    <section className="card stack" aria-labelledby="referral-title">
      <h2 id="referral-title">Referrals</h2>
      {figures.error && <p className="error">{figures.error}</p>}
      <dl className="facts column">
        <div>
          <dt>Your referral code</dt>
          <dd>
            <code data-testid="referral-code">{data?.code ?? '…'}</code>
          </dd>
        </div>
        <div>
          <dt>Players you referred</dt>
          <dd data-testid="referred-players">{data?.referred_players ?? '…'}</dd>
        </div>
        <div>
          <dt>Commission to claim{data ? ` (${data.share_bps / 100}% of their losses)` : ''}</dt>
          <dd data-testid="commission-claimable">{formatMinor(data?.claimable)}</dd>
        </div>
        <div>
          <dt>Referred by</dt>
          <dd data-testid="referred-by">{data ? (data.referred_by ?? 'nobody') : '…'}</dd>
        </div>
      </dl>
      <button type="button" className="secondary" disabled={busy || !data || data.claimable <= 0} onClick={() => void claimCommission()}>
        Claim commission
      </button>
      <form className="stack" onSubmit={(e) => void setReferrer(e)} aria-label="Who referred you">
        <label>
          Who referred you? Their code
          <input value={code} maxLength={64} onChange={(e) => setCode(e.target.value)} spellCheck={false} />
        </label>
        <button type="submit" className="secondary" disabled={busy || code.trim() === ''}>
          Set referrer
        </button>
      </form>
      {message && (
        <p role={message.ok ? 'status' : 'alert'} className={message.ok ? 'muted' : 'error'} data-testid="referral-message">
          {message.text}
        </p>
      )}
    </section>
  )
}
