// Admin/Market/:id/Snapshots (DBGP 6.4, 3.6): the pool snapshots of one market, as the engine
// took them (every few seconds while the market is open, once more when it closes), read from the
// `pool_snapshots` view (docs/depth.md), one row per outcome per snapshot, over the last 5 or 15
// minutes, hour, 6 or 24 hours, or the market's whole life. Newest first, a page at a time: a page
// is at most the server's row cap (maxRows(), 1,000 rows by default; fewer snapshots the more
// outcomes the market has), and "Older snapshots" reads the next one. Charts of each outcome's pool and odds over what is loaded, then
// every snapshot: reason, market version, total pool, takeout, and each outcome's pool, share and
// odds. Newer snapshots are read when the market moves and every 10 seconds.
import { useCallback, useEffect, useMemo, useRef, useState } from 'react'
import type { ChartDataset } from 'chart.js'
import { PALETTE, clock } from '../charts/ChartCanvas'
import { LineChart } from '../charts/LineChart'
import { rows, type Answer } from '../load'
import { useMarkets, type Market } from '../markets'
import { formatMinor, formatOdds, formatShare } from '../money'
import { navigate } from '../router'
import { maxRows, supabase } from '../supabase'
import { Table, type Column } from '../Table'
import { useNow } from '../time'
import { AdminPage } from './AdminNav'

type Span = '5m' | '15m' | '1h' | '6h' | '24h' | 'all'
const SPANS: { span: Span; seconds: number | null; label: string }[] = [
  { span: '5m', seconds: 5 * 60, label: '5m' },
  { span: '15m', seconds: 15 * 60, label: '15m' },
  { span: '1h', seconds: 3600, label: '1h' },
  { span: '6h', seconds: 6 * 3600, label: '6h' },
  { span: '24h', seconds: 24 * 3600, label: '24h' },
  { span: 'all', seconds: null, label: 'All' },
]
const TABLE_STEP = 120 // table rows shown at a time, newest first
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

interface SnapshotOutcome {
  outcome_id: number
  pool: number
  share: number
  odds: number | null
}

