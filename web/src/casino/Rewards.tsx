// The player's rewards on the casino lobby: their level and XP (get_level), the rakeback they can
// claim with "Claim rakeback" (claim_rakeback), and referrals (Referral.tsx). Read again on the
// player's ledger moves and on a bounded interval (the jobs that count a bet run just after it).
import { useState } from 'react'
import { call, useLoad } from '../load'
import { useMe } from '../me'
import { formatMinor } from '../money'
import { Referral } from './Referral'
import { claim, useTick, type Level, type Said } from './rewards'

export function Rewards() {
  const { userId, ledgerRevision } = useMe()
  const tick = useTick()
  const [claimed, setClaimed] = useState(0)
  const level = useLoad(userId ? () => call<Level>('get_level') : null, [userId, ledgerRevision, tick, claimed])
  const [busy, setBusy] = useState(false)
  const [message, setMessage] = useState<Said | null>(null)
  if (!userId) return null
  const figures = level.data

  async function claimRakeback() {
    setBusy(true)
    const said = await claim('claim_rakeback', 'rakeback')
    setBusy(false)
    setClaimed((n) => n + 1)
    setMessage(said)
  }

  return (
    <div className="two">
      <section className="card stack" aria-labelledby="level-title">
        <h2 id="level-title">Level and rakeback</h2>
        {level.error && <p className="error">{level.error}</p>}
        <dl className="facts column">
          <div>
            <dt>Level</dt>
            <dd data-testid="level">{figures?.level ?? '…'}</dd>
          </div>
          <div>
            <dt>XP</dt>
            <dd data-testid="xp">
              {figures ? figures.xp : '…'}
              {figures?.next_level_xp != null && <span className="muted"> of {figures.next_level_xp} for the next level</span>}
            </dd>
          </div>
          <div>
            <dt>Rakeback to claim</dt>
            <dd data-testid="rakeback-claimable">{formatMinor(figures?.rakeback_claimable)}</dd>
          </div>
          <div>
            <dt>Rakeback paid so far</dt>
            <dd data-testid="rakeback-paid">{formatMinor(figures?.rakeback_paid)}</dd>
          </div>
        </dl>
        <button type="button" className="primary" disabled={busy || !figures || figures.rakeback_claimable <= 0} onClick={() => void claimRakeback()}>
          Claim rakeback
        </button>
        {message && (
          <p role={message.ok ? 'status' : 'alert'} className={message.ok ? 'muted' : 'error'} data-testid="rakeback-message">
            {message.text}
          </p>
        )}
      </section>
      <Referral />
    </div>
  )
}
