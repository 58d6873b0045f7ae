// The signed-in user's own money and wagers, kept live through postgres_changes on the `my_*`
// views (RLS sends a user their own rows only). The balance follows the wallet's version: a
// change older than the balance shown is dropped. Wagers and ledger lists reload on a change:
// every change to a wager comes as a `my_wagers` row (placed, approved, rejected, refunded,
// settled, and since the engine announces them so, unsettled or voided one by one by an admin).
// Withdrawals that wait for an admin (the real-money profile) come as `my_withdrawals` rows.
import type { RealtimeChannel } from '@supabase/supabase-js'
import { useEffect } from 'react'
import { store } from './store'
import { supabase } from './supabase'

interface MeState {
  userId: string | null
  balance: number | null
  version: number
  wagersRevision: number // bumped on every change to the user's wagers
  ledgerRevision: number // bumped on every new ledger entry
  withdrawalsRevision: number // bumped on every change to the user's withdrawals waiting for an admin
}

const EMPTY = { balance: null, version: -1, wagersRevision: 0, ledgerRevision: 0, withdrawalsRevision: 0 }
const me = store<MeState>({ userId: null, ...EMPTY })
let channel: RealtimeChannel | null = null

function update(patch: Partial<MeState>): void {
  me.set((state) => ({ ...state, ...patch }))
}

/** A wallet row or answer ({balance, version}); ignored when older than the one shown. */
export function applyWallet(row: { balance?: unknown; version?: unknown } | null | undefined): void {
  if (!row || typeof row.balance !== 'number' || typeof row.version !== 'number') return
  if (row.version <= me.get().version) return
  update({ balance: row.balance, version: row.version })
}

async function loadWallet(): Promise<void> {
  // get_wallet creates the wallet (with its welcome grant) on first use
  const { data, error } = await supabase().rpc('get_wallet')
  if (!error) applyWallet(data as { balance: number; version: number })
}

function follow(userId: string): void {
  channel = supabase()
    .channel(`me:${userId}`)
    .on('postgres_changes', { event: '*', schema: 'public', table: 'my_wallet' }, (change) =>
      applyWallet(change.new as { balance: number; version: number }),
    )
    .on('postgres_changes', { event: '*', schema: 'public', table: 'my_wagers' }, () =>
      update({ wagersRevision: me.get().wagersRevision + 1 }),
    )
    .on('postgres_changes', { event: 'INSERT', schema: 'public', table: 'my_ledger' }, () =>
      update({ ledgerRevision: me.get().ledgerRevision + 1 }),
    )
    .on('postgres_changes', { event: '*', schema: 'public', table: 'my_withdrawals' }, () =>
      update({ withdrawalsRevision: me.get().withdrawalsRevision + 1 }),
    )
    .on('system', {}, (message: { message?: string }) => {
      if (message.message?.startsWith('resync')) void reload()
    })
    .subscribe((status) => {
      if (status === 'SUBSCRIBED') void reload()
    })
}

async function reload(): Promise<void> {
  await loadWallet()
  const { wagersRevision, ledgerRevision, withdrawalsRevision } = me.get()
  update({
    wagersRevision: wagersRevision + 1,
    ledgerRevision: ledgerRevision + 1,
    withdrawalsRevision: withdrawalsRevision + 1,
  })
}

async function switchUser(userId: string | null): Promise<void> {
  if (userId === me.get().userId) return
  if (channel) {
    const old = channel
    channel = null
    await supabase().removeChannel(old)
  }
  me.set({ userId, ...EMPTY })
  if (userId) follow(userId)
}

/** Follow the given user (or nobody); call from the top of the app. */
export function useFollowMe(userId: string | null): void {
  useEffect(() => {
    void switchUser(userId)
  }, [userId])
}

export function useMe(): MeState {
  return me.use((state) => state)
}
