// Plinko (docs/house-games.md): a ball falls through 8 to 16 rows of pins, each row left (0) or
// right (1), one sample of rng(2) per row (samples 0 .. rows - 1); it lands in bucket k, the count
// of rights, which pays the table's multiplier for (rows, risk). The board is drawn with its
// buckets before the bet; the ball falls along the recorded path only once the answer is in.
import type { GameModule, HouseBet } from '../types'
import { PLINKO } from './tables'

const RISKS = ['low', 'medium', 'high'] as const
export const times = (hundredths: number) => `${(hundredths / 100).toFixed(2)}x`
const tableOf = (rows: number, risk: string): readonly number[] => PLINKO[risk]?.[rows] ?? []

/** The board: pins in a triangle, the buckets under them, and (during a reveal) the ball. */
function PlinkoBoard({ rows, risk, path, t }: { rows: number; risk: string; path: number[] | null; t: number }) {
  const width = 320
  const gap = width / (rows + 2)
  const height = gap * (rows + 2)
  const pinX = (row: number, i: number) => width / 2 + (i - row / 2) * gap
  const table = tableOf(rows, risk)
  // the ball: after s rows it sits between the pins of row s, at its count of rights so far
  const steps = path ? t * rows : 0
  const done = Math.floor(steps)
  const rights = path ? path.slice(0, done).reduce((a, b) => a + b, 0) : 0
  const next = path && done < rows ? path[done] : 0
  const frac = steps - done
  const ballX = width / 2 + (rights + frac * next - (done + frac) / 2) * gap
  const ballY = gap * (0.5 + done + frac)
  const landed = path && t >= 1 ? path.reduce((a, b) => a + b, 0) : null
  return (
    <figure className="plinko" data-testid="plinko-board">
      <svg viewBox={`0 0 ${width} ${height}`} role="img" aria-label={`Plinko board of ${rows}`}>
        {Array.from({ length: rows }, (_, row) =>
          Array.from({ length: row + 3 }, (_, i) => (
            <circle key={`${row}-${i}`} cx={pinX(row + 2, i)} cy={gap * (row + 1)} r={2.5} className="pin" />
          )),
        )}
        {path && <circle cx={ballX} cy={ballY} r={gap / 4} className="ball" data-testid="plinko-ball" />}
      </svg>
      <ol className="buckets" style={{ gridTemplateColumns: `repeat(${rows + 1}, 1fr)` }}>
        {table.map((h, k) => (
          <li key={k} className={`${h >= 100 ? 'pays' : ''}${k === landed ? ' landed' : ''}`} data-bucket={k}>
            {(h / 100).toFixed(h >= 1000 ? 0 : 1)}
          </li>
        ))}
      </ol>
    </figure>
  )
}

export const plinko: GameModule = {
  key: 'plinko',
  name: 'Plinko',
  blurb: 'Drop a ball through 8 to 16 rows of pins: the bucket it lands in says what it pays.',
  fn: 'play_plinko',
  initial: { rows: '8', risk: 'low' },
  Controls({ choices, set }) {
    const rows = Number(choices.rows)
    const risk = String(choices.risk)
    return (
      <div className="stack">
        <label>
          Rows: <strong data-testid="plinko-rows">{rows}</strong>
          <input type="range" min={8} max={16} step={1} value={rows} aria-label="Rows" onChange={(e) => set({ ...choices, rows: e.target.value })} />
        </label>
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
        <PlinkoBoard rows={rows} risk={risk} path={null} t={0} />
      </div>
    )
  },
  args(choices) {
    const rows = Number(choices.rows)
    const risk = String(choices.risk)
    if (!Number.isInteger(rows) || rows < 8 || rows > 16) return { ok: false, why: 'Pick 8 to 16 rows.' }
    if (!(RISKS as readonly string[]).includes(risk)) return { ok: false, why: 'Pick a risk: low, medium or high.' }
    return { ok: true, args: { rows, risk } }
  },
  describeChoice: (p) => `${String(p.rows)} rows, ${String(p.risk)} risk`,
  describeResult: (r) => `bucket ${String(r.bucket)}`,
  tween: (r, t) => `row ${Math.min(Math.floor(t * (r.path as unknown[]).length) + 1, (r.path as unknown[]).length)}`,
  Board({ bet, t }: { bet: HouseBet; t: number }) {
    const path = (bet.result?.path as number[] | undefined) ?? []
    return <PlinkoBoard rows={Number(bet.params.rows)} risk={String(bet.params.risk)} path={path} t={t} />
  },
  async draw(sample, bet) {
    const path: number[] = []
    for (let row = 0; row < Number(bet.params.rows); row++) path.push(Number(await sample(row, 2n)))
    return { path, bucket: path.reduce((a, b) => a + b, 0) }
  },
}
