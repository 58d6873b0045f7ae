// Admin/Market/:id/Snapshots (DBGP 6.4, 3.6): the pool snapshots of one market, as the engine
// took them (every few seconds while the market is open, once more when it closes), read with
// get_market_depth (docs/depth.md), which answers those of the last 5 minutes, 15 minutes or hour.
// Charts of each outcome's pool and odds, then every snapshot: reason, market version, total pool,
// takeout, and each outcome's pool, share and odds. Asked again when the market moves and every
// 10 seconds.
import { useMemo, useState } from 'react'
import type { ChartDataset } from 'chart.js'
import { LineChart } from '../depth/LineChart'
import { call, useLoad } from '../load'
import { useMarkets, type Market } from '../markets'
import { formatMinor, formatOdds, formatShare } from '../money'
import { navigate } from '../router'
import { useNow } from '../time'
import { AdminPage } from './AdminNav'
import { PALETTE, clock } from './ChartCanvas'

type Window = '5m' | '15m' | '1h'
const WINDOWS: Window[] = ['5m', '15m', '1h']
const SHOWN = 120 // rows in the table at most, newest first

interface SnapshotOutcome {
  outcome_id: number
  pool: number
  share: number
  odds: number | null
}

interface Snapshot {
  taken_at: string
  reason: 'interval' | 'close'
  market_version: number
  total_pool: number
  takeout: number
  outcomes: SnapshotOutcome[]
}

interface Depth {
  status: string
  version: number
  from: string
  to: string
  snapshots: Snapshot[]
}

const money = (value: number) => formatMinor(value)
const odds = (value: number) => formatOdds(value)

/** The snapshots worth a row: the first, every close, and each one whose market version moved. */
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
  const { labels, pools, prices } = useMemo(() => {
    const labels = snapshots.map((s) => clock(s.taken_at))
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
          pointRadius: 2,
          tension: 0.2,
        }
      })
    return { labels, pools: series((p) => p.pool, true), prices: series((p) => p.odds, false) }
  }, [market.outcomes, snapshots])
  return (
    <div className="two">
      <div>
        <h3>Pool by outcome</h3>
        <LineChart label="Each outcome's pool at every snapshot" labels={labels} datasets={pools} formatY={money} stacked />
      </div>
      <div>
        <h3>Odds by outcome</h3>
        <LineChart label="Each outcome's odds at every snapshot" labels={labels} datasets={prices} formatY={odds} />
      </div>
    </div>
  )
}

function SnapshotTable({ market, snapshots }: { market: Market; snapshots: Snapshot[] }) {
  const newest = [...snapshots].reverse().slice(0, SHOWN)
  return (
    <div className="table-wrap">
      <table className="snapshots">
        <thead>
          <tr>
            <th scope="col">Taken</th>
            <th scope="col">Reason</th>
            <th scope="col" className="num">Version</th>
            <th scope="col" className="num">Total pool</th>
            <th scope="col" className="num">Takeout</th>
            {market.outcomes.map((o) => (
              <th key={o.outcome_id} scope="col" className="num">
                {o.label}
                <span className="sub">pool · share · odds</span>
              </th>
            ))}
          </tr>
        </thead>
        <tbody>
          {newest.map((s) => (
            <tr key={`${s.taken_at}-${s.reason}`} data-reason={s.reason} data-version={s.market_version}>
              <td>{new Date(s.taken_at).toLocaleString()}</td>
              <td>{s.reason === 'close' ? <span className="badge status-closed">close</span> : 'interval'}</td>
              <td className="num">{s.market_version}</td>
              <td className="num" data-testid="snapshot-pool">{formatMinor(s.total_pool)}</td>
              <td className="num">{formatMinor(s.takeout)}</td>
              {market.outcomes.map((o) => {
                const p = s.outcomes.find((x) => x.outcome_id === o.outcome_id)
                return (
                  <td key={o.outcome_id} className="num" data-outcome-id={o.outcome_id}>
                    {p ? `${formatMinor(p.pool)} · ${formatShare(p.share)} · ${formatOdds(p.odds)}` : '–'}
                  </td>
                )
              })}
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  )
}

function MarketSnapshots({ market }: { market: Market }) {
  const [span, setSpan] = useState<Window>('15m')
  const [onlyChanges, setOnlyChanges] = useState(false)
  const tick = Math.floor(useNow(10_000) / 10_000)
  const { data: depth, error } = useLoad(
    () => call<Depth>('get_market_depth', { market_id: market.id, window: span }),
    [market.id, market.version, span, tick],
  )
  const all = depth?.snapshots ?? []
  const shown = onlyChanges ? changesOnly(all) : all
  const closes = all.filter((s) => s.reason === 'close').length
  const latest = all.length > 0 ? all[all.length - 1] : null
  return (
    <section className="card stack" aria-labelledby="snapshots-title" data-testid="snapshots" data-snapshots={all.length}>
      <header>
        <h2 id="snapshots-title">Pool snapshots</h2>
        <div className="segmented" role="group" aria-label="Window">
          {WINDOWS.map((w) => (
            <button key={w} type="button" className={`small ${span === w ? 'picked' : ''}`} aria-pressed={span === w} onClick={() => setSpan(w)}>
              {w}
            </button>
          ))}
        </div>
      </header>
      <p className="muted">
        Taken every few seconds while the market is open and once when it closes; the engine answers those of the
        last hour at most.
      </p>
      {error && <p className="error">{error}</p>}
      <dl className="facts">
        <div>
          <dt>Snapshots in the window</dt>
          <dd data-testid="snapshot-count">{depth ? all.length : '–'}</dd>
        </div>
        <div>
          <dt>At close</dt>
          <dd>{depth ? closes : '–'}</dd>
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
      {depth && all.length === 0 ? (
        <p className="muted">
          No snapshot in this window{market.status === 'open' ? ' yet: the first comes within seconds.' : ': the market is not open.'}
        </p>
      ) : (
        depth && (
          <>
            <Charts market={market} snapshots={all} />
            <label className="check">
              <input type="checkbox" checked={onlyChanges} onChange={(e) => setOnlyChanges(e.target.checked)} /> Only
              snapshots where the market moved (and the close)
            </label>
            {shown.length > SHOWN && <p className="muted">The latest {SHOWN} of {shown.length}.</p>}
            <SnapshotTable market={market} snapshots={shown} />
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
