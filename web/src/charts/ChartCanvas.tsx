// The one Chart.js chart of the app, of any type (lines over time, bars with a line, scatter over
// time): Chart.js registered once, made once per canvas, its data and options replaced in place
// when they change, no animation. The canvas is an image for screen readers, named by `label`;
// `data-points` says how many points it holds and `data-x-ticks` the labels its x axis shows (a
// JSON list, kept up to date on every draw, resizes included), for those who cannot see it.
import {
  BarController,
  BarElement,
  CategoryScale,
  Chart,
  Filler,
  Legend,
  LinearScale,
  LineController,
  LineElement,
  PointElement,
  ScatterController,
  Tooltip,
  type ChartConfiguration,
  type Plugin,
} from 'chart.js'
import { useEffect, useRef } from 'react'

Chart.register(
  BarController,
  BarElement,
  ScatterController,
  LineController,
  LineElement,
  PointElement,
  LinearScale,
  CategoryScale,
  Filler,
  Legend,
  Tooltip,
)
Chart.defaults.color = '#93a3bf'
Chart.defaults.borderColor = '#26324d'

export const PALETTE = ['#60a5fa', '#f87171', '#34d399', '#fbbf24', '#c084fc', '#2dd4bf']

/** A time of day, to the second. */
export const clock = (at: string | number) =>
  new Date(at).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', second: '2-digit' })

/** Writes the x axis's shown tick labels on the chart's box after every update. */
const xTicks: Plugin = {
  id: 'xTicks',
  afterUpdate(chart) {
    const box = chart.canvas.parentElement
    const labels = chart.scales.x?.ticks.map((t) => (Array.isArray(t.label) ? t.label.join(' ') : (t.label ?? ''))) ?? []
    if (box) box.dataset.xTicks = JSON.stringify(labels)
  },
}

const BASE = { animation: false, responsive: true, maintainAspectRatio: false } as const

export function ChartCanvas({ label, config, testId }: { label: string; config: ChartConfiguration; testId?: string }) {
  const canvas = useRef<HTMLCanvasElement>(null)
  const chart = useRef<Chart | null>(null)
  const type = config.type

  useEffect(() => {
    if (!canvas.current) return
    chart.current = new Chart(canvas.current, { type, data: { datasets: [] }, options: BASE, plugins: [xTicks] })
    return () => {
      chart.current?.destroy()
      chart.current = null
    }
  }, [type])

  useEffect(() => {
    const current = chart.current
    if (!current) return
    current.data = config.data
    current.options = { ...BASE, ...config.options }
    current.update()
  }, [config, type])

  const points = config.data.datasets.reduce((n, d) => n + d.data.length, 0)
  return (
    <div className="chart" data-testid={testId} data-points={points}>
      <canvas ref={canvas} role="img" aria-label={label} />
    </div>
  )
}
