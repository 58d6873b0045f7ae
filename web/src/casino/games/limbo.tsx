// Limbo (docs/house-games.md): a crash point is drawn; the bet wins when it reaches the target
// multiplier (typed like an amount: 2 or 2.00 is 200 hundredths). The chance shown is the
// engine's, (10000 - edge) / target percent (short by less than target / 2^32).
import { parseMinor } from '../../money'
import type { GameModule } from '../types'

const times = (hundredths: number) => `${(hundredths / 100).toFixed(2)}x`

export const limbo: GameModule = {
  key: 'limbo',
  name: 'Limbo',
  blurb: 'Pick a target multiplier: you win it when the crash point reaches it.',
  fn: 'play_limbo',
  initial: { target: '2.00' },
  Controls({ choices, set, settings }) {
    const target = parseMinor(String(choices.target)) // hundredths, read as exactly as an amount
    const edge = settings?.house_edge_bps ?? null
    return (
      <div className="stack">
        <label>
          Target multiplier
          <input
            inputMode="decimal"
            value={String(choices.target)}
            onChange={(e) => set({ ...choices, target: e.target.value })}
          />
        </label>
        <dl className="facts">
          <div>
            <dt>Win chance</dt>
            <dd data-testid="limbo-chance">
              {target === null || target < 101 || edge === null ? '–' : `${((10000 - edge) / target).toFixed(4)}%`}
            </dd>
          </div>
          <div>
            <dt>Pays</dt>
            <dd>{target === null || target < 101 ? '–' : `${times(target)} the stake`}</dd>
          </div>
        </dl>
      </div>
    )
  },
  args(choices) {
    const target = parseMinor(String(choices.target))
    if (target === null || target < 101) return { ok: false, why: 'Enter a target multiplier of 1.01 or more.' }
    return { ok: true, args: { target_multiplier: target } }
  },
  params: (args) => ({ target: args.target_multiplier }),
  describeChoice: (p) => `target ${times(Number(p.target))}`,
  describeResult: (r) => times(Number(r.crash)),
  // from 1.00x up to the crash point, faster at the start, like a rising curve
  tween: (r, t) => times(Math.round(100 + (Number(r.crash) - 100) * t * t)),
  async draw(sample, bet) {
    const n = (await sample(0, 4294967296n)) + 1n
    const edge = BigInt(bet.house_edge_bps ?? 0)
    const crash = (4294967296n * (10000n - edge)) / (100n * n)
    return { crash: Number(crash > 100n ? crash : 100n) }
  },
}
