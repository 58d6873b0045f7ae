// The house games the web app offers, in the lobby's order. Adding a game is one module in
// games/ (a GameModule: its form, its play function, its result in words and its reveal, and
// its draw recomputed for the verifier) and one line here.
import { dice } from './games/dice'
import { keno } from './games/keno'
import { limbo } from './games/limbo'
import { plinko } from './games/plinko'
import { roulette } from './games/roulette'
import type { GameModule } from './types'

export const GAMES: readonly GameModule[] = [dice, limbo, roulette, plinko, keno]

export const gameOf = (key: string): GameModule | undefined => GAMES.find((g) => g.key === key)

/** Mines, a round of several calls with its own screen (MinesScreen.tsx), listed in the lobby too. */
export const MINES = { key: 'mines', name: 'Mines', blurb: 'Reveal cells of a 5×5 grid without hitting a mine; cash out whenever you like.' }
