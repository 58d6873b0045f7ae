// The ticks of a time axis, for every chart drawn over time. A step is picked from round lengths
// (1, 2, 5, 10, 15, 30 seconds; the same in minutes; 1, 2, 3, 6, 12 hours; days, weeks...) so
// that the span holds at most `most` ticks; the ticks fall on multiples of it in local time (every
// 5 minutes: 14:05, 14:10...), the axis runs from the tick before the first time to the tick after
// the last, and each tick is written to its step: with seconds under a minute, hours and minutes
// under a day, else the date (with the year over a year); where the axis crosses midnight the date is said too, so no two
// ticks read the same. Points within one second still get an axis a second wide.
import type { Scale, ScaleOptions } from 'chart.js'

const SECOND = 1000
const MINUTE = 60 * SECOND
const HOUR = 60 * MINUTE
const DAY = 24 * HOUR
const STEPS = [
  ...[1, 2, 5, 10, 15, 30].map((n) => n * SECOND),
  ...[1, 2, 5, 10, 15, 30].map((n) => n * MINUTE),
  ...[1, 2, 3, 6, 12].map((n) => n * HOUR),
  ...[1, 2, 7, 14, 30, 61, 91, 182, 365].map((n) => n * DAY),
]

export interface TimeAxis {
  min: number
  max: number
  step: number
  ticks: { value: number; label: string }[]
  /** a moment of the axis written in full (for a tooltip): with seconds, and the date when the
   *  axis spans more than one day */
  full: (at: number) => string
}

const timeOfDay = (at: number, seconds: boolean) =>
  new Date(at).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', ...(seconds ? { second: '2-digit' } : {}) })
const date = (at: number, year = false) =>
  new Date(at).toLocaleDateString([], { month: 'short', day: 'numeric', ...(year ? { year: 'numeric' } : {}) })
const day = (at: number) => new Date(at).toDateString()

/** Local wall-clock milliseconds: multiples of a step land on round local times. */
const offset = (at: number) => new Date(at).getTimezoneOffset() * MINUTE
const floorTo = (at: number, step: number) => at - (((at - offset(at)) % step) + step) % step
const ceilTo = (at: number, step: number) => {
  const down = floorTo(at, step)
  return down === at ? at : floorTo(at + step, step)
}

/** The axis for moments `times` (milliseconds), with at most `most` ticks (at least 2). */
export function timeAxis(times: readonly number[], most = 6): TimeAxis {
  const finite = times.filter(Number.isFinite)
  const first = finite.length > 0 ? Math.min(...finite) : Date.now()
  const last = finite.length > 0 ? Math.max(...finite) : first
  const limit = Math.max(2, most)
  let step = STEPS[STEPS.length - 1]
  let min = floorTo(first, step)
  let max = Math.max(ceilTo(last, step), min + step)
  for (const candidate of STEPS) {
    const low = floorTo(first, candidate)
    const high = Math.max(ceilTo(last, candidate), low + candidate)
    if (Math.round((high - low) / candidate) + 1 <= limit) {
      ;[step, min, max] = [candidate, low, high]
      break
    }
  }
  const values: number[] = []
  // a step of days moves by local midnights, so a change of summer time does not shift the ticks
  for (let at = min; at <= max; at = step >= DAY ? floorTo(at + step + 12 * HOUR, DAY) : at + step) values.push(at)
  // under a day, times of day cannot repeat: the first tick of each day says its date; over a
  // day they can (12:00 on two days), so every tick does
  const days = day(min) !== day(max)
  const ticks = values.map((value, i) => {
    if (step >= DAY) return { value, label: date(value, max - min >= 365 * DAY) }
    const clock = timeOfDay(value, step < MINUTE)
    const dated = max - min >= DAY || (days && (i === 0 || day(value) !== day(values[i - 1])))
    return { value, label: dated ? `${date(value)} ${clock}` : clock }
  })
  const full = (at: number) => (days || step >= DAY ? `${date(at)} ${timeOfDay(at, true)}` : timeOfDay(at, true))
  return { min, max, step, ticks, full }
}

/** Chart.js options of a linear x axis over `times`, ticked and labelled by timeAxis. */
export function timeScale(times: readonly number[]): { axis: TimeAxis; x: ScaleOptions<'linear'> } {
  const axis = timeAxis(times)
  const labels = new Map(axis.ticks.map((t) => [t.value, t.label]))
  return {
    axis,
    x: {
      type: 'linear',
      min: axis.min,
      max: axis.max,
      afterBuildTicks: (scale: Scale) => {
        scale.ticks = axis.ticks.map((t) => ({ value: t.value }))
      },
      ticks: {
        // level labels; where they would touch (a phone) every other one is left out
        maxRotation: 0,
        autoSkipPadding: 16,
        callback: (value) => labels.get(Number(value)) ?? axis.full(Number(value)),
      },
    },
  }
}
