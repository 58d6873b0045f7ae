// Lines over time (pools, odds, shares, a balance): one value per moment for each series, drawn on
// a time axis (timeAxis.ts) so that the moments are spaced as they happened and the ticks are round
// times, each labelled once.
import { useMemo } from 'react'
import type { ChartConfiguration, ChartDataset } from 'chart.js'
import { ChartCanvas } from './ChartCanvas'
import { timeScale } from './timeAxis'

interface Props {
  label: string // what the chart shows, for screen readers
  times: number[] // the moments, in milliseconds
  datasets: ChartDataset<'line', (number | null)[]>[] // a value (or null) per moment each
  formatY: (value: number) => string
  stacked?: boolean
  max?: number
  notes?: string[] // what happened at each moment, added to its tooltip
  testId?: string
}

export function LineChart({ label, times, datasets, formatY, stacked, max, notes, testId }: Props) {
  const config = useMemo((): ChartConfiguration => {
    const { axis, x } = timeScale(times)
    return {
      type: 'line',
      data: {
        datasets: datasets.map((d) => ({ ...d, data: d.data.map((y, i) => ({ x: times[i], y })) })),
      },
      options: {
        interaction: { mode: 'index', intersect: false },
        plugins: {
          legend: { position: 'bottom', labels: { boxWidth: 12 } },
          tooltip: {
            callbacks: {
              title: (items) => {
                const index = items[0]?.dataIndex ?? 0
                const at = axis.full(times[index])
                return notes?.[index] ? `${at} ${notes[index]}` : at
              },
              label: (item) => `${item.dataset.label}: ${formatY(Number(item.parsed.y))}`,
            },
          },
        },
        scales: {
          x,
          y: { stacked: !!stacked, beginAtZero: true, max, ticks: { callback: (value) => formatY(Number(value)) } },
        },
      },
    } as ChartConfiguration
  }, [times, datasets, formatY, stacked, max, notes])
  return <ChartCanvas label={label} config={config} testId={testId} />
}