interface Snapshot {
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

const money = (value: number) => formatMinor(value)
const odds = (value: number) => formatOdds(value)

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
const moment = (s: Snapshot) => `${s.taken_at}|${s.reason}`

/** Whether a snapshot was taken at or after `from` (null: the whole life). */
const inRange = (s: Snapshot, from: string | null) => from === null || Date.parse(s.taken_at) >= Date.parse(from)

/** The snapshots of the range, newest first, kept up to date; `older` reads the next page. */
function useSnapshots(market: Market, span: Span, tick: number): Loaded & { older: () => void; busy: boolean } {
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

/** The snapshots worth a row: the first, every close, and each one whose market version moved
 *  (oldest first). */
function changesOnly(snapshots: Snapshot[]): Snapshot[] {
  return snapshots.filter(
    (s, i) => i === 0 || s.reason !== 'interval' || s.market_version !== snapshots[i - 1].market_version,
  )
}

export function MarketPicker({ id, tab, allLabel }: { id: number | null; tab: 'snapshots' | 'telemetry'; allLabel?: string }) {
  const { markets } = useMarkets()
  return (
    <label className="picker">
      Market
      <select
        value={id ?? ''}
        onChange={(e) => navigate(e.target.value ? `/admin/markets/${e.target.value}/${tab}` : `/admin/${tab}`)}
      >
        <option value="">{allLabel ?? 'Pick a market'}</option>
        {markets.map((m) => (
          <option key={m.id} value={m.id}>
            #{m.id} {m.title} ({m.status})
          </option>
        ))}
      </select>
    </label>
  )
}

function Charts({ market, snapshots }: { market: Market; snapshots: Snapshot[] }) {
  const { times, pools, prices } = useMemo(() => {
    const times = snapshots.map((s) => Date.parse(s.taken_at))
    const series = (pick: (o: SnapshotOutcome) => number | null, fill: boolean) =>
      market.outcomes.map((o, index): ChartDataset<'line', (number | null)[]> => {
        const colour = o.color ?? PALETTE[index % PALETTE.length]
        return {
          label: o.label,
          data: snapshots.map((s) => {
            const point = s.outcomes.find((p) => p.outcome_id === o.outcome_id)
            return point ? pick(point) : null
          }),
          borderColor: colour,
          backgroundColor: `${colour}55`,
          fill: fill ? 'stack' : false,
          pointRadius: snapshots.length > 300 ? 0 : 2,
          tension: 0.2,
        }
      })
    return { times, pools: series((p) => p.pool, true), prices: series((p) => p.odds, false) }
  }, [market.outcomes, snapshots])
  return (
    <div className="two">
      <div>
        <h3>Pool by outcome</h3>
        <LineChart label="Each outcome's pool at every snapshot" times={times} datasets={pools} formatY={money} stacked />
      </div>
      <div>
        <h3>Odds by outcome</h3>
        <LineChart label="Each outcome's odds at every snapshot" times={times} datasets={prices} formatY={odds} />
      </div>
    </div>
  )
}

function SnapshotTable({ market, snapshots }: { market: Market; snapshots: Snapshot[] }) {
  return (
    <Table
      className="snapshots"
      rows={snapshots}
      rowKey={moment}
      rowProps={(s) => ({ 'data-reason': s.reason, 'data-version': s.market_version })}
      empty="No snapshot."
      columns={[
        { header: 'Taken', cell: (s) => new Date(s.taken_at).toLocaleString() },
        { header: 'Reason', cell: (s) => (s.reason === 'close' ? <span className="badge status-closed">close</span> : 'interval') },
        { header: 'Version', numeric: true, cell: (s) => s.market_version },
        { header: 'Total pool', numeric: true, cell: (s) => formatMinor(s.total_pool), cellProps: () => ({ 'data-testid': 'snapshot-pool' }) },
        { header: 'Takeout', numeric: true, cell: (s) => formatMinor(s.takeout) },
        ...market.outcomes.map(
          (o): Column<Snapshot> => ({
            key: `outcome-${o.outcome_id}`,
            header: (
              <>
                {o.label}
                <span className="sub">pool · share · odds</span>
              </>
            ),
            numeric: true,
            cell: (s) => {
              const p = s.outcomes.find((x) => x.outcome_id === o.outcome_id)
              return p ? `${formatMinor(p.pool)} · ${formatShare(p.share)} · ${formatOdds(p.odds)}` : '–'
            },
            cellProps: () => ({ 'data-outcome-id': o.outcome_id }),
          }),
        ),
      ]}
    />
  )
}

function MarketSnapshots({ market }: { market: Market }) {
  const [span, setSpan] = useState<Span>('15m')
  const [onlyChanges, setOnlyChanges] = useState(false)
  const [tableRows, setTableRows] = useState(TABLE_STEP)
  const tick = Math.floor(useNow(10_000) / 10_000)
  const { snapshots: newestFirst, total, error, older, busy } = useSnapshots(market, span, tick)
  useEffect(() => setTableRows(TABLE_STEP), [market.id, span, onlyChanges])

  const all = useMemo(() => [...newestFirst].reverse(), [newestFirst]) // oldest first
  // the table's rows, newest first
  const shown = useMemo(() => (onlyChanges ? changesOnly(all).reverse() : newestFirst), [all, newestFirst, onlyChanges])
  const closes = all.filter((s) => s.reason === 'close').length
  const latest = newestFirst[0] ?? null
  const ready = total !== null || error !== null
  const more = total !== null && total > all.length
  return (
    <section
      className="card stack"
      aria-labelledby="snapshots-title"
      data-testid="snapshots"
      data-snapshots={all.length}
      data-span={span}
    >
      <header>
        <h2 id="snapshots-title">Pool snapshots</h2>
        <div className="segmented" role="group" aria-label="Range">
          {SPANS.map((s) => (
            <button
              key={s.span}
              type="button"
              className={`small ${span === s.span ? 'picked' : ''}`}
              aria-pressed={span === s.span}
              onClick={() => setSpan(s.span)}
            >
              {s.label}
            </button>
          ))}
        </div>
      </header>
      <p className="muted">
        Taken every few seconds while the market is open and once when it closes. Newest first, up to{' '}
        {maxRows().toLocaleString('en')} rows (one per outcome) per read.
      </p>
      {error && <p className="error">{error}</p>}
      <dl className="facts">
        <div>
          <dt>Snapshots in the range</dt>
          <dd data-testid="snapshot-count">{total ?? '–'}</dd>
        </div>
        <div>
          <dt>Loaded</dt>
          <dd data-testid="snapshot-loaded">{ready ? all.length : '–'}</dd>
        </div>
        <div>
          <dt>At close</dt>
          <dd>{ready ? closes : '–'}</dd>
        </div>
        <div>
          <dt>Latest</dt>
          <dd>{latest ? clock(latest.taken_at) : '–'}</dd>
        </div>
        <div>
          <dt>Pool then</dt>
          <dd>{latest ? formatMinor(latest.total_pool) : '–'}</dd>
        </div>
        <div>
          <dt>Takeout then</dt>
          <dd>{latest ? formatMinor(latest.takeout) : '–'}</dd>
        </div>
        <div>
          <dt>Market version now</dt>
          <dd>{market.version}</dd>
        </div>
      </dl>
      {ready && all.length === 0 ? (
        <p className="muted">
          No snapshot in this range{market.status === 'open' ? ' yet: the first comes within seconds.' : ': the market is not open.'}
        </p>
      ) : (
        ready && (
          <>
            <Charts market={market} snapshots={all} />
            <label className="check">
              <input type="checkbox" checked={onlyChanges} onChange={(e) => setOnlyChanges(e.target.checked)} /> Only
              snapshots where the market moved (and the close)
            </label>
            {shown.length > tableRows && (
              <p className="muted">
                The newest {tableRows} of the {shown.length} loaded.
              </p>
            )}
            <SnapshotTable market={market} snapshots={shown.slice(0, tableRows)} />
            <div className="row-actions">
              {shown.length > tableRows && (
                <button type="button" className="small" onClick={() => setTableRows((n) => n + TABLE_STEP)}>
                  Show {Math.min(TABLE_STEP, shown.length - tableRows)} more rows
                </button>
              )}
              {more && (
                <button type="button" className="small" onClick={older} disabled={busy} data-testid="older-snapshots">
                  {busy ? 'Reading…' : `Older snapshots (${total - all.length} not loaded)`}
                </button>
              )}
            </div>
          </>
        )
      )}
    </section>
  )
}

export function Snapshots({ id, isAdmin }: { id: number | null; isAdmin: boolean }) {
  const { markets, loaded } = useMarkets()
  const market = id === null ? undefined : markets.find((m) => m.id === id)
  return (
    <AdminPage isAdmin={isAdmin} title={market ? market.title : 'Pool snapshots'}>
      <div className="filters">
        <MarketPicker id={id} tab="snapshots" />
      </div>
      {id === null ? (
        <p className="muted">Pick a market to see its pool snapshots.</p>
      ) : market ? (
        <MarketSnapshots market={market} />
      ) : (
        <p className="muted">{loaded ? 'There is no such market.' : 'Loading…'}</p>
      )}
    </AdminPage>
  )
}
