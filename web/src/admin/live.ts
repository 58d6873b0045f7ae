// What an admin's screens follow live. RLS opens the `wagers` view to admins, so postgres_changes
// on it carries every bettor's wager as it is placed (pending or accepted), approved, rejected,
// refunded or settled. The engine's admin messages (`profit`, `wager_pending`, `wager_decided`,
// `side_effect_failed`, `settlement_*`) are taken as broadcasts on the topic `admin` when the
// socket sends them there. Every change bumps one revision that the admin screens reload on;
// bursts (a settlement updates every wager) are folded into one bump.
import type { RealtimeChannel } from '@supabase/supabase-js'
import { useEffect, useSyncExternalStore } from 'react'
import { supabase } from '../supabase'

export interface HouseFigures {
  balance: number
  profit: number
  version: number
}

let revision = 0
let house: HouseFigures | null = null // the latest `profit` message, if the socket sends them
let channel: RealtimeChannel | null = null
let timer: number | null = null
const listeners = new Set<() => void>()

function emit(): void {
  listeners.forEach((listener) => listener())
}

function bump(): void {
  if (timer !== null) return
  timer = window.setTimeout(() => {
    timer = null
    revision++
    emit()
  }, 150)
}

function start(userId: string): () => void {
  channel = supabase()
    .channel(`admin`)
    .on('postgres_changes', { event: '*', schema: 'public', table: 'wagers' }, bump)
    .on('broadcast', { event: '*' }, (message: { event: string; payload: unknown }) => {
      const payload = message.payload as Partial<HouseFigures> | null
      if (message.event === 'profit' && payload && typeof payload.version === 'number') {
        if (!house || payload.version > house.version) house = payload as HouseFigures
      }
      bump()
    })
    .on('system', {}, () => bump())
    .subscribe((status) => {
      if (status === 'SUBSCRIBED') bump()
    })
  void userId
  return () => {
    const old = channel
    channel = null
    if (old) void supabase().removeChannel(old)
  }
}

/** Follow the admin feed while an admin's screen is shown. */
export function useAdminFeed(userId: string | null): void {
  useEffect(() => {
    if (!userId) return
    return start(userId)
  }, [userId])
}

const subscribe = (listener: () => void) => {
  listeners.add(listener)
  return () => listeners.delete(listener)
}

/** A number that moves whenever a wager or an admin message arrives. */
export function useAdminRevision(): number {
  return useSyncExternalStore(subscribe, () => revision)
}

/** The house's latest `profit` message, or null when none arrived. */
export function useHouseMessage(): HouseFigures | null {
  return useSyncExternalStore(subscribe, () => house)
}
