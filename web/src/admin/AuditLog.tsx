// The audit log (the `admin_actions` view): who did what to which market or wager, when, why,
// with the row before and after.
import { useState } from 'react'
import { rows, useLoad } from '../load'
import { supabase } from '../supabase'
import { Table } from '../Table'
import { AdminPage } from './AdminNav'
import { useAdminRevision } from './live'

interface Action {
  id: number
  actor: string | null
  actor_role: string
  action: string
  market_id: number | null
  wager_id: number | null
  reason: string | null
  before: unknown
  after: unknown
  created_at: string
}

export function AuditLog({ isAdmin }: { isAdmin: boolean }) {
  const revision = useAdminRevision()
  const [market, setMarket] = useState('')
  const marketId = /^\d+$/.test(market.trim()) ? Number(market.trim()) : null
  const { data, error, loading } = useLoad(() => {
    let query = supabase()
      .from('admin_actions')
      .select('id,actor,actor_role,action,market_id,wager_id,reason,before,after,created_at')
      .order('id', { ascending: false })
      .limit(100)
    if (marketId !== null) query = query.eq('market_id', marketId)
    return rows<Action>(query)
  }, [revision, marketId])
  return (
    <AdminPage isAdmin={isAdmin} title="Audit log">
      <label className="inline">
        Market{' '}
        <input inputMode="numeric" placeholder="all" value={market} onChange={(e) => setMarket(e.target.value)} />
      </label>
      {error && <p className="error">{error}</p>}
      <section className="card">
        <Table
          className="audit"
          rows={data ?? []}
          loading={loading}
          rowKey={(a) => a.id}
          empty={marketId === null ? 'No action yet.' : `No action on market ${marketId}.`}
          columns={[
            { header: 'When', cell: (a) => new Date(a.created_at).toLocaleString() },
            { header: 'Action', cell: (a) => a.action },
            {
              header: 'Who',
              cell: (a) => (
                <>
                  {a.actor ? a.actor.slice(0, 8) : ''} <span className="muted">{a.actor_role}</span>
                </>
              ),
            },
            { header: 'Market', cell: (a) => a.market_id ?? '' },
            { header: 'Wager', cell: (a) => a.wager_id ?? '' },
            { header: 'Reason', cell: (a) => a.reason ?? '', cellProps: () => ({ className: 'wrap' }) },
            {
              header: 'Change',
              cell: (a) => (
                <details>
                  <summary>before / after</summary>
                  <pre>{JSON.stringify({ before: a.before, after: a.after }, null, 1)}</pre>
                </details>
              ),
            },
          ]}
        />
      </section>
    </AdminPage>
  )
}
