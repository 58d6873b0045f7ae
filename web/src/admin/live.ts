// What an admin's screens follow live, on one channel, the realtime topic `admin` (docs/live.md):
// - the engine's admin messages, as broadcasts only a current admin receives: `profit` (the
//   house's balance and profit, with the house account's `version`), `wager_pending` (a wager that
//   waits for approval) and `wager_decided`, `settlement_*`, `side_effect_failed`,
//   `withdrawal_pending` and `withdrawal_decided` (withdrawals that wait for an admin);
// - postgres_changes on the `wagers` view: RLS gives an admin every bettor's rows, so a wager
//   placed, approved, rejected, refunded, settled, unsettled or voided anywhere arrives.
// Every change bumps one revision that the admin screens reload on (a burst, such as a settlement
// updating every wager, is folded into one bump). The house's figures do not reload on it: the
// profit is the latest `profit` message, and the rest of house_summary is read again only when
// the house moved or a wager starts or stops waiting (useHouseRevision).
import type { RealtimeChannel } from '@supabase/supabase-js'
import { useEffect } from 'react'
import { refreshMarket } from '../markets'
import { store } from '../store'
import { supabase } from '../supabase'

export interface HouseFigures {
  balance: number
  profit: number
  version: number
}

/** A wager waiting for approval, as `wager_pending` announced it (the `wagers` row). */
export interface PendingArrival {
  id: number
  market_id: number
  outcome_id: number
  position: number
  stake: number
  odds: number
  potential_payout: number | null
  user_id: string
  created_at: string
}

interface Feed {
  revision: number
  houseRevision: number
  house: HouseFigures | null // the latest `profit` message
  arrivals: PendingArrival[] // announced by wager_pending, not decided since, newest first
}

const feed = store<Feed>({ revision: 0, houseRevision: 0, house: null, arrivals: [] })
let channel: RealtimeChannel | null = null
const timers = new Map<string, number>()

/** Run `then` once, 150 ms after the first of a burst of calls with the same name. */
function fold(name: string, then: () => void): void {
  if (timers.has(name)) return
  timers.set(
    name,
    window.setTimeout(() => {
      timers.delete(name)
      then()
    }, 150),
  )
}

const bump = () => fold('revision', () => feed.set((f) => ({ ...f, revision: f.revision + 1 })))
const bumpHouse = () => fold('house', () => feed.set((f) => ({ ...f, houseRevision: f.houseRevision + 1 })))

function isNumber(value: unknown): value is number {
  return typeof value === 'number' && Number.isFinite(value)
}

function onAdminMessage(event: string, payload: Record<string, unknown> | null): void {
  if (!payload) return
  if (event === 'profit') {
    if (isNumber(payload.profit) && isNumber(payload.balance) && isNumber(payload.version)) {
      const { house } = feed.get()
      if (!house || payload.version > house.version) {
        const next = { balance: payload.balance, profit: payload.profit, version: payload.version }
        feed.set((f) => ({ ...f, house: next }))
      }
    }
    bumpHouse() // the settled result, escrow and balances moved with it
  } else if (event === 'wager_pending') {
    if (isNumber(payload.id) && isNumber(payload.market_id)) {
      const arrival = payload as unknown as PendingArrival
      feed.set((f) => ({ ...f, arrivals: [arrival, ...f.arrivals.filter((w) => w.id !== arrival.id)] }))
    }
    bumpHouse()
  } else if (event === 'wager_decided') {
    if (isNumber(payload.id)) forgetArrival(payload.id)
    bumpHouse()
  } else if (event === 'withdrawal_pending' || event === 'withdrawal_decided') {
    bumpHouse() // house_summary counts the withdrawals waiting and what they hold
  } else if (event === 'settlement_confirmation' && isNumber(payload.market_id)) {
    // a draft's switch sends no market message; for other markets this re-reads what the
    // market message brings
    refreshMarket(payload.market_id)
  } else if (event === 'resync') {
    bumpHouse()
  }
  bump()
}

function start(): () => void {
  channel = supabase()
    .channel('admin')
    .on('postgres_changes', { event: '*', schema: 'public', table: 'wagers' }, bump)
    .on('broadcast', { event: '*' }, (message: { event: string; payload: unknown }) =>
      onAdminMessage(message.event, message.payload as Record<string, unknown> | null),
    )
    .on('system', {}, () => {
      bump()
      bumpHouse()
    })
    .subscribe((status) => {
      // anything missed while (re)connecting is in the reloads
      if (status === 'SUBSCRIBED') {
        bump()
        bumpHouse()
      }
    })
  return () => {
    const old = channel
    channel = null
    feed.set((f) => ({ ...f, house: null, arrivals: [] }))
    if (old) void supabase().removeChannel(old)
  }
}

/** Follow the admin feed while an admin is signed in. */
export function useAdminFeed(userId: string | null): void {
  useEffect(() => {
    if (!userId) return
    return start()
  }, [userId])
}

/** Forget a wager announced as waiting once it is known to be decided (approved, rejected). */
export function forgetArrival(wagerId: number): void {
  if (!feed.get().arrivals.some((w) => w.id === wagerId)) return
  feed.set((f) => ({ ...f, arrivals: f.arrivals.filter((w) => w.id !== wagerId) }))
}

/** A number that moves whenever a wager or an admin message arrives. */
export function useAdminRevision(): number {
  return feed.use((f) => f.revision)
}

/** A number that moves when house_summary's figures may have changed: the house moved (a
 *  `profit` message), a wager started or stopped waiting, or the feed (re)connected. */
export function useHouseRevision(): number {
  return feed.use((f) => f.houseRevision)
}

/** The house's latest `profit` message, or null when none arrived. */
export function useHouseMessage(): HouseFigures | null {
  return feed.use((f) => f.house)
}

/** The wagers announced by `wager_pending` and not decided since, newest first. */
export function usePendingArrivals(): PendingArrival[] {
  return feed.use((f) => f.arrivals)
}
