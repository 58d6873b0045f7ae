// The admin console's own tabs, and the gate: only an admin sees the console (the SQL refuses
// everyone else anyway).
import type { ReactNode } from 'react'
import { follow } from '../router'

const TABS = [
  { href: '/admin', label: 'Markets' },
  { href: '/admin/wagers', label: 'Wager monitor' },
  { href: '/admin/audit', label: 'Audit log' },
]

export function AdminPage({ isAdmin, title, children }: { isAdmin: boolean; title: string; children: ReactNode }) {
  if (!isAdmin)
    return (
      <main className="page">
        <h1>Admin console</h1>
        <p>Only an administrator can see this page.</p>
      </main>
    )
  const here = window.location.pathname
  return (
    <main className="page admin">
      <nav className="subnav" aria-label="Admin console">
        {TABS.map((tab) => (
          <a
            key={tab.href}
            href={tab.href}
            onClick={follow}
            aria-current={here === tab.href ? 'page' : undefined}
          >
            {tab.label}
          </a>
        ))}
      </nav>
      <h1>{title}</h1>
      {children}
    </main>
  )
}
