// Client routes on the History API; the server answers index.html for any of them.
import { useEffect, useState, type MouseEvent } from 'react'

export type Route =
  | { name: 'board' }
  | { name: 'market'; id: number }
  | { name: 'wallet' }
  | { name: 'bets' }
  | { name: 'admin' }
  | { name: 'adminMarket'; id: number }
  | { name: 'adminWagers' }
  | { name: 'adminAudit' }
  | { name: 'adminSnapshots'; id: number | null }
  | { name: 'adminTelemetry'; id: number | null }
  | { name: 'fair'; id: number }
  | { name: 'casino' }
  | { name: 'casinoGame'; game: string }
  | { name: 'casinoSeeds' }
  | { name: 'adminCasino' }
  | { name: 'missing' }

export function parse(pathname: string): Route {
  if (pathname === '/' || pathname === '') return { name: 'board' }
  const market = /^\/markets\/(\d+)\/?$/.exec(pathname)
  if (market) return { name: 'market', id: Number(market[1]) }
  const fair = /^\/markets\/(\d+)\/fair\/?$/.exec(pathname)
  if (fair) return { name: 'fair', id: Number(fair[1]) }
  if (pathname === '/admin' || pathname === '/admin/') return { name: 'admin' }
  const adminMarket = /^\/admin\/markets\/(\d+)\/?$/.exec(pathname)
  if (adminMarket) return { name: 'adminMarket', id: Number(adminMarket[1]) }
  if (pathname === '/admin/wagers') return { name: 'adminWagers' }
  if (pathname === '/admin/audit') return { name: 'adminAudit' }
  if (pathname === '/admin/casino') return { name: 'adminCasino' }
  if (pathname === '/admin/snapshots') return { name: 'adminSnapshots', id: null }
  if (pathname === '/admin/telemetry') return { name: 'adminTelemetry', id: null }
  const marketTab = /^\/admin\/markets\/(\d+)\/(snapshots|telemetry)\/?$/.exec(pathname)
  if (marketTab)
    return { name: marketTab[2] === 'snapshots' ? 'adminSnapshots' : 'adminTelemetry', id: Number(marketTab[1]) }
  if (pathname === '/wallet') return { name: 'wallet' }
  if (pathname === '/bets') return { name: 'bets' }
  if (pathname === '/casino' || pathname === '/casino/') return { name: 'casino' }
  if (pathname === '/casino/seeds') return { name: 'casinoSeeds' }
  const game = /^\/casino\/([a-z_]+)\/?$/.exec(pathname)
  if (game) return { name: 'casinoGame', game: game[1] }
  return { name: 'missing' }
}

export function navigate(path: string): void {
  if (path === window.location.pathname + window.location.search) return
  window.history.pushState(null, '', path)
  window.dispatchEvent(new PopStateEvent('popstate'))
  window.scrollTo(0, 0)
}

/** onClick for an <a href>: navigate in the page unless the user asked for a new tab. */
export function follow(event: MouseEvent<HTMLAnchorElement>): void {
  if (event.metaKey || event.ctrlKey || event.shiftKey || event.button !== 0) return
  event.preventDefault()
  navigate(event.currentTarget.getAttribute('href') ?? '/')
}

export function useRoute(): Route {
  const [route, setRoute] = useState(() => parse(window.location.pathname))
  useEffect(() => {
    const onPop = () => setRoute(parse(window.location.pathname))
    window.addEventListener('popstate', onPop)
    return () => window.removeEventListener('popstate', onPop)
  }, [])
  return route
}

/** The address's query string ("?bettor=..."), following history moves like useRoute. */
export function useSearch(): string {
  const [search, setSearch] = useState(() => window.location.search)
  useEffect(() => {
    const onPop = () => setSearch(window.location.search)
    window.addEventListener('popstate', onPop)
    return () => window.removeEventListener('popstate', onPop)
  }, [])
  return search
}

/** Replace the query string without a new history entry (a filter's state kept in the address). */
export function replaceSearch(search: string): void {
  const next = window.location.pathname + search
  if (next === window.location.pathname + window.location.search) return
  window.history.replaceState(null, '', next)
  window.dispatchEvent(new PopStateEvent('popstate'))
}
