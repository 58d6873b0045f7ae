// The market depth view (DBGP 6.3), all from get_market_depth (docs/depth.md): the outcome
// distribution with share changes over the window, the pool-depth and historic-share charts from
// the pool snapshots, the largest recent wagers, the biggest bettors, price-impact events and the
// pressure index. Asked again when the market moves and every 10 seconds (new snapshots).
import { useMemo, useState } from 'react'
import type { ChartDataset } from 'chart.js'
import { PALETTE, clock } from '../charts/ChartCanvas'
import { LineChart } from '../charts/LineChart'
import { call, useLoad } from '../load'
import type { Market } from '../markets'
import { formatMinor, formatOdds, formatPoints, formatShare } from '../money'
import { Table } from '../Table'
import { useNow } from '../time'

type Window = '5m' | '15m' | '1h'
const WINDOWS: Window[] = ['5m', '15m', '1h']

interface DepthOutcome {
  outcome_id: number
  label: string
  color: string | null
  pool: number
  share: number
  odds: number | null
  wager_count: number
  share_change_pp: number
  window_wagers: number
  window_stake: number
}

interface Snapshot {
  taken_at: string
  total_pool: number
  outcomes: { outcome_id: number; pool: number; share: number }[]
}

interface Depth {
  window_wagers: number
  window_stake: number
  outcomes: DepthOutcome[]
  snapshots: Snapshot[]
  largest_wagers: { outcome_id: number; stake: number; odds: number | null; placed_at: string; mine: boolean }[]
  price_impact_events: {
    outcome_id: number
    stake: number
    share_before: number
    share_after: number
    impact_pp: number
    at: string
    mine: boolean
  }[]
  biggest_bettors: { rank: number; label: string; stake: number; wagers: number; share_of_pool: number; you: boolean; username?: string | null }[]
  pressure: { index: number | null; outcome_id: number | null; stake: number; volume: number }
}

const money = (value: number) => formatMinor(value)
const percent = (value: number) => formatShare(value)

function Distribution({ depth }: { depth: Depth }) {
  return (
    <Table
      className="distribution"
      rows={depth.outcomes}
      rowKey={(o) => o.outcome_id}
      rowProps={(o) => ({ 'data-outcome-id': o.outcome_id })}
      empty="No outcome."
      columns={[
        {
          header: 'Outcome',
          cell: (o) => (
            <>
              <span className="chip" style={{ background: o.color ?? undefined }} aria-hidden="true" /> {o.label}
              <span className="depth-bar" aria-hidden="true">
                <span style={{ width: `${Math.round(o.share * 100)}%`, background: o.color ?? undefined }} />
              </span>
            </>
          ),
        },
        { header: 'Share', numeric: true, cell: (o) => formatShare(o.share) },
        {
          header: 'Change',
          numeric: true,
          cell: (o) => `${o.share_change_pp > 0 ? '▲ ' : o.share_change_pp < 0 ? '▼ ' : ''}${formatPoints(o.share_change_pp)}`,
          cellProps: (o) => ({
            className: o.share_change_pp > 0 ? 'plus' : o.share_change_pp < 0 ? 'minus' : '',
            'data-testid': 'share-change',
          }),
        },
        { header: 'Odds', numeric: true, cell: (o) => formatOdds(o.odds) },
        { header: 'Staked', numeric: true, cell: (o) => formatMinor(o.pool) },
        { header: 'Wagers', numeric: true, cell: (o) => o.wager_count },
      ]}
    />
  )
}

function Charts({ depth }: { depth: Depth }) {
  const { times, pools, shares } = useMemo(() => {
    const times = depth.snapshots.map((s) => Date.parse(s.taken_at))
    const series = (pick: (o: { pool: number; share: number }) => number, fill: boolean) =>
      depth.outcomes.map(
        (o, index): ChartDataset<'line', (number | null)[]> => ({
          label: o.label,
          data: depth.snapshots.map((s) => {
            const point = s.outcomes.find((p) => p.outcome_id === o.outcome_id)
            return point ? pick(point) : null
          }),
          borderColor: o.color ?? PALETTE[index % PALETTE.length],
          backgroundColor: `${o.color ?? PALETTE[index % PALETTE.length]}55`,
          fill: fill ? 'stack' : false,
          pointRadius: 2,
          tension: 0.2,
        }),
      )
    return { times, pools: series((p) => p.pool, true), shares: series((p) => p.share, false) }
  }, [depth])
  if (depth.snapshots.length === 0)
    return <p className="muted">No pool snapshot in this window yet (one is taken every few seconds while the market is open).</p>
  return (
    <div className="two">
      <div>
        <h3>Pool depth</h3>
        <LineChart label="Pool depth by outcome over the window" times={times} datasets={pools} formatY={money} stacked />
      </div>
      <div>
        <h3>Share history</h3>
        <LineChart label="Share of the pool by outcome over the window" times={times} datasets={shares} formatY={percent} max={1} />
      </div>
    </div>
  )
}

