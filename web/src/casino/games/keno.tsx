// Keno (docs/house-games.md): the player picks 1 to 10 of 40 tiles; the engine draws 10 by a
// Fisher-Yates shuffle of 1 .. 40 (sample i with limit 40 - i swaps positions i and i + sample),
// and the bet pays the table's multiplier for (picks, risk) at the number of hits. The drawn
// tiles light up one by one only once the answer is in.
import type { GameModule, HouseBet } from '../types'
import { KENO } from './tables'
import { times } from './plinko'

const RISKS = ['classic', 'low', 'medium', 'high'] as const
const TILES = Array.from({ length: 40 }, (_, i) => i + 1)

const picksOf = (text: string | boolean): number[] =>
  String(text)
    .split(',')
    .filter((s) => s !== '')
    .map(Number)
    .sort((a, b) => a - b)

/** The first `count` values of a Fisher-Yates shuffle of 1 .. size from samples 0 .. count - 1,
 * as app._house_shuffle draws keno's tiles (and mines' cells, as 1 .. 25). */
export async function shuffle(sample: (cursor: number, limit: bigint) => Promise<bigint>, size: number, count: number): Promise<number[]> {
  const board = Array.from({ length: size }, (_, i) => i + 1)
  for (let i = 0; i < count; i++) {
    const j = i + Number(await sample(i, BigInt(size - i)))
    ;[board[i], board[j]] = [board[j], board[i]]
  }
  return board.slice(0, count)
}

/** The 40 tiles: picked ones marked; during a reveal the drawn ones light up in order, hits apart. */
function Tiles({ picks, drawn, toggle }: { picks: number[]; drawn: number[]; toggle?: (tile: number) => void }) {
  return (
    <div className="keno-board" role="group" aria-label="Tiles" data-testid="keno-board">
      {TILES.map((tile) => {
        const picked = picks.includes(tile)
        const isDrawn = drawn.includes(tile)
        const cls = picked && isDrawn ? 'hit' : isDrawn ? 'drawn' : picked ? 'picked' : 'secondary'
        return (
          <button
            key={tile}
            type="button"
            className={`small ${cls}`}
            aria-pressed={picked}
            data-tile={tile}
            data-state={cls}
            disabled={!toggle}
            onClick={() => toggle?.(tile)}
          >
            {tile}
          </button>
        )
      })}
    </div>
  )
}

export const keno: GameModule = {
  key: 'keno',
  name: 'Keno',
  blurb: 'Pick 1 to 10 of 40 tiles; the house draws 10, and the hits say what you win.',
  fn: 'play_keno',
  initial: { picks: '', risk: 'classic' },
  Controls({ choices, set }) {
    const picks = picksOf(choices.picks)
    const risk = String(choices.risk)
    const table = KENO[risk]?.[picks.length] ?? []
    const toggle = (tile: number) => {
      const next = picks.includes(tile) ? picks.filter((p) => p !== tile) : picks.length < 10 ? [...picks, tile] : picks
      set({ ...choices, picks: next.sort((a, b) => a - b).join(',') })
    }
    return (
      <div className="stack">
        <Tiles picks={picks} drawn={[]} toggle={toggle} />
        <p className="muted small-print" data-testid="keno-picked">
          {picks.length} of 10 picked{' '}
          {picks.length > 0 && (
            <button type="button" className="secondary small" onClick={() => set({ ...choices, picks: '' })}>
              Clear
            </button>
          )}
        </p>
        <label>
          Risk
          <select value={risk} onChange={(e) => set({ ...choices, risk: e.target.value })}>
            {RISKS.map((r) => (
              <option key={r} value={r}>
                {r}
              </option>
            ))}
          </select>
        </label>
        {table.length > 0 && (
          <p className="muted small-print" data-testid="keno-table">
            Pays by hits: {table.map((h, hits) => `${hits}: ${times(h)}`).join(' · ')}
          </p>
        )}
      </div>
    )
  },
  args(choices) {
    const picks = picksOf(choices.picks)
    const risk = String(choices.risk)
    if (picks.length < 1 || picks.length > 10) return { ok: false, why: 'Pick 1 to 10 tiles.' }
    if (!(RISKS as readonly string[]).includes(risk)) return { ok: false, why: 'Pick a risk.' }
    return { ok: true, args: { picks, risk } }
  },
  describeChoice: (p) => `${(p.picks as number[]).join(', ')} (${String(p.risk)})`,
  describeResult: (r) => `${String(r.hits)} hits: ${(r.drawn as number[]).join(', ')}`,
  tween: (_r, t) => `${Math.min(10, Math.floor(t * 11))} of 10 drawn`,
  Board({ bet, t }: { bet: HouseBet; t: number }) {
    const drawn = (bet.result?.drawn as number[] | undefined) ?? []
    return <Tiles picks={bet.params.picks as number[]} drawn={drawn.slice(0, Math.min(10, Math.floor(t * 11)))} />
  },
  async draw(sample, bet) {
    const drawn = await shuffle(sample, 40, 10)
    const picks = bet.params.picks as number[]
    return { drawn, hits: picks.filter((p) => drawn.includes(p)).length }
  },
}
