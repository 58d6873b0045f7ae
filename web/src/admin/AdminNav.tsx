// The admin console's own tabs, and the gate: only an admin sees the console (the SQL refuses
// everyone else anyway). A market's pages (/admin/markets/:id and its /snapshots and /telemetry,
// DBGP 6.4) get a second row of tabs for that market.
import type { ReactNode } from 'react'
import { follow } from '../router'

const TABS = [
  { href: '/admin', label: 'Markets', matches: /^\/admin\/?$|^\/admin\/markets\/\d+\/?$/ },
  { href: '/admin/wagers', label: 'Wager monitor', matches: /^\/admin\/wagers$/ },
  { href: '/admin/snapshots', label: 'Snapshots', matches: /^\/admin(\/markets\/\d+)?\/snapshots$/ },
  { href: '/admin/telemetry', label: 'Telemetry', matches: /^\/admin(\/markets\/\d+)?\/telemetry$/ },
  { href: '/admin/casino', label: 'Casino', matches: /^\/admin\/casino$/ },
  { href: '/admin/audit', label: 'Audit log', matches: /^\/admin\/audit$/ },
]

const MARKET_TABS = [
  { suffix: '', label: 'Overview' },
  { suffix: '/snapshots', label: 'Snapshots' },
  { suffix: '/telemetry', label: 'Telemetry' },
]

function MarketTabs({ id, here }: { id: number; here: string }) {
  return (
    <nav className="subnav market-tabs" aria-label={`Market ${id}`}>
      {MARKET_TABS.map((tab) => {
        const href = `/admin/markets/${id}${tab.suffix}`
        return (
          <a key={tab.label} href={href} onClick={follow} aria-current={here === href ? 'page' : undefined}>
            {tab.label}
          </a>
        )
      })}
    </nav>
  )
}

export function AdminPage({ isAdmin, title, children }: { isAdmin: boolean; title: string; children: ReactNode }) {
  if (!isAdmin)
    return (
      <main className="page">
        <h1>Admin console</h1>
        <p>Only an administrator can see this page.</p>
      </main>
    )
  const here = window.location.pathname.replace(/\/$/, '') || '/'
  const market = /^\/admin\/markets\/(\d+)/.exec(here)
  return (
    <main className="page admin">
      <nav className="subnav" aria-label="Admin console">
        {TABS.map((tab) => (
          <a key={tab.href} href={tab.href} onClick={follow} aria-current={tab.matches.test(here) ? 'page' : undefined}>
            {tab.label}
          </a>
        ))}
      </nav>
      <h1>{title}</h1>
      {market && <MarketTabs id={Number(market[1])} here={here} />}
      {children}
    </main>
  )
}
