// One house game: the stake (typed as an amount, read into minor units: money.ts), the game's own
// choices (its module's form), and Play, which calls play_<game> through supabase-js with a fresh
// idempotency key. The result is revealed only after the answer arrives; the new balance is the
// answer's. A refusal is said in words (errors.ts): insufficient funds, max profit, a disabled
// game, self-exclusion, limits. Under it, auto-bet runs the same stake and choices many times.
import { useState, type FormEvent } from 'react'
import { call } from '../load'
import { applyWallet, useMe } from '../me'
import { formatMinor, parseMinor } from '../money'
import { follow } from '../router'
import { NotFound } from '../screens/parts'
import { AutoBet } from './AutoBet'
import { MinesScreen } from './MinesScreen'
import { gameOf } from './registry'
import { Reveal } from './Reveal'
import { useHouseGames } from './settings'
import type { Choices, GameModule, PlayAnswer } from './types'

export function GameScreen({ game: key }: { game: string }) {
  if (key === 'mines') return <MinesScreen />
  const game = gameOf(key)
  if (!game) return <NotFound back="/casino" to="the casino" />
  return <Game key={game.key} game={game} />
}

function Game({ game }: { game: GameModule }) {
  const { balance } = useMe()
  const [plays, setPlays] = useState(0)
  const { data: games } = useHouseGames(plays)
  const settings = games?.find((g) => g.game === game.key) ?? null
  const [stakeText, setStakeText] = useState('1.00')
  const [choices, setChoices] = useState<Choices>(game.initial)
  const [bet, setBet] = useState<PlayAnswer | null>(null)
  const [error, setError] = useState<string | null>(null)
  const [playing, setPlaying] = useState(false)

  const stake = parseMinor(stakeText)
  const args = game.args(choices)
  const problem = stake === null || stake <= 0 ? 'Enter a stake above zero, with at most two decimals.' : args.ok ? null : args.why

  async function play(event: FormEvent) {
    event.preventDefault()
    if (problem !== null || !args.ok || stake === null) return
    setPlaying(true)
    setError(null)
    setBet(null)
    const answer = await call<PlayAnswer>(game.fn, { stake, ...args.args, idempotency_key: crypto.randomUUID() })
    if (answer.ok) setBet(answer.data)
    else {
      setError(answer.refusal.text)
      setPlaying(false)
    }
  }

  function revealed(answer: PlayAnswer) {
    applyWallet({ balance: answer.balance, version: answer.balance_version })
    setPlaying(false)
    setPlays((n) => n + 1)
  }

  return (
    <main className="page casino-game" data-testid={`game-${game.key}`}>
      <p>
        <a href="/casino" onClick={follow}>
          ← Casino
        </a>
      </p>
      <h1>{game.name}</h1>
      <p className="muted">{game.blurb}</p>
      <div className="two">
        <div className="stack">
          <form className="card stack" onSubmit={(e) => void play(e)} aria-label={`Play ${game.name}`}>
            {settings && !settings.enabled && (
              <p className="notice">The house has switched this game off for now.</p>
            )}
            <label>
              Stake
              <input inputMode="decimal" value={stakeText} onChange={(e) => setStakeText(e.target.value)} />
            </label>
            <game.Controls choices={choices} set={setChoices} settings={settings} />
            <p className="muted small-print">
              Balance {formatMinor(balance)} · the most one bet may win above its stake:{' '}
              <span data-testid="max-profit">{formatMinor(settings?.max_profit)}</span>
            </p>
            {problem && stakeText !== '' && <p className="error">{problem}</p>}
            <button type="submit" className="primary" disabled={playing || problem !== null}>
              {playing ? 'Playing…' : 'Play'}
            </button>
            {error && (
              <p role="alert" className="error" data-testid="refusal">
                {error}
              </p>
            )}
          </form>
          <AutoBet
            game={game}
            stake={problem === null ? stake : null}
            args={args.ok ? args.args : null}
            onRun={() => setPlays((n) => n + 1)}
          />
        </div>
        <section className="card" aria-label="Result">
          {bet ? (
            <Reveal game={game} bet={bet} onDone={() => revealed(bet)} />
          ) : (
            <p className="muted">The result shows here once the house has drawn it.</p>
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
