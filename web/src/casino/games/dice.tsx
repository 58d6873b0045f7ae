// Dice (docs/house-games.md): a roll of 0.00 to 99.99 against a target, over or under. The win
// chance and the multiplier shown are the engine's rule: chance 9999 - target (over) or target
// (under), in hundredths of a percent; multiplier (10000 - edge) / chance.
import type { GameModule } from '../types'

const hundredths = (n: number) => (n / 100).toFixed(2)

/** The engine's range: over 0 to 9998, under 1 to 9999 (a win possible, never certain). */
function chanceOf(target: number, over: boolean): number | null {
  if (!Number.isInteger(target)) return null
  if (over ? target < 0 || target > 9998 : target < 1 || target > 9999) return null
  return over ? 9999 - target : target
}

export const dice: GameModule = {
  key: 'dice',
  name: 'Dice',
  blurb: 'Roll 0.00 to 99.99: pick a target and whether the roll lands over or under it.',
  fn: 'play_dice',
  initial: { target: '5000', over: true },
  Controls({ choices, set, settings }) {
    const target = Number(choices.target)
    const over = choices.over === true
    const chance = chanceOf(target, over)
    const edge = settings?.house_edge_bps ?? null
    return (
      <div className="stack">
        <label>
          Target: <strong data-testid="dice-target">{hundredths(target)}</strong>
          <input
            type="range"
            min={over ? 0 : 1}
            max={over ? 9998 : 9999}
            step={1}
            value={target}
            aria-label="Target"
            onChange={(e) => set({ ...choices, target: e.target.value })}
          />
        </label>
        <div className="segmented" role="group" aria-label="Roll">
          {[true, false].map((side) => (
            <button
              key={String(side)}
              type="button"
              className={side === over ? 'primary small' : 'secondary small'}
              aria-pressed={side === over}
              onClick={() => set({ ...choices, over: side, target: String(Math.min(Math.max(target, side ? 0 : 1), side ? 9998 : 9999)) })}
            >
              {side ? 'Roll over' : 'Roll under'}
            </button>
          ))}
        </div>
        <dl className="facts">
          <div>
            <dt>Win chance</dt>
            <dd data-testid="dice-chance">{chance === null ? '–' : `${hundredths(chance)}%`}</dd>
          </div>
          <div>
            <dt>Multiplier</dt>
            <dd data-testid="dice-multiplier">
              {chance === null || edge === null ? '–' : `${((10000 - edge) / chance).toFixed(4)}x`}
            </dd>
          </div>
        </dl>
      </div>
    )
  },
  args(choices) {
    const target = Number(choices.target)
    const over = choices.over === true
    if (chanceOf(target, over) === null) return { ok: false, why: 'Pick a target from 0.00 to 99.98 (over) or 0.01 to 99.99 (under).' }
    return { ok: true, args: { target, over } }
  },
  describeChoice: (p) => `${p.over ? 'over' : 'under'} ${hundredths(Number(p.target))}`,
  describeResult: (r) => hundredths(Number(r.roll)),
  tween: (r, t) => hundredths(Math.round(Number(r.roll) * t)),
  async draw(sample) {
    return { roll: Number(await sample(0, 10000n)) }
  },
}
