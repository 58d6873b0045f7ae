// Time left until a market closes, refreshed once a second.
import { useEffect, useState } from 'react'

export function useNow(periodMs = 1000): number {
  const [now, setNow] = useState(() => Date.now())
  useEffect(() => {
    const timer = window.setInterval(() => setNow(Date.now()), periodMs)
    return () => window.clearInterval(timer)
  }, [periodMs])
  return now
}

/** "2d 4h", "3h 12m", "4m 05s", "closing"; "no closing time" when there is none. */
export function timeLeft(closesAt: string | null, now: number): string {
  if (!closesAt) return 'no closing time'
  const seconds = Math.floor((new Date(closesAt).getTime() - now) / 1000)
  if (seconds <= 0) return 'closing'
  const days = Math.floor(seconds / 86400)
  const hours = Math.floor((seconds % 86400) / 3600)
  const minutes = Math.floor((seconds % 3600) / 60)
  if (days > 0) return `${days}d ${hours}h`
  if (hours > 0) return `${hours}h ${minutes}m`
  return `${minutes}m ${String(seconds % 60).padStart(2, '0')}s`
}
