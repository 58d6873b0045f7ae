// The provably-fair page of a virtual market (docs/provably-fair.md): the commitment published
// before the first wager, the client seed fixed at close, and once revealed the seed and the
// draw recomputed step by step, as verify_draw answers them. The browser checks the hashes and
// the number again itself (Web Crypto), so nobody has to take the server's word for it. It
// follows the market's `draw_revealed` message live.
import { useEffect, useState } from 'react'
import { call, useLoad } from '../load'
import { useMarket } from '../markets'
import { follow } from '../router'
import { supabase } from '../supabase'
import { hmacSha256, sha256 } from '../fair'

interface Verification {
  template: 'roulette' | 'dice'
  params: Record<string, unknown>
  status: string
  server_seed_hash: string
  nonce: number
  drawn: boolean
  revealed: boolean
  client_seed?: string
  wager_ids?: number[]
  client_seed_input?: string
  hmac_message?: string
  server_seed?: string
  reveal_reason?: string
  seed_matches_hash?: boolean
  client_seed_matches?: boolean
  hmac?: string
  result?: number
  result_text?: string
  outcome?: { outcome_id: number; label: string }
  draw_matches?: boolean
  outcome_matches_settlement?: boolean | null
  verified?: boolean
}

const LIMIT = { roulette: 37, dice: 10000 }

interface BrowserCheck {
  seedHash: string
  clientSeed: string | null
  hmac: string | null
  number: number | null
}

/** The same recomputation in the browser (null where there is nothing to recompute yet). */
async function recompute(v: Verification): Promise<BrowserCheck | null> {
  if (!v.server_seed || !crypto?.subtle) return null
  const seedHash = await sha256(v.server_seed)
  if (!v.client_seed_input || !v.client_seed) return { seedHash, clientSeed: null, hmac: null, number: null }
  const clientSeed = await sha256(v.client_seed_input)
  const mac = await hmacSha256(v.server_seed, `${v.client_seed}:${v.nonce}`)
  // the first 4 bytes as an unsigned integer, times the limit, divided by 2^32 (integers only)
  const number = Number((BigInt(`0x${mac.slice(0, 8)}`) * BigInt(LIMIT[v.template])) >> 32n)
  return { seedHash, clientSeed, hmac: mac, number }
}

function Check({ ok, label }: { ok: boolean | null | undefined; label: string }) {
  if (ok === null || ok === undefined) return null
  return <span className={ok ? 'check-ok' : 'check-bad'}>{ok ? `✓ ${label}` : `✗ ${label}`}</span>
}

export function FairPage({ id }: { id: number }) {
  const market = useMarket(id)
  const [revealed, setRevealed] = useState(0)
  const { data: v, error } = useLoad(
    () => call<Verification>('verify_draw', { market_id: id }),
    [id, market?.version, market?.status, revealed],
  )
  const [mine, setMine] = useState<BrowserCheck | null>(null)

  useEffect(() => {
    const channel = supabase()
      .channel(`market:${id}`)
      .on('broadcast', { event: 'draw_revealed' }, () => setRevealed((n) => n + 1))
      .subscribe()
    return () => {
      void supabase().removeChannel(channel)
    }
  }, [id])

  useEffect(() => {
    if (v) void recompute(v).then(setMine)
  }, [v])

  return (
    <main className="page fair" data-testid="fair">
      <p>
        <a href={`/markets/${id}`} onClick={follow}>
          ← {market?.title ?? `Market ${id}`}
        </a>
      </p>
      <h1>Provably fair draw</h1>
      {error && <p className="error">{error}</p>}
      {v && (
        <>
          <p className="muted">
            {v.template === 'roulette' ? 'Roulette, a single zero: pockets 0 to 36.' : `Dice: a roll from 0.00 to 99.99.`}{' '}
            {v.revealed
              ? `The seed is revealed (${v.reveal_reason === 'void' ? 'the market was called off' : 'the market is settled'}).`
              : v.drawn
                ? 'Drawn at close; the seed is revealed with the settlement.'
                : 'The seed is secret until the draw; its hash was published before the first wager.'}
          </p>
          {v.revealed && v.verified !== undefined && (
            <p className={v.verified ? 'success' : 'error'} data-testid="verified">
              {v.verified ? 'Every check holds: this draw is the one committed to.' : 'A check failed: this draw is not the one committed to.'}
            </p>
          )}
          <ol className="steps">
            <li>
              <strong>The commitment</strong>, published before any wager: SHA-256 of the secret server seed.
              <br />
              <code data-testid="seed-hash">{v.server_seed_hash}</code>
            </li>
            <li>
              <strong>The client seed</strong>, fixed at close from the wagers in play (nobody picks it):
              {v.client_seed_input === undefined ? (
                <p className="muted">Not yet: the market has not closed.</p>
              ) : (
                <>
                  <br />
                  input <code>{v.client_seed_input}</code> (market {v.nonce}, wagers {(v.wager_ids ?? []).join(', ') || 'none'})
                  <br />
                  SHA-256 → <code>{v.client_seed}</code> <Check ok={v.client_seed_matches} label="matches" />
                  {mine?.clientSeed && <> <Check ok={mine.clientSeed === v.client_seed} label="checked by your browser" /></>}
                </>
              )}
            </li>
            <li>
              <strong>The server seed</strong>, revealed after the draw:
              {v.server_seed === undefined ? (
                <p className="muted">Secret until the market is settled or called off.</p>
              ) : (
                <>
                  <br />
                  <code data-testid="server-seed">{v.server_seed}</code>
                  <br />
                  its SHA-256 is the commitment: <Check ok={v.seed_matches_hash} label="server" />{' '}
                  {mine && <Check ok={mine.seedHash === v.server_seed_hash} label="checked by your browser" />}
                </>
              )}
            </li>
            {v.hmac && (
              <li>
                <strong>The draw</strong>: HMAC-SHA256, key the server seed, message <code>{v.hmac_message}</code>
                <br />
                → <code>{v.hmac}</code> {mine?.hmac && <Check ok={mine.hmac === v.hmac} label="checked by your browser" />}
                <br />
                first 4 bytes <code>{v.hmac.slice(0, 8)}</code> = {parseInt(v.hmac.slice(0, 8), 16)}; ×{' '}
                {LIMIT[v.template]} ÷ 2³², rounded down = <strong data-testid="draw-result">{v.result}</strong>{' '}
                {mine?.number !== null && mine?.number !== undefined && (
                  <Check ok={mine.number === v.result} label="checked by your browser" />
                )}
              </li>
            )}
            {v.outcome && (
              <li>
                <strong>The result</strong>: {v.result_text} → <strong data-testid="draw-outcome">{v.outcome.label}</strong>{' '}
                <Check ok={v.draw_matches} label="same as drawn at close" />{' '}
                <Check ok={v.outcome_matches_settlement} label="same as the settlement" />
              </li>
            )}
          </ol>
        </>
      )}
    </main>
  )
}
