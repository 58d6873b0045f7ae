// The audit log (the `admin_actions` view): who did what to which market or wager, when, why,
// with the row before and after.
import { useState } from 'react'
import { rows, useLoad } from '../load'
import { supabase } from '../supabase'
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
  const { data, error } = useLoad(() => {
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
        <div className="table-wrap">
          <table className="audit">
            <thead>
              <tr>
                <th scope="col">When</th>
                <th scope="col">Action</th>
                <th scope="col">Who</th>
                <th scope="col">Market</th>
                <th scope="col">Wager</th>
                <th scope="col">Reason</th>
                <th scope="col">Change</th>
              </tr>
            </thead>
            <tbody>
              {(data ?? []).map((a) => (
                <tr key={a.id}>
                  <td>{new Date(a.created_at).toLocaleString()}</td>
                  <td>{a.action}</td>
                  <td>
                    {a.actor ? a.actor.slice(0, 8) : ''} <span className="muted">{a.actor_role}</span>
                  </td>
                  <td>{a.market_id ?? ''}</td>
                  <td>{a.wager_id ?? ''}</td>
                  <td className="wrap">{a.reason ?? ''}</td>
                  <td>
                    <details>
                      <summary>before / after</summary>
                      <pre>{JSON.stringify({ before: a.before, after: a.after }, null, 1)}</pre>
                    </details>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      </section>
    </AdminPage>
  )
}
