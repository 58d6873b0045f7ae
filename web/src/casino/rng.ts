// The house games' RNG in the browser, exactly as docs/house-games.md writes it (BetService 4.1):
//   hmac_r = HMAC-SHA256(key = server_seed, message = client_seed ":" nonce ":" r)
//   sample k: round r = k / 8, bytes b0..b3 = hmac_r[4 (k % 8) ..], floor(n * limit / 2^32)
// with n = b0 b1 b2 b3 big-endian, in BigInt (exact). And a whole bet verified from a pair.
import { hmacSha256, sha256 } from '../fair'
import type { GameModule, HouseBet, Sample } from './types'

/** The samples of one round (server seed, client seed, nonce); each HMAC computed once. */
export function sampler(serverSeed: string, clientSeed: string, nonce: number): Sample {
  const macs = new Map<number, Promise<string>>()
  return async (cursor, limit) => {
    const round = Math.floor(cursor / 8)
    if (!macs.has(round)) macs.set(round, hmacSha256(serverSeed, `${clientSeed}:${nonce}:${round}`))
    const mac = (await macs.get(round)) as string
    const at = (cursor % 8) * 8 // 4 bytes = 8 hex characters
    return (BigInt(`0x${mac.slice(at, at + 8)}`) * limit) >> 32n
  }
}

/** A round's id: 'bet-' and the first 16 bytes of sha256(hash ":" client seed ":" nonce) as a uuid. */
export async function betId(serverSeedHash: string, clientSeed: string, nonce: number): Promise<string> {
  const h = await sha256(`${serverSeedHash}:${clientSeed}:${nonce}`)
  return `bet-${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20, 32)}`
}

export interface Verdict {
  seedMatches: boolean // sha256(server seed) is the bet's commitment
  idMatches: boolean // the round's id from the commitment, client seed and nonce is the bet's
  result: Record<string, unknown> // recomputed
  resultMatches: boolean // and equal to the recorded one
  matches: boolean // all three
}

// equal key by key; values (numbers, strings, arrays of numbers: a path, drawn tiles) as JSON
const same = (a: Record<string, unknown>, b: Record<string, unknown> | null) =>
  b !== null &&
  Object.keys(a).length === Object.keys(b).length &&
  Object.entries(a).every(([k, v]) => JSON.stringify(v) === JSON.stringify(b[k]))

/** Bet `bet` of game `game` recomputed from the pair given (typed by the player, or revealed). */
export async function verifyBet(
  game: GameModule,
  bet: HouseBet,
  pair: { serverSeed: string; clientSeed: string; nonce: number },
): Promise<Verdict> {
  const seedMatches = (await sha256(pair.serverSeed)) === bet.server_seed_hash
  const idMatches = (await betId(bet.server_seed_hash, pair.clientSeed, pair.nonce)) === bet.id
  const result = await game.draw(sampler(pair.serverSeed, pair.clientSeed, pair.nonce), bet)
  const resultMatches = same(result, bet.result)
  return { seedMatches, idMatches, result, resultMatches, matches: seedMatches && idMatches && resultMatches }
}
