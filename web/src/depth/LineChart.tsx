// A Chart.js line chart in a React component: the chart is made once per canvas and its data
// replaced in place when it changes (no animation, so it is drawn at once).
import {
  CategoryScale,
  Chart,
  Filler,
  Legend,
  LinearScale,
  LineController,
  LineElement,
  PointElement,
  Tooltip,
  type ChartDataset,
} from 'chart.js'
import { useEffect, useRef } from 'react'

Chart.register(LineController, LineElement, PointElement, LinearScale, CategoryScale, Filler, Legend, Tooltip)
Chart.defaults.color = '#93a3bf'
Chart.defaults.borderColor = '#26324d'

interface Props {
  label: string // what the chart shows, for screen readers
  labels: string[]
  datasets: ChartDataset<'line', (number | null)[]>[]
  formatY: (value: number) => string
  stacked?: boolean
  max?: number
}

export function LineChart({ label, labels, datasets, formatY, stacked, max }: Props) {
  const canvas = useRef<HTMLCanvasElement>(null)
  const chart = useRef<Chart<'line', (number | null)[], string> | null>(null)

  useEffect(() => {
    if (!canvas.current) return
    chart.current = new Chart(canvas.current, {
      type: 'line',
      data: { labels: [], datasets: [] },
      options: {
        animation: false,
        responsive: true,
        maintainAspectRatio: false,
        interaction: { mode: 'index', intersect: false },
        plugins: {
          legend: { position: 'bottom', labels: { boxWidth: 12 } },
          tooltip: { callbacks: { label: (item) => `${item.dataset.label}: ${formatY(Number(item.raw))}` } },
        },
        scales: {
          x: { ticks: { maxTicksLimit: 6 } },
          y: { stacked: !!stacked, beginAtZero: true, max, ticks: { callback: (value) => formatY(Number(value)) } },
        },
      },
    })
    return () => {
      chart.current?.destroy()
      chart.current = null
    }
  }, [formatY, stacked, max])

  useEffect(() => {
    const current = chart.current
    if (!current) return
    current.data.labels = labels
    current.data.datasets = datasets
    current.update()
  }, [labels, datasets])

  return (
    <div className="chart">
      <canvas ref={canvas} role="img" aria-label={label} />
    </div>
  )
}
