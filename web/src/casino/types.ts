// What the casino screens read and what a game module is. Amounts are minor units; targets and
// multipliers the engine's hundredths (docs/house-games.md).
import type { ComponentType } from 'react'

/** A row of the `house_games` view. */
export interface HouseGameSettings {
  game: string
  enabled: boolean
  house_edge_bps: number | null // null: the game's edge is in its rules (roulette's zero)
  max_profit: number
  updated_at: string
}

/** A row of the `house_bets` view (server_seed: only once the pair is revealed). */
export interface HouseBet {
  id: string
  user_id: string
  game: string
  status: string
  stake: number
  params: Record<string, unknown>
  house_edge_bps: number | null
  result: Record<string, unknown> | null
  multiplier: number
  payout: number
  won: boolean
  profit: number
  seed_pair_id: number
  nonce: number
  server_seed_hash: string
  client_seed: string
  server_seed?: string | null
  created_at: string
}

/** What a play_<game> answers: the bet, and the wallet after it. */
export interface PlayAnswer extends HouseBet {
  balance: number
  balance_version: number
  chance?: number
}

/** The player's choices as typed: a form's values. */
export type Choices = Record<string, string | boolean>

/** `sample(cursor, limit)`: sample `cursor` of a bet's round, a number in [0, limit) (rng.ts). */
export type Sample = (cursor: number, limit: bigint) => Promise<bigint>

/** One house game, all the web app knows of it: a registry entry (registry.ts). */
export interface GameModule {
  key: string // its key in house_games and house_bets
  name: string
  blurb: string
  fn: string // the play function: play_<key>
  initial: Choices
  /** The form of the player's choices (besides the stake), with what they make shown live. */
  Controls: ComponentType<{ choices: Choices; set: (next: Choices) => void; settings: HouseGameSettings | null }>
  /** The play function's arguments besides stake and idempotency key, or why the choices are not valid. */
  args(choices: Choices): { ok: true; args: Record<string, unknown> } | { ok: false; why: string }
  /** The choices as a bet records them (auto_bet's `params`), from args' args; args' args when absent. */
  params?(args: Record<string, unknown>): Record<string, unknown>
  /** A bet's choices in words ("over 50.00"). */
  describeChoice(params: Record<string, unknown>): string
  /** A result in words ("73.72", "27 red"). */
  describeResult(result: Record<string, unknown>): string
  /** What the reveal shows at `t` (0 to 1) of its course toward `result`. */
  tween(result: Record<string, unknown>, t: number): string
  /** A picture of the bet at `t` of its reveal (plinko's board, keno's tiles), drawn only once the answer is in. */
  Board?: ComponentType<{ bet: HouseBet; t: number }>
  /** The result recomputed from the round's samples, as the engine records it. */
  draw(sample: Sample, bet: { params: Record<string, unknown>; house_edge_bps: number | null }): Promise<Record<string, unknown>>
}
