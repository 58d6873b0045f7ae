// The player's seeds (docs/house-games.md): the active pair's commitment, client seed and next
// nonce (get_seed); a new client seed, which reveals the old pair (rotate_seed; its server seed
// read once the rotation committed, get_revealed_seed, and hashed again here); the pairs so far
// (my_seed_pairs); and the player's bets (house_bets), each of which can be verified in the browser.
import { useState, type FormEvent } from 'react'
import { call, rows, useLoad } from '../load'
import { formatMinor } from '../money'
import { follow } from '../router'
import { sha256 } from '../fair'
import { supabase } from '../supabase'
import { Table } from '../Table'
import { gameOf } from './registry'
import type { HouseBet } from './types'
import { VerifyBet } from './VerifyBet'

interface Pair {
  seed_pair_id: number
  server_seed_hash: string
  client_seed: string
  next_nonce: number
  revealed: boolean
  server_seed?: string
  last_nonce?: number | null
}

interface PairRow {
  id: number
  server_seed_hash: string
  client_seed: string
  next_nonce: number
  revealed: boolean
  server_seed: string | null
  created_at: string
  revealed_at: string | null
}

const BETS_SHOWN = 50

function Revealed({ pair }: { pair: Pair }) {
  // the seed is read after the rotation committed: rotate_seed's answer never carries it
  const seed = useLoad(() => call<Pair>('get_revealed_seed', { server_seed_hash: pair.server_seed_hash }), [pair.server_seed_hash])
  const hash = useLoad(
    seed.data?.server_seed ? async () => ({ ok: true as const, data: await sha256(seed.data?.server_seed ?? '') }) : null,
    [seed.data?.server_seed],
  )
  return (
    <div className="committed" data-testid="revealed-pair">
      <p>
        Revealed: the pair you played {pair.next_nonce} bet{pair.next_nonce === 1 ? '' : 's'} with.
      </p>
      <p>
        Commitment <code data-testid="revealed-hash">{pair.server_seed_hash}</code>
        <br />
        Server seed <code data-testid="revealed-seed">{seed.data?.server_seed ?? '…'}</code>{' '}
        {hash.data && (
          <span className={hash.data === pair.server_seed_hash ? 'check-ok' : 'check-bad'}>
            {hash.data === pair.server_seed_hash ? '✓ hashes to the commitment (checked by your browser)' : '✗ does not hash to the commitment'}
          </span>
        )}
        <br />
        Client seed <code>{pair.client_seed}</code>
      </p>
      {seed.error && <p className="error">{seed.error}</p>}
    </div>
  )
}

