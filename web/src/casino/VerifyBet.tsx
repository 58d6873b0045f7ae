// "Verify a bet": one of the player's bets recomputed in the browser (rng.ts, Web Crypto) from a
// seed pair: the revealed one, prefilled, or any values typed over it. Match when the server
// seed's SHA-256 is the bet's commitment, the round's id is the bet's, and the recomputed result
// is the recorded one. A bet whose pair is still active cannot be checked yet: it says so.
import { useState, type FormEvent } from 'react'
import { gameOf } from './registry'
import { verifyBet, type Verdict } from './rng'
import type { HouseBet } from './types'

export function VerifyBet({ bet }: { bet: HouseBet }) {
  const game = gameOf(bet.game)
  const [serverSeed, setServerSeed] = useState(bet.server_seed ?? '')
  const [clientSeed, setClientSeed] = useState(bet.client_seed)
  const [nonceText, setNonceText] = useState(String(bet.nonce))
  const [verdict, setVerdict] = useState<Verdict | null>(null)

  if (!game) return <p className="muted">This app cannot recompute {bet.game} bets yet.</p>
  if (!bet.server_seed)
    return (
      <p className="notice" data-testid="not-revealed">
        The seed pair of this bet is still active, so its server seed is secret: rotate your seeds to reveal it, then
        verify the bet.
      </p>
    )

  async function check(event: FormEvent) {
    event.preventDefault()
    if (!game || !/^\d{1,15}$/.test(nonceText)) return
    setVerdict(await verifyBet(game, bet, { serverSeed, clientSeed, nonce: Number(nonceText) }))
  }

  const mark = (ok: boolean, label: string) => <li className={ok ? 'check-ok' : 'check-bad'}>{`${ok ? '✓' : '✗'} ${label}`}</li>
  return (
    <form className="stack verify" onSubmit={(e) => void check(e)} aria-label="Verify the bet">
      <p className="muted">
        {game.name} bet {bet.id}: {game.describeChoice(bet.params)}, recorded result{' '}
        <strong>{bet.result ? game.describeResult(bet.result) : '–'}</strong>. HMAC-SHA256(server seed,
        &quot;client seed:nonce:0&quot;), recomputed by your browser.
      </p>
      <label>
        Server seed
        <input value={serverSeed} onChange={(e) => setServerSeed(e.target.value.trim())} spellCheck={false} />
      </label>
      <label>
        Client seed
        <input value={clientSeed} onChange={(e) => setClientSeed(e.target.value)} spellCheck={false} />
      </label>
      <label>
        Nonce
        <input inputMode="numeric" value={nonceText} onChange={(e) => setNonceText(e.target.value)} />
      </label>
      <button type="submit" className="primary">
        Verify
      </button>
      {verdict && (
        <div data-testid="verdict" data-matches={verdict.matches}>
          <p className={verdict.matches ? 'success' : 'error'} role="status">
            {verdict.matches
              ? 'Match: this bet is the one committed to.'
              : 'Mismatch: these values do not give this bet.'}
          </p>
          <ul className="checks-list">
            {mark(verdict.seedMatches, 'the server seed hashes to the commitment shown before the bet')}
            {mark(verdict.idMatches, "the round's id is the bet's")}
            {mark(verdict.resultMatches, `the result recomputes to ${game.describeResult(verdict.result)}`)}
          </ul>
        </div>
      )}
    </form>
  )
}
