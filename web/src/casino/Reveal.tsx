// A bet's result shown as it is revealed: the animation starts only once the play's answer has
// arrived (the draw is committed and the bet settled before anything moves), runs through the
// game's tween toward the recorded result, and then says won or lost and the payout; `onDone`
// runs at the end (the balance is shown then, so it does not give the result away first).
import { useEffect, useState } from 'react'
import { formatMinor } from '../money'
import type { GameModule, PlayAnswer } from './types'

const DURATION_MS = 900

/** Won, lost, or (plinko's and keno's multipliers below 1) part of the stake paid back. */
export function outcomeText(bet: { won: boolean; payout: number; profit: number; stake: number; multiplier: number }): string {
  if (bet.won) return `You won ${formatMinor(bet.payout)} (${formatMinor(bet.profit)} profit).`
  if (bet.payout > 0) return `${formatMinor(bet.payout)} paid back (${bet.multiplier.toFixed(2)}x).`
  return `You lost ${formatMinor(bet.stake)}.`
}

export function Reveal({ game, bet, onDone }: { game: GameModule; bet: PlayAnswer; onDone: () => void }) {
  const [t, setT] = useState(0)
  useEffect(() => {
    let frame = 0
    let start: number | null = null
    const step = (now: number) => {
      start ??= now
      const next = Math.min(1, (now - start) / DURATION_MS)
      setT(next)
      if (next < 1) frame = requestAnimationFrame(step)
      else onDone()
    }
    frame = requestAnimationFrame(step)
    return () => cancelAnimationFrame(frame)
  }, [bet.id]) // one reveal per bet
  const result = bet.result ?? {}
  const done = t >= 1
  return (
    <div className={`reveal ${done ? (bet.won ? 'won' : 'lost') : ''}`} data-testid="reveal" data-state={done ? 'done' : 'rolling'} data-bet-id={bet.id}>
      {game.Board && <game.Board bet={bet} t={t} />}
      <p className={`reveal-value${game.describeResult(result).length > 16 ? ' long' : ''}`} data-testid="result">
        {done ? game.describeResult(result) : game.tween(result, t)}
      </p>
      {done && (
        <p role="status" data-testid="outcome" className={bet.won ? 'success' : 'error'}>
          {outcomeText(bet)}{' '}
          <span className="muted">
            {game.describeChoice(bet.params)}, nonce {bet.nonce}
          </span>
        </p>
      )}
    </div>
  )
}
