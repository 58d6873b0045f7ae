// The pool snapshots of one market for the Snapshots page (Snapshots.tsx), read from the
// `pool_snapshots` view (docs/depth.md), one row per outcome per snapshot, grouped into snapshots:
// newest first, a page at a time (at most the server's row cap, maxRows()), the newer ones read
// when the market moves and on each tick, the older ones on demand.
import { useCallback, useEffect, useRef, useState } from 'react'
import { rows, type Answer } from '../load'
import type { Market } from '../markets'
import { maxRows, supabase } from '../supabase'

export type Span = '5m' | '15m' | '1h' | '6h' | '24h' | 'all'
export const SPANS: { span: Span; seconds: number | null; label: string }[] = [
  { span: '5m', seconds: 5 * 60, label: '5m' },
  { span: '15m', seconds: 15 * 60, label: '15m' },
  { span: '1h', seconds: 3600, label: '1h' },
  { span: '6h', seconds: 6 * 3600, label: '6h' },
  { span: '24h', seconds: 24 * 3600, label: '24h' },
  { span: 'all', seconds: null, label: 'All' },
]
const COLUMNS = 'outcome_id,reason,market_version,outcome_pool,total_pool,takeout,share,odds,taken_at'

interface SnapshotRow {
  outcome_id: number
  reason: 'interval' | 'close'
  market_version: number
  outcome_pool: number
  total_pool: number
  takeout: number
  share: number
  odds: number | null
  taken_at: string
}

export interface SnapshotOutcome {
  outcome_id: number
  pool: number
  share: number
  odds: number | null
}

export interface Snapshot {
  taken_at: string // as the database wrote it, to the microsecond: the key of the next page
  reason: 'interval' | 'close'
  market_version: number
  total_pool: number
  takeout: number
  outcomes: SnapshotOutcome[]
}

interface Loaded {
  key: string // the market and range these snapshots are of
  snapshots: Snapshot[] // newest first
  total: number | null // snapshots in the range, counted by the database
  error: string | null
}

/** The start of the range, or null for the market's whole life. */
function rangeStart(span: Span): string | null {
  const seconds = SPANS.find((s) => s.span === span)?.seconds ?? null
  return seconds === null ? null : new Date(Date.now() - seconds * 1000).toISOString()
}

/** Rows (newest first) as snapshots: the rows of one moment and reason are one snapshot. */
function grouped(list: SnapshotRow[]): Snapshot[] {
  const found: Snapshot[] = []
  for (const row of list) {
    const last = found[found.length - 1]
    const point = { outcome_id: row.outcome_id, pool: row.outcome_pool, share: row.share, odds: row.odds }
    if (last && last.taken_at === row.taken_at && last.reason === row.reason) {
      last.outcomes.push(point)
    } else {
      found.push({
        taken_at: row.taken_at,
        reason: row.reason,
        market_version: row.market_version,
        total_pool: row.total_pool,
        takeout: row.takeout,
        outcomes: [point],
      })
    }
  }
  return found
}

/** One page of snapshots, newest first, between `after` and `before` (exclusive) within the
 *  range. A full page may end in the middle of a snapshot: the oldest moment is left for the
 *  next page, which starts before the oldest moment kept. */
async function readPage(
  marketId: number,
  from: string | null,
  bounds: { before?: string; after?: string },
): Promise<Answer<{ snapshots: Snapshot[]; full: boolean }>> {
  let query = supabase().from('pool_snapshots').select(COLUMNS).eq('market_id', marketId)
  if (from) query = query.gte('taken_at', from)
  if (bounds.before) query = query.lt('taken_at', bounds.before)
  if (bounds.after) query = query.gt('taken_at', bounds.after)
  const answer = await rows<SnapshotRow>(
    query.order('taken_at', { ascending: false }).order('reason').order('outcome_id').limit(maxRows()),
  )
  if (!answer.ok) return answer
  const full = answer.data.length === maxRows()
  let list = answer.data
  if (full) {
    const oldest = list[list.length - 1].taken_at
    list = list.filter((r) => r.taken_at !== oldest)
  }
  return { ok: true, data: { snapshots: grouped(list), full } }
}

