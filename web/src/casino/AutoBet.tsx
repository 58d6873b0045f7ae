// Auto-bet (docs/house-games.md, "Auto-bet"): up to `count` bets of a one-shot game with the
// stake and choices of its form, in one call to auto_bet, which stops early on a profit or a loss
// reached (amounts typed like a stake), on the daily stake limit or when the balance runs out.
// The answer's bets are listed, each as the engine drew it, with why the run stopped.
import { useState, type FormEvent } from 'react'
import { call } from '../load'
import { applyWallet } from '../me'
import { formatMinor, parseMinor } from '../money'
import { Table } from '../Table'
import type { GameModule } from './types'

interface AutoBetAnswer {
  count: number
  placed: number
  stopped: string
  wagered: number
  paid: number
  profit: number
  balance: number
  balance_version: number
  first_nonce: number
  bets: { id: string; nonce: number; result: Record<string, unknown>; multiplier: number; payout: number; won: boolean; balance: number }[]
}

const STOPPED: Record<string, string> = {
  count: 'every bet asked for was made',
  stop_on_profit: 'the profit reached your stop',
  stop_on_loss: 'the loss reached your stop',
  daily_stake_limit_reached: 'your daily stake limit was reached',
  insufficient_funds: 'your balance ran out',
}

/** An optional amount: '' is none (null), else minor units above zero, or undefined when invalid. */
const optionalAmount = (text: string): number | null | undefined => {
  if (text.trim() === '') return null
  const minor = parseMinor(text)
  return minor !== null && minor > 0 ? minor : undefined
}

export function AutoBet({
  game,
  stake,
  args,
  onRun,
}: {
  game: GameModule
  stake: number | null
  args: Record<string, unknown> | null // the form's play arguments, null while they are not valid
  onRun: () => void
}) {
  const [countText, setCountText] = useState('10')
  const [profitText, setProfitText] = useState('')
  const [lossText, setLossText] = useState('')
  const [run, setRun] = useState<AutoBetAnswer | null>(null)
  const [error, setError] = useState<string | null>(null)
  const [running, setRunning] = useState(false)

  const count = /^\d{1,5}$/.test(countText) ? Number(countText) : 0
  const stopOnProfit = optionalAmount(profitText)
  const stopOnLoss = optionalAmount(lossText)
  const problem =
    count < 1
      ? 'Enter how many bets, 1 or more.'
      : stopOnProfit === undefined || stopOnLoss === undefined
        ? 'A stop is an amount above zero, or empty for none.'
        : null

  async function start(event: FormEvent) {
    event.preventDefault()
    if (problem !== null || stake === null || args === null) return
    setRunning(true)
    setError(null)
    setRun(null)
    const answer = await call<AutoBetAnswer>('auto_bet', {
      game: game.key,
      stake,
      params: game.params ? game.params(args) : args,
      count,
      idempotency_key: crypto.randomUUID(),
      stop_on_profit: stopOnProfit,
      stop_on_loss: stopOnLoss,
    })
    setRunning(false)
    if (!answer.ok) return setError(answer.refusal.text)
    setRun(answer.data)
    applyWallet({ balance: answer.data.balance, version: answer.data.balance_version })
    onRun()
  }

  return (
    <form className="card stack" onSubmit={(e) => void start(e)} aria-label="Auto-bet">
      <h2>Auto-bet</h2>
      <p className="muted small-print">The stake and choices above, bet after bet, in one go.</p>
      <label>
        Number of bets
        <input inputMode="numeric" value={countText} onChange={(e) => setCountText(e.target.value)} />
      </label>
      <label>
        Stop on profit (empty: none)
        <input inputMode="decimal" value={profitText} onChange={(e) => setProfitText(e.target.value)} />
      </label>
      <label>
        Stop on loss (empty: none)
        <input inputMode="decimal" value={lossText} onChange={(e) => setLossText(e.target.value)} />
      </label>
      {problem && <p className="error">{problem}</p>}
      <button type="submit" className="secondary" disabled={running || problem !== null || stake === null || args === null}>
        {running ? 'Betting…' : `Run ${count} bets`}
      </button>
      {error && (
        <p role="alert" className="error" data-testid="auto-refusal">
          {error}
        </p>
      )}
      {run && (
        <div className="stack" data-testid="auto-run" data-placed={run.placed} data-stopped={run.stopped}>
          <p role="status" className={run.profit > 0 ? 'success' : 'muted'}>
            {run.placed} of {run.count} bets: {STOPPED[run.stopped] ?? run.stopped}. Staked {formatMinor(run.wagered)},
            paid {formatMinor(run.paid)}, profit {formatMinor(run.profit)}.
          </p>
          <Table
            columns={[
              { header: 'Nonce', numeric: true, cell: (b) => b.nonce },
              { header: 'Result', cell: (b) => game.describeResult(b.result) },
              { header: 'Payout', numeric: true, cell: (b) => formatMinor(b.payout) },
              { header: 'Balance', numeric: true, cell: (b) => formatMinor(b.balance) },
            ]}
            rows={run.bets}
            rowKey={(b) => b.id}
            rowProps={(b) => ({ 'data-bet-id': b.id })}
            empty="No bet was made."
          />
        </div>
      )}
    </form>
  )
}
