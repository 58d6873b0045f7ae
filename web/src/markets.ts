// The markets everyone sees, kept live: loaded from the `markets` view, then moved by the
// engine's broadcasts on the realtime topic `markets` (docs/live.md). Every market message carries
// the market's version; one not above the version shown is dropped.
import type { RealtimeChannel } from '@supabase/supabase-js'
import { everyRow } from './load'
import { store } from './store'
import { supabase } from './supabase'

export type Trend = 'up' | 'down' | null

export interface Outcome {
  outcome_id: number
  position: number
  label: string
  color: string | null
  abbreviation: string | null
  pool: number
  share: number
  odds: number | null
  cap: number | null
  wager_count: number
  trend?: Trend
}

export interface Market {
  id: number
  title: string
  description: string | null
  kind: 'fixed_odds' | 'parimutuel'
  category: string
  status: 'draft' | 'open' | 'closed' | 'settled' | 'void'
  closes_at: string | null
  accepting_wagers: boolean // takes wagers now: the engine's own rule (open, before closes_at)
  total_pool: number
  version: number
  requires_approval: boolean
  settlement_requires_confirmation: boolean // settled only by a second admin confirming a proposal
  rake_bps: number | null
  max_payout: number | null
  winning_outcome_id: number | null
  outcomes: Outcome[]
}

export type LiveState = 'connecting' | 'live' | 'offline'

const COLUMNS =
  'id,title,description,kind,category,status,closes_at,accepting_wagers,total_pool,version,' +
  'requires_approval,settlement_requires_confirmation,rake_bps,max_payout,winning_outcome_id,' +
  'outcomes'
const RANK: Record<Market['status'], number> = { open: 0, closed: 1, draft: 2, settled: 3, void: 4 }

interface Board {
  list: Market[] // open first, then closed, drafts, settled, void; newest first within each
  byId: ReadonlyMap<number, Market>
  loaded: boolean // the first read of the board answered
  live: LiveState
}

let markets = new Map<number, Market>() // what the messages change, shown on publish()
let channel: RealtimeChannel | null = null
const board = store<Board>({ list: [], byId: new Map(), loaded: false, live: 'connecting' })

function publish(patch: Partial<Board> = {}): void {
  const list = [...markets.values()].sort((a, b) => RANK[a.status] - RANK[b.status] || b.id - a.id)
  board.set((before) => ({ ...before, ...patch, list, byId: new Map(markets) }))
}

function withTrends(next: Outcome[], previous: Outcome[] | undefined): Outcome[] {
  return next.map((outcome) => {
    const before = previous?.find((o) => o.outcome_id === outcome.outcome_id)
    let trend: Trend = before?.trend ?? null
    if (before && before.odds !== null && outcome.odds !== null && before.odds !== outcome.odds)
      trend = outcome.odds > before.odds ? 'up' : 'down'
    return { ...before, ...outcome, trend }
  })
}

/** Put a row of the `markets` view in, unless what is shown is newer. */
function put(row: Market): void {
  const current = markets.get(row.id)
  if (current && current.version > row.version) return
  markets.set(row.id, { ...row, outcomes: withTrends(row.outcomes ?? [], current?.outcomes) })
}

async function reloadAll(): Promise<void> {
  const answer = await everyRow<Market>((from, to) =>
    supabase().from('markets').select(COLUMNS).order('id').range(from, to),
  )
  if (!answer.ok) return
  const fresh = new Map<number, Market>()
  for (const row of answer.data) {
    const current = markets.get(row.id)
    fresh.set(row.id, {
      ...row,
      outcomes: withTrends(row.outcomes ?? [], current?.outcomes),
    })
  }
  markets = fresh
  publish({ loaded: true })
}

async function reloadOne(id: number): Promise<void> {
  const { data, error } = await supabase().from('markets').select(COLUMNS).eq('id', id)
  if (error || !data) return
  const rows = data as unknown as Market[]
  if (rows.length === 0) markets.delete(id)
  else put(rows[0])
  publish()
}

interface OddsMessage {
  market_id: number
  version: number
  status?: Market['status']
  total_pool?: number
  outcomes?: Partial<Outcome>[]
  market?: Market
}

function onMessage(event: string, message: OddsMessage): void {
  const current = markets.get(message.market_id)
  if (event === 'created' || event === 'opened') {
    if (message.market) put(message.market)
    else void reloadOne(message.market_id)
    publish()
    return
  }
  if (current && message.version <= current.version) return
  if (event === 'odds' && current && message.outcomes) {
    const merged = current.outcomes.map((outcome) => {
      const update = message.outcomes?.find((o) => o.outcome_id === outcome.outcome_id)
      return update ? { ...outcome, ...update } : outcome
    })
    markets.set(current.id, {
      ...current,
      version: message.version,
      status: message.status ?? current.status,
      total_pool: message.total_pool ?? current.total_pool,
      outcomes: withTrends(merged, current.outcomes),
    })
    publish()
    return
  }
  // closed, settled, voided, unsettled, a truncated message, or a market not loaded yet
  void reloadOne(message.market_id)
}

function setLive(live: LiveState): void {
  board.set((before) => ({ ...before, live }))
}

/** Load the board and follow it live. Called once, when the page starts. */
export function startMarkets(): void {
  if (channel) return
  channel = supabase()
    .channel('markets')
    .on('broadcast', { event: '*' }, (message: { event: string; payload: OddsMessage }) => {
      if (message.event === 'resync') void reloadAll()
      else onMessage(message.event, message.payload)
    })
    .on('system', {}, (message: { message?: string }) => {
      if (message.message?.startsWith('resync')) void reloadAll()
    })
    .subscribe((status) => {
      if (status === 'SUBSCRIBED') {
        // anything missed while (re)connecting is in the reload
        void reloadAll().then(() => setLive('live'))
      } else if (status === 'CHANNEL_ERROR' || status === 'TIMED_OUT' || status === 'CLOSED') {
        setLive('offline')
      }
    })
}

/** Read one market again (a draft says nothing on the socket: neither its creation nor its
 *  two-step settlement switch, which admins hear of on their own topic). */
export function refreshMarket(id: number): void {
  void reloadOne(id)
}

/** Read the whole board again: who is signed in decides what it holds (drafts: admins only). */
export function refreshMarkets(): void {
  if (channel) void reloadAll()
}

export function useMarkets(): { markets: Market[]; loaded: boolean } {
  return { markets: board.use((b) => b.list), loaded: board.use((b) => b.loaded) }
}

export function useMarket(id: number): Market | undefined {
  return board.use((b) => b.byId.get(id))
}

export function useLive(): LiveState {
  return board.use((b) => b.live)
}
