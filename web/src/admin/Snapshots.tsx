// Admin/Market/:id/Snapshots (DBGP 6.4, 3.6): the pool snapshots of one market, as the engine
// took them (every few seconds while the market is open, once more when it closes), read from the
// `pool_snapshots` view (docs/depth.md), one row per outcome per snapshot, over the last 5 or 15
// minutes, hour, 6 or 24 hours, or the market's whole life. Newest first, a page at a time: a page
// is at most the server's row cap (maxRows(), 1,000 rows by default; fewer snapshots the more
// outcomes the market has), and "Older snapshots" reads the next one. Charts of each outcome's pool and odds over what is loaded, then
// every snapshot: reason, market version, total pool, takeout, and each outcome's pool, share and
// odds. Newer snapshots are read when the market moves and every 10 seconds.
import { useEffect, useMemo, useState } from 'react'
import type { ChartDataset } from 'chart.js'
import { PALETTE, clock } from '../charts/ChartCanvas'
import { LineChart } from '../charts/LineChart'
import { useMarkets, type Market } from '../markets'
import { formatMinor, formatOdds, formatShare } from '../money'
import { maxRows } from '../supabase'
import { Table, type Column } from '../Table'
import { useNow } from '../time'
import { AdminPage } from './AdminNav'
import { MarketPicker } from './MarketPicker'
import { SPANS, moment, useSnapshots, type Snapshot, type SnapshotOutcome, type Span } from './useSnapshots'

const TABLE_STEP = 120 // table rows shown at a time, newest first

const money = (value: number) => formatMinor(value)
const odds = (value: number) => formatOdds(value)

/** The snapshots worth a row: the first, every close, and each one whose market version moved
 *  (oldest first). */
function changesOnly(snapshots: Snapshot[]): Snapshot[] {
  return snapshots.filter(
    (s, i) => i === 0 || s.reason !== 'interval' || s.market_version !== snapshots[i - 1].market_version,
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
