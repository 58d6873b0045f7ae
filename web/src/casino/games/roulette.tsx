// Roulette (docs/house-games.md): one spin of a single-zero wheel. Pockets 0 to 36 pay 36x, a
// dozen or column 3x, red, black, odd, even, low (1-18) and high (19-36) 2x; 0 loses them all.
import type { GameModule } from '../types'

const RED = new Set([1, 3, 5, 7, 9, 12, 14, 16, 18, 19, 21, 23, 25, 27, 30, 32, 34, 36])
export const colorOf = (pocket: number) => (pocket === 0 ? 'green' : RED.has(pocket) ? 'red' : 'black')
// the European wheel's order, which the spin runs through
const WHEEL = [0, 32, 15, 19, 4, 21, 2, 25, 17, 34, 6, 27, 13, 36, 11, 30, 8, 23, 10, 5, 24, 16, 33, 1, 20, 14, 31, 9, 22, 18, 29, 7, 28, 12, 35, 3, 26]

const OUTSIDE: [string, string][] = [
  ['red', 'Red (2x)'],
  ['black', 'Black (2x)'],
  ['odd', 'Odd (2x)'],
  ['even', 'Even (2x)'],
  ['low', 'Low 1-18 (2x)'],
  ['high', 'High 19-36 (2x)'],
  ['dozen1', '1st dozen 1-12 (3x)'],
  ['dozen2', '2nd dozen 13-24 (3x)'],
  ['dozen3', '3rd dozen 25-36 (3x)'],
  ['column1', 'Column 1, 4 … 34 (3x)'],
  ['column2', 'Column 2, 5 … 35 (3x)'],
  ['column3', 'Column 3, 6 … 36 (3x)'],
]
const NAMES = new Map(OUTSIDE)

export const roulette: GameModule = {
  key: 'roulette',
  name: 'Roulette',
  blurb: 'A single-zero wheel: a colour, odd or even, a half, a dozen, a column or one pocket.',
  fn: 'play_roulette',
  initial: { bet: 'red' },
  Controls({ choices, set }) {
    return (
      <label>
        Bet
        <select value={String(choices.bet)} onChange={(e) => set({ ...choices, bet: e.target.value })}>
          <optgroup label="Outside">
            {OUTSIDE.map(([value, label]) => (
              <option key={value} value={value}>
                {label}
              </option>
            ))}
          </optgroup>
          <optgroup label="One pocket (36x)">
            {Array.from({ length: 37 }, (_, pocket) => (
              <option key={pocket} value={String(pocket)}>
                {pocket} ({colorOf(pocket)})
              </option>
            ))}
          </optgroup>
        </select>
      </label>
    )
  },
  args: (choices) => ({ ok: true, args: { bet: String(choices.bet) } }),
  describeChoice: (p) => NAMES.get(String(p.bet))?.replace(/ \(.*$/, '') ?? `pocket ${String(p.bet)}`,
  describeResult: (r) => `${String(r.pocket)} ${String(r.color)}`,
  // three turns of the wheel, slowing down, ending on the pocket
  tween(r, t) {
    const end = WHEEL.indexOf(Number(r.pocket)) + 3 * WHEEL.length
    const pocket = WHEEL[Math.round(end * (1 - (1 - t) ** 3)) % WHEEL.length]
    return `${pocket} ${colorOf(pocket)}`
  },
  async draw(sample) {
    const pocket = Number(await sample(0, 37n))
    return { pocket, color: colorOf(pocket) }
  },
}
