// The player's rewards as the engine answers them (rpc/83_house_effects.sql,
// rpc/84_ggr_and_affiliates.sql): level and rakeback, referral figures, and a claim that pays one
// of them into the wallet. Amounts are minor units. The side-effect jobs count a bet a moment
// after it settles, so the figures are read again on a bounded interval as well as on the
// player's own ledger moves.
import { useEffect, useState } from 'react'
import { call } from '../load'
import { applyWallet } from '../me'
import { formatMinor } from '../money'

/** get_level()'s answer. */
export interface Level {
  xp: number
  bets: number
  level: number
  level_min_xp: number
  next_level_xp: number | null
  rakeback_accrued: number
  rakeback_paid: number
  rakeback_claimable: number
}

/** get_affiliate()'s answer. */
export interface Affiliate {
  code: string
  referred_by: string | null
  referred_players: number
  share_bps: number
  ggr: number
  bets: number
  accrued: number
  paid: number
  claimable: number
}

/** A row of the `live_bets` view. */
export interface LiveBet {
  bet_id: string
  game: string
  player: string
  stake: number
  multiplier: number
  payout: number
  profit: number
  settled_at: string
}

interface Paid {
  paid: number
  balance: number
  balance_version: number
}

/** How often the rewards and the live feed are read again (a bounded, modest interval). */
export const REFRESH_MS = 5_000

/** A count that moves every `ms` while the screen is shown: a key for useLoad. */
export function useTick(ms: number = REFRESH_MS): number {
  const [tick, setTick] = useState(0)
  useEffect(() => {
    const timer = window.setInterval(() => setTick((t) => t + 1), ms)
    return () => window.clearInterval(timer)
  }, [ms])
  return tick
}

/** What a screen says after an action: done, or refused (in words). */
export interface Said {
  ok: boolean
  text: string
}

/** claim_rakeback or claim_affiliate_commission with a fresh idempotency key (one per press);
 *  the answer's balance goes to the header. Says what was paid (`what`: "rakeback"). */
export async function claim(fn: 'claim_rakeback' | 'claim_affiliate_commission', what: string): Promise<Said> {
  const answer = await call<Paid>(fn, { idempotency_key: crypto.randomUUID() })
  if (!answer.ok) return { ok: false, text: answer.refusal.text }
  applyWallet({ balance: answer.data.balance, version: answer.data.balance_version })
  const paid = answer.data.paid
  return { ok: true, text: paid > 0 ? `${formatMinor(paid)} ${what} paid into your wallet.` : 'Nothing to claim yet.' }
}