export function DepthView({ market }: { market: Market }) {
  const [span, setSpan] = useState<Window>('5m')
  const tick = Math.floor(useNow(10_000) / 10_000)
  const { data: depth, error } = useLoad(
    () => call<Depth>('get_market_depth', { market_id: market.id, window: span }),
    [market.id, market.version, span, tick],
  )
  const label = (id: number | null) => market.outcomes.find((o) => o.outcome_id === id)?.label ?? '–'
  return (
    <section className="card stack depth" aria-labelledby="depth-title" data-testid="depth"
      data-snapshots={depth?.snapshots.length ?? 0}>
      <header>
        <h2 id="depth-title">Market depth</h2>
        <div className="segmented" role="group" aria-label="Window">
          {WINDOWS.map((w) => (
            <button key={w} type="button" aria-pressed={w === span} className={w === span ? 'small picked' : 'small'} onClick={() => setSpan(w)}>
              {w}
            </button>
          ))}
        </div>
      </header>
      {error && <p className="error">{error}</p>}
      {depth && (
        <>
          <dl className="facts">
            <div>
              <dt>Pressure index</dt>
              <dd data-testid="pressure">
                {depth.pressure.index === null ? '–' : depth.pressure.index.toFixed(2)}
                {depth.pressure.outcome_id !== null && <span className="muted"> toward {label(depth.pressure.outcome_id)}</span>}
              </dd>
            </div>
            <div>
              <dt>Wagers in {span}</dt>
              <dd>{depth.window_wagers}</dd>
            </div>
            <div>
              <dt>Staked in {span}</dt>
              <dd>{formatMinor(depth.window_stake)}</dd>
            </div>
          </dl>
          <Distribution depth={depth} />
          <Charts depth={depth} />
          <div className="three">
            <div>
              <h3>Largest recent wagers</h3>
              {depth.largest_wagers.length === 0 ? (
                <p className="muted">None in this window.</p>
              ) : (
                <ol className="plain" data-testid="largest-wagers">
                  {depth.largest_wagers.map((w, i) => (
                    <li key={i}>
                      <strong>{formatMinor(w.stake)}</strong> on {label(w.outcome_id)} at {formatOdds(w.odds)}{' '}
                      <span className="muted">{clock(w.placed_at)}</span>
                      {w.mine && <span className="badge">yours</span>}
                    </li>
                  ))}
                </ol>
              )}
            </div>
            <div>
              <h3>Biggest bettors</h3>
              {depth.biggest_bettors.length === 0 ? (
                <p className="muted">Nobody yet.</p>
              ) : (
                <ol className="plain" data-testid="biggest-bettors">
                  {depth.biggest_bettors.map((b) => (
                    <li key={b.rank}>
                      {b.username ?? b.label}: <strong>{formatMinor(b.stake)}</strong> in {b.wagers} wager(s),{' '}
                      {formatShare(b.share_of_pool)} of the pool {b.you && <span className="badge">you</span>}
                    </li>
                  ))}
                </ol>
              )}
            </div>
            <div>
              <h3>Price-impact events</h3>
              {depth.price_impact_events.length === 0 ? (
                <p className="muted">No wager moved a share by a point or more in this window.</p>
              ) : (
                <ol className="plain" data-testid="impact-events">
                  {depth.price_impact_events.map((e, i) => (
                    <li key={i}>
                      {formatMinor(e.stake)} on {label(e.outcome_id)}: {formatShare(e.share_before)} →{' '}
                      {formatShare(e.share_after)} (<span className="plus">{formatPoints(e.impact_pp)}</span>){' '}
                      <span className="muted">{clock(e.at)}</span>
                    </li>
                  ))}
                </ol>
              )}
            </div>
          </div>
        </>
      )}
    </section>
  )
}
