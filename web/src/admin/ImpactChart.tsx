// Price impact over time (DBGP 6.5): a scatter of percentage points on a time axis, one
// point per quote from the telemetry (what bettors asked) and, when given, one per accepted wager
// that moved its outcome's share (get_market_depth's price_impact_events: what was placed).
import { useMemo } from 'react'
import type { ChartConfiguration } from 'chart.js'
import { formatMinor } from '../money'
import { ChartCanvas } from '../charts/ChartCanvas'
import { timeScale } from '../charts/timeAxis'

export interface ImpactQuote {
  created_at: string
  price_impact_pp: number
  stake: number
}

export interface ImpactEvent {
  at: string
  impact_pp: number
  stake: number
}

interface Point {
  x: number
  y: number
  stake: number
}

export function ImpactChart({ quotes, events }: { quotes: ImpactQuote[]; events: ImpactEvent[] }) {
  const config = useMemo((): ChartConfiguration => {
    const quoted: Point[] = quotes.map((q) => ({ x: new Date(q.created_at).getTime(), y: q.price_impact_pp, stake: q.stake }))
    const placed: Point[] = events.map((e) => ({ x: new Date(e.at).getTime(), y: e.impact_pp, stake: e.stake }))
    const { axis, x } = timeScale([...quoted, ...placed].map((p) => p.x))
    return {
      type: 'scatter',
      data: {
        datasets: [
          { label: 'Quotes (previews)', data: quoted, borderColor: '#60a5fa', backgroundColor: '#60a5fa99', pointRadius: 3 },
          ...(events.length > 0
            ? [{ label: 'Accepted wagers that moved a share', data: placed, borderColor: '#fbbf24', backgroundColor: '#fbbf24cc', pointRadius: 5, pointStyle: 'rectRot' as const }]
            : []),
        ],
      },
      options: {
        plugins: {
          legend: { position: 'bottom', labels: { boxWidth: 12 } },
          tooltip: {
            callbacks: {
              label: (item) => {
                const point = item.raw as Point
                return `${item.dataset.label}: ${point.y.toFixed(2)} pp, stake ${formatMinor(point.stake)} at ${axis.full(point.x)}`
              },
            },
          },
        },
        scales: {
          x,
          y: { beginAtZero: true, title: { display: true, text: 'pp' }, ticks: { callback: (value) => `${Number(value).toFixed(1)}` } },
        },
      },
    }
  }, [quotes, events])
  if (quotes.length === 0 && events.length === 0) return <p className="muted">No price impact to draw yet.</p>
  return <ChartCanvas label="Price impact of quotes and wagers over time, in percentage points" config={config} testId="impact-chart" />
}