export function SeedsPage({ userId }: { userId: string }) {
  const [revision, setRevision] = useState(0)
  const active = useLoad(() => call<Pair>('get_seed'), [revision])
  const pairs = useLoad(
    () => rows<PairRow>(supabase().from('my_seed_pairs').select('*').order('id', { ascending: false }).limit(BETS_SHOWN)),
    [revision],
  )
  const bets = useLoad(
    () =>
      rows<HouseBet>(
        supabase().from('house_bets').select('*').eq('user_id', userId).order('created_at', { ascending: false }).limit(BETS_SHOWN),
      ),
    [revision, userId],
  )
  const [clientSeed, setClientSeed] = useState('')
  const [rotated, setRotated] = useState<Pair | null>(null)
  const [error, setError] = useState<string | null>(null)
  const [checking, setChecking] = useState<HouseBet | null>(null)

  async function rotate(event: FormEvent) {
    event.preventDefault()
    setError(null)
    const answer = await call<{ revealed: Pair; active: Pair }>('rotate_seed', { client_seed: clientSeed.trim() || null })
    if (!answer.ok) return setError(answer.refusal.text)
    setRotated(answer.data.revealed)
    setClientSeed('')
    setChecking(null)
    setRevision((n) => n + 1)
  }

  const pair = active.data
  return (
    <main className="page seeds">
      <p>
        <a href="/casino" onClick={follow}>
          ← Casino
        </a>
      </p>
      <h1>Your seeds</h1>
      <p className="muted">
        Each bet is HMAC-SHA256 of your server seed over &quot;client seed:nonce:round&quot;. The server seed stays
        secret until you set a new client seed, which reveals it; its hash below is fixed before your next bet.
      </p>
      <div className="two">
        <section className="card stack" aria-labelledby="active-title">
          <h2 id="active-title">Active pair</h2>
          {active.error && <p className="error">{active.error}</p>}
          <dl className="facts column">
            <div>
              <dt>Server seed hash</dt>
              <dd>
                <code data-testid="active-hash">{pair?.server_seed_hash ?? '…'}</code>
              </dd>
            </div>
            <div>
              <dt>Client seed</dt>
              <dd>
                <code data-testid="active-client-seed">{pair?.client_seed ?? '…'}</code>
              </dd>
            </div>
            <div>
              <dt>Next nonce</dt>
              <dd data-testid="active-nonce">{pair?.next_nonce ?? '…'}</dd>
            </div>
          </dl>
          <form className="stack" onSubmit={(e) => void rotate(e)} aria-label="Rotate seeds">
            <label>
              New client seed (empty: a random one)
              <input value={clientSeed} maxLength={64} onChange={(e) => setClientSeed(e.target.value)} spellCheck={false} />
            </label>
            <button type="submit" className="primary">
              Rotate seeds
            </button>
            {error && (
              <p role="alert" className="error">
                {error}
              </p>
            )}
          </form>
          {rotated && <Revealed pair={rotated} />}
        </section>
        <section className="card stack" aria-labelledby="verify-title">
          <h2 id="verify-title">Verify a bet</h2>
          {checking ? (
            <VerifyBet key={`${checking.id}:${checking.server_seed ?? ''}`} bet={checking} />
          ) : (
            <p className="muted">Pick a bet below.</p>
          )}
        </section>
      </div>
      <section className="card stack" aria-labelledby="bets-title">
        <h2 id="bets-title">Your bets</h2>
        <Table
          columns={[
            { header: 'Game', cell: (b) => gameOf(b.game)?.name ?? b.game },
            { header: 'Choice', cell: (b) => gameOf(b.game)?.describeChoice(b.params) ?? '' },
            { header: 'Result', cell: (b) => (b.result ? (gameOf(b.game)?.describeResult(b.result) ?? '') : '–') },
            { header: 'Stake', numeric: true, cell: (b) => formatMinor(b.stake) },
            { header: 'Payout', numeric: true, cell: (b) => formatMinor(b.payout) },
            { header: 'Nonce', numeric: true, cell: (b) => b.nonce },
            { header: 'Seed', cell: (b) => (b.server_seed ? 'revealed' : 'active') },
            {
              header: '',
              key: 'verify',
              cell: (b) => (
                <button type="button" className="secondary small" onClick={() => setChecking(b)}>
                  Verify
                </button>
              ),
            },
          ]}
          rows={bets.data ?? []}
          rowKey={(b) => b.id}
          rowProps={(b) => ({ 'data-bet-id': b.id })}
          loading={bets.loading}
          empty="No bets yet."
        />
      </section>
      <section className="card stack" aria-labelledby="pairs-title">
        <h2 id="pairs-title">Your seed pairs</h2>
        <Table
          columns={[
            { header: 'Server seed hash', cell: (p) => <code>{p.server_seed_hash}</code> },
            { header: 'Client seed', cell: (p) => <code>{p.client_seed}</code> },
            { header: 'Bets', numeric: true, cell: (p) => p.next_nonce },
            { header: 'Server seed', cell: (p) => (p.server_seed ? <code>{p.server_seed}</code> : 'secret until you rotate') },
          ]}
          rows={pairs.data ?? []}
          rowKey={(p) => p.id}
          rowProps={(p) => ({ 'data-pair-id': p.id, 'data-revealed': p.revealed })}
          loading={pairs.loading}
          empty="No seed pair yet."
        />
      </section>
    </main>
  )
}
