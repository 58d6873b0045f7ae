// Mines (docs/house-games.md, "Mines"): a round of several calls on a 5x5 grid. Open a round with
// a stake and a count of mines (open_mines: the stake is held), reveal cells one by one
// (reveal_mines_cell), cash out at the current multiplier (cashout_mines). The mines are never
// known to the browser while the round is open: they come only in the settled round's result, and
// are shown from it. An open round is resumed on load (get_mines_round without an id).
import { useEffect, useState, type FormEvent } from 'react'
import { ROUND_ENDED } from '../errors'
import { call } from '../load'
import { applyWallet, useMe } from '../me'
import { formatMinor, parseMinor } from '../money'
import { follow } from '../router'
import { useHouseGames } from './settings'

/** A round as every mines call answers it. */
export interface MinesRound {
  id: string
  status: string // created (open), settled
  stake: number
  nonce: number
  mines: number
  revealed: number[]
  safe_left: number
  multiplier: number
  cashout_payout: number | null
  next_multiplier: number | null
  next_payout: number | null
  payout: number
  won: boolean
  profit: number
  result: { mines: number[]; ended: string; mine?: number; refunded?: boolean } | null
  balance: number
  balance_version: number
}

const CELLS = Array.from({ length: 25 }, (_, i) => i)
const times = (m: number | null) => (m === null ? '–' : `${m.toFixed(4)}x`)

export function MinesScreen() {
  const { balance } = useMe()
  const [round, setRound] = useState<MinesRound | null>(null)
  const [resumed, setResumed] = useState(false)
  const [stakeText, setStakeText] = useState('1.00')
  const [minesText, setMinesText] = useState('3')
  const [error, setError] = useState<string | null>(null)
  const [busy, setBusy] = useState(false)
  const { data: games } = useHouseGames(round?.status)
  const settings = games?.find((g) => g.game === 'mines') ?? null

  useEffect(() => {
    void call<MinesRound | null>('get_mines_round', {}).then((answer) => {
      if (answer.ok && answer.data) setRound(answer.data)
      else if (!answer.ok) setError(answer.refusal.text)
      setResumed(true)
    })
  }, [])

  async function step(fn: string, args: Record<string, unknown>) {
    setBusy(true)
    setError(null)
    const answer = await call<MinesRound>(fn, args)
    setBusy(false)
    if (!answer.ok) return setError(answer.refusal.text)
    setRound(answer.data)
    applyWallet({ balance: answer.data.balance, version: answer.data.balance_version })
  }

  const stake = parseMinor(stakeText)
  const mines = Number(minesText)
  const problem =
    stake === null || stake <= 0
      ? 'Enter a stake above zero, with at most two decimals.'
      : !Number.isInteger(mines) || mines < 1 || mines > 24
        ? 'Pick 1 to 24 mines.'
        : null
  const open = round?.status === 'created'

  function start(event: FormEvent) {
    event.preventDefault()
    if (problem === null) void step('open_mines', { stake, mines, idempotency_key: crypto.randomUUID() })
  }

  return (
    <main className="page casino-game" data-testid="game-mines">
      <p>
        <a href="/casino" onClick={follow}>
          ← Casino
        </a>
      </p>
      <h1>Mines</h1>
      <p className="muted">
        A 5×5 grid hides your chosen number of mines. Reveal safe cells to raise the multiplier, and cash out before
        you hit one.
      </p>
      <div className="two">
        <section className="card stack" aria-label="Mines round">
          {!open ? (
            <form className="stack" onSubmit={start} aria-label="Open a round">
              {settings && !settings.enabled && <p className="notice">The house has switched this game off for now.</p>}
              <label>
                Stake
                <input inputMode="decimal" value={stakeText} onChange={(e) => setStakeText(e.target.value)} />
              </label>
              <label>
                Mines
                <input inputMode="numeric" value={minesText} onChange={(e) => setMinesText(e.target.value)} />
              </label>
              <p className="muted small-print">
                Balance {formatMinor(balance)} · the most a round may win above its stake:{' '}
                {formatMinor(settings?.max_profit)}
              </p>
              {problem && <p className="error">{problem}</p>}
              <button type="submit" className="primary" disabled={busy || !resumed || problem !== null}>
                Open a round
              </button>
            </form>
          ) : (
            <div className="stack" data-testid="mines-open">
              <dl className="facts">
                <div>
                  <dt>Stake</dt>
                  <dd>{formatMinor(round.stake)}</dd>
                </div>
                <div>
                  <dt>Mines</dt>
                  <dd>{round.mines}</dd>
                </div>
                <div>
                  <dt>Multiplier</dt>
                  <dd data-testid="mines-multiplier">{round.revealed.length ? times(round.multiplier) : '–'}</dd>
                </div>
                <div>
                  <dt>Next safe cell</dt>
                  <dd data-testid="mines-next">
                    {times(round.next_multiplier)} ({formatMinor(round.next_payout)})
                  </dd>
                </div>
              </dl>
              <button
                type="button"
                className="primary"
                disabled={busy || round.cashout_payout === null}
                onClick={() => void step('cashout_mines', { round_id: round.id })}
              >
                {round.cashout_payout === null ? 'Cash out' : `Cash out ${formatMinor(round.cashout_payout)}`}
              </button>
            </div>
          )}
          {error && (
            <p role="alert" className="error" data-testid="refusal">
              {error}
            </p>
          )}
        </section>
        <section className="card stack" aria-label="Grid">
          {round ? (
            <Grid round={round} busy={busy} reveal={(cell) => void step('reveal_mines_cell', { round_id: round.id, cell, idempotency_key: crypto.randomUUID() })} />
          ) : (
            <p className="muted">Open a round to play.</p>
          )}
          {round && round.status === 'settled' && round.result && (
            <p role="status" data-testid="mines-outcome" className={round.won ? 'success' : 'error'}>
              {round.result.refunded
                ? `Your stake of ${formatMinor(round.stake)} was refunded`
                : round.payout > 0
                  ? `You won ${formatMinor(round.payout)} (${formatMinor(round.profit)} profit)`
                  : `You hit a mine and lost ${formatMinor(round.stake)}`}
              : {ROUND_ENDED[round.result.ended] ?? round.result.ended}, nonce {round.nonce}.
            </p>
          )}
          <p>
            <a href="/casino/seeds" onClick={follow}>
              Your seeds: check any bet
            </a>
          </p>
        </section>
      </div>
    </main>
  )
}

/** The 5x5 grid: revealed cells safe; once settled, the mines from the result (the one hit apart). */
function Grid({ round, busy, reveal }: { round: MinesRound; busy: boolean; reveal: (cell: number) => void }) {
  const open = round.status === 'created'
  const mines = round.result?.mines ?? []
  return (
    <div className="mines-grid" role="group" aria-label="Cells" data-testid="mines-grid" data-round={round.id} data-status={round.status}>
      {CELLS.map((cell) => {
        const state = round.result?.mine === cell ? 'hit' : mines.includes(cell) ? 'mine' : round.revealed.includes(cell) ? 'safe' : 'hidden'
        return (
          <button
            key={cell}
            type="button"
            className={state === 'hidden' ? 'secondary' : state === 'hit' ? 'mine hit' : state}
            data-cell={cell}
            data-state={state}
            aria-label={`Cell ${cell + 1}`}
            disabled={!open || busy || state !== 'hidden'}
            onClick={() => reveal(cell)}
          >
            {state === 'safe' ? '◆' : state === 'mine' || state === 'hit' ? '✹' : ''}
          </button>
        )
      })}
    </div>
  )
}