/** A snapshot's identity: its moment, to the microsecond, and its reason. */

/** A snapshot's identity: its moment, to the microsecond, and its reason. */
export const moment = (s: Snapshot) => `${s.taken_at}|${s.reason}`

/** Whether a snapshot was taken at or after `from` (null: the whole life). */
const inRange = (s: Snapshot, from: string | null) => from === null || Date.parse(s.taken_at) >= Date.parse(from)

/** The snapshots of the range, newest first, kept up to date; `older` reads the next page. */
export function useSnapshots(market: Market, span: Span, tick: number): Loaded & { older: () => void; busy: boolean } {
  const [state, setState] = useState<Loaded>({ key: '', snapshots: [], total: null, error: null })
  const [busy, setBusy] = useState(false)
  const current = useRef(state)
  current.current = state
  const generation = useRef(0) // a new market or range drops the answers meant for the old one
  const marketId = market.id
  const firstOutcome = market.outcomes[0]?.outcome_id ?? null
  const key = `${marketId}/${span}`

  const count = useCallback(
    async (from: string | null): Promise<number | null> => {
      if (firstOutcome === null) return 0
      // every snapshot has one row per outcome: the first outcome's rows count the snapshots
      let query = supabase()
        .from('pool_snapshots')
        .select('id', { count: 'exact', head: true })
        .eq('market_id', marketId)
        .eq('outcome_id', firstOutcome)
      if (from) query = query.gte('taken_at', from)
      const { count: found, error } = await query
      return error ? null : found
    },
    [marketId, firstOutcome],
  )

  const reset = useCallback(async () => {
    const mine = ++generation.current
    const from = rangeStart(span)
    const [page, total] = await Promise.all([readPage(marketId, from, {}), count(from)])
    if (mine !== generation.current) return
    setState(
      page.ok
        ? { key, snapshots: page.data.snapshots, total, error: null }
        : { key, snapshots: [], total, error: page.refusal.text },
    )
  }, [key, marketId, span, count])

  useEffect(() => {
    setState({ key: '', snapshots: [], total: null, error: null })
    void reset()
  }, [reset])

  // Newer snapshots, those after the newest loaded, when the market moves and every tick (the
  // range's start moves on with the clock). Only once the first page of this market and range is
  // in: until then `reset` is reading it.
  const version = market.version
  useEffect(() => {
    if (current.current.key !== key) return
    const newest = current.current.snapshots[0]
    if (!newest) {
      void reset()
      return
    }
    const mine = generation.current
    const from = rangeStart(span)
    void Promise.all([readPage(marketId, from, { after: newest.taken_at }), count(from)]).then(([page, total]) => {
      if (mine !== generation.current) return
      if (!page.ok) {
        setState((before) => ({ ...before, error: page.refusal.text }))
      } else if (page.data.full) {
        void reset() // more arrived than a page holds: start again from the newest
      } else {
        setState((before) => {
          // two reads may overlap (a move and a tick): a snapshot is added once
          const known = new Set(before.snapshots.map(moment))
          const fresh = page.data.snapshots.filter((s) => !known.has(moment(s)))
          return { key, snapshots: [...fresh, ...before.snapshots].filter((s) => inRange(s, from)), total, error: null }
        })
      }
    })
  }, [version, tick])

  const older = useCallback(() => {
    const list = current.current.snapshots
    const oldest = list[list.length - 1]
    if (!oldest) return
    const mine = generation.current
    setBusy(true)
    void readPage(marketId, rangeStart(span), { before: oldest.taken_at }).then((page) => {
      setBusy(false)
      if (mine !== generation.current) return
      setState((before) => {
        if (!page.ok) return { ...before, error: page.refusal.text }
        const known = new Set(before.snapshots.map(moment))
        const older = page.data.snapshots.filter((s) => !known.has(moment(s)))
        return { ...before, snapshots: [...before.snapshots, ...older], error: null }
      })
    })
  }, [marketId, span])

  return { ...state, older, busy }
}

