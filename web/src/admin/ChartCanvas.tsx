// A Chart.js chart of any type for the admin screens (bars, scatter over time, lines): made once
// per canvas, its data and options replaced in place when they change, no animation. The canvas
// is an image for screen readers, named by `label`; `data-points` says how many points it holds.
import {
  BarController,
  BarElement,
  CategoryScale,
  Chart,
  Legend,
  LinearScale,
  LineController,
  LineElement,
  PointElement,
  ScatterController,
  Tooltip,
  type ChartConfiguration,
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
  Legend,
  Tooltip,
)
Chart.defaults.color = '#93a3bf'
Chart.defaults.borderColor = '#26324d'

export const PALETTE = ['#60a5fa', '#f87171', '#34d399', '#fbbf24', '#c084fc', '#2dd4bf']

/** A time of day for axis ticks and labels. */
export const clock = (at: string | number) =>
  new Date(at).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', second: '2-digit' })

export function ChartCanvas({ label, config, testId }: { label: string; config: ChartConfiguration; testId?: string }) {
  const canvas = useRef<HTMLCanvasElement>(null)
  const chart = useRef<Chart | null>(null)
  const type = config.type

  useEffect(() => {
    if (!canvas.current) return
    chart.current = new Chart(canvas.current, {
      type,
      data: { datasets: [] },
      options: { animation: false, responsive: true, maintainAspectRatio: false },
    })
    return () => {
      chart.current?.destroy()
      chart.current = null
    }
  }, [type])

  useEffect(() => {
    const current = chart.current
    if (!current) return
    current.data = config.data
    current.options = { animation: false, responsive: true, maintainAspectRatio: false, ...config.options }
    current.update()
  }, [config, type])

  const points = config.data.datasets.reduce((n, d) => n + d.data.length, 0)
  return (
    <div className="chart" data-testid={testId} data-points={points}>
      <canvas ref={canvas} role="img" aria-label={label} />
    </div>
  )
}
