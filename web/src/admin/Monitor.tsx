// The wager monitoring console (DBGP 6.5): the funnel pending -> accepted -> settled counted by the
// engine, a live list of the latest wagers with big ones flagged, and the side-effect jobs that
// failed, retried with retry_side_effects.
import { useState } from 'react'
import { call, rows, useLoad, type Answer } from '../load'
import { formatMinor, formatOdds, parseMinor } from '../money'
import { follow } from '../router'
import { supabase } from '../supabase'
import { AdminPage } from './AdminNav'
import { WAGER_COLUMNS, type AdminWager } from './Corrections'
import { useAdminRevision } from './live'

const STAGES: { label: string; approval?: string; settlement?: string[] }[] = [
  { label: 'Waiting for approval', approval: 'pending' },
  { label: 'Accepted, open', approval: 'accepted', settlement: ['open'] },
  { label: 'Settled (won or lost)', approval: 'accepted', settlement: ['won', 'lost'] },
  { label: 'Voided or refunded', approval: 'accepted', settlement: ['void'] },
  { label: 'Rejected', approval: 'rejected' },
]

async function funnel(): Promise<Answer<number[]>> {
  const counts = await Promise.all(
    STAGES.map((stage) => {
      let query = supabase().from('wagers').select('id', { count: 'exact', head: true })
      if (stage.approval) query = query.eq('approval', stage.approval)
      if (stage.settlement) query = query.in('settlement', stage.settlement)
      return query
    }),
  )
  const failed = counts.find((c) => c.error)
  if (failed?.error) return rows<number>(Promise.resolve({ data: null, error: failed.error }))
  return { ok: true, data: counts.map((c) => c.count ?? 0) }
}

interface Job {
  id: number
  handler: string
  market_id: number
  event: string
  status: string
  attempts: number
  last_error: string | null
  last_attempt_at: string | null
}

function Jobs() {
  const revision = useAdminRevision()
  const [retried, setRetried] = useState(0)
  const [message, setMessage] = useState<string | null>(null)
  const { data, error } = useLoad(
    () =>
      rows<Job>(
        supabase()
          .from('side_effect_jobs')
          .select('id,handler,market_id,event,status,attempts,last_error,last_attempt_at')
          .neq('status', 'done')
          .order('id', { ascending: false })
          .limit(100),
      ),
    [revision, retried],
  )
  const jobs = data ?? []
  const failed = jobs.filter((j) => j.status === 'failed')
  async function retry(jobId: number | null) {
    const answer = await call<unknown>('retry_side_effects', jobId === null ? {} : { job_id: jobId })
    setMessage(answer.ok ? 'Sent back to the queue.' : answer.refusal.text)
    setRetried(retried + 1)
  }
  return (
    <section className="card stack" aria-labelledby="jobs-title">
      <h2 id="jobs-title">Side-effect jobs not done ({failed.length} failed)</h2>
      <p className="muted">Statistics, leaderboards, big wins and market figures, computed after each settlement.</p>
      {error && <p className="error">{error}</p>}
      {message && <p role="status">{message}</p>}
      {jobs.length === 0 ? (
        <p className="muted">Every job is done.</p>
      ) : (
        <>
          <button type="button" className="secondary small" disabled={failed.length === 0} onClick={() => void retry(null)}>
            Retry every failed job
          </button>
          <div className="table-wrap">
            <table>
              <thead>
                <tr>
                  <th scope="col">Job</th>
                  <th scope="col">Handler</th>
                  <th scope="col">Market</th>
                  <th scope="col">Status</th>
                  <th scope="col" className="num">Attempts</th>
                  <th scope="col">Last error</th>
                  <th scope="col" />
                </tr>
              </thead>
              <tbody>
                {jobs.map((j) => (
                  <tr key={j.id}>
                    <td>#{j.id}</td>
                    <td>{j.handler}</td>
                    <td>{j.market_id}</td>
                    <td className={j.status === 'failed' ? 'minus' : ''}>{j.status}</td>
                    <td className="num">{j.attempts}</td>
                    <td className="wrap">{j.last_error ?? ''}</td>
                    <td>
                      {j.status === 'failed' && (
                        <button type="button" className="small primary" onClick={() => void retry(j.id)}>
                          Retry
                        </button>
                      )}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        </>
      )}
    </section>
  )
}

export function Monitor({ isAdmin }: { isAdmin: boolean }) {
  const revision = useAdminRevision()
  const [bigText, setBigText] = useState('100')
  const big = parseMinor(bigText)
  const counts = useLoad(funnel, [revision])
  const latest = useLoad(
    () => rows<AdminWager>(supabase().from('wagers').select(WAGER_COLUMNS).order('id', { ascending: false }).limit(50)),
    [revision],
  )
  return (
    <AdminPage isAdmin={isAdmin} title="Wager monitor">
      <section className="card" aria-labelledby="funnel-title">
        <h2 id="funnel-title">Funnel</h2>
        {counts.error && <p className="error">{counts.error}</p>}
        <ol className="funnel" data-testid="funnel">
          {STAGES.map((stage, i) => (
            <li key={stage.label}>
              <strong>{counts.data ? counts.data[i] : '–'}</strong>
              <span>{stage.label}</span>
            </li>
          ))}
        </ol>
      </section>
      <section className="card" aria-labelledby="latest-title">
        <h2 id="latest-title">Latest wagers, live</h2>
        <label className="inline">
          Flag wagers staking at least{' '}
          <input inputMode="decimal" value={bigText} onChange={(e) => setBigText(e.target.value)} aria-invalid={big === null} />
        </label>
        <div className="table-wrap">
          <table className="monitor">
            <thead>
              <tr>
                <th scope="col">Wager</th>
                <th scope="col">Placed</th>
                <th scope="col">Market</th>
                <th scope="col">Bettor</th>
                <th scope="col">Outcome</th>
                <th scope="col" className="num">Stake</th>
                <th scope="col" className="num">Odds</th>
                <th scope="col">State</th>
              </tr>
            </thead>
            <tbody>
              {(latest.data ?? []).map((w) => {
                const flagged = big !== null && w.stake >= big
                return (
                  <tr key={w.id} data-wager-id={w.id} className={flagged ? 'flagged' : undefined}>
                    <td>
                      #{w.id} {flagged && <span className="badge big-flag">big</span>}
                    </td>
                    <td>{new Date(w.created_at).toLocaleTimeString()}</td>
                    <td>
                      <a href={`/admin/markets/${w.market_id}`} onClick={follow}>
                        {w.market_title}
                      </a>
                    </td>
                    <td>{w.user_id.slice(0, 8)}</td>
                    <td>{w.outcome_label}</td>
                    <td className="num">{formatMinor(w.stake)}</td>
                    <td className="num">{formatOdds(w.odds, 4)}</td>
                    <td className={`state-${w.settlement}`}>
                      {w.approval === 'accepted' ? w.settlement : w.approval}
                    </td>
                  </tr>
                )
              })}
            </tbody>
          </table>
        </div>
      </section>
      <Jobs />
    </AdminPage>
  )
}
