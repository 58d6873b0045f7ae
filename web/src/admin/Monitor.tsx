// The wager monitoring console (DBGP 6.5): the funnel pending -> accepted -> settled counted by the
// engine, a live list of the latest wagers with the big ones flagged by the engine (`is_big`: a
// stake at or above app.config.big_wager_min_stake), a bettor's history (BettorHistory), the price
// impact of quotes and wagers over time (ImpactChart), and the side-effect jobs that failed,
// retried with retry_side_effects.
import { useState } from 'react'
import { call, rows, useLoad, type Answer } from '../load'
import { useMarkets } from '../markets'
import { formatMinor, formatOdds } from '../money'
import { follow, replaceSearch, useSearch } from '../router'
import { supabase } from '../supabase'
import { Table } from '../Table'
import { useNow } from '../time'
import { AdminPage } from './AdminNav'
import { BettorHistory, short, wagerState, type BettorWager } from './BettorHistory'
import { WAGER_COLUMNS } from './Corrections'
import { ImpactChart, type ImpactEvent } from './ImpactChart'
import { useAdminRevision } from './live'
import { SinceSelect, loadQuotes, sinceIso, type Since } from './Telemetry'

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
  // a job's progress says nothing on the socket: the list is read again every 3 seconds
  const tick = Math.floor(useNow(3_000) / 3_000)
  const [retried, setRetried] = useState(0)
  const [message, setMessage] = useState<string | null>(null)
  const { data, error, loading } = useLoad(
    () =>
      rows<Job>(
        supabase()
          .from('side_effect_jobs')
          .select('id,handler,market_id,event,status,attempts,last_error,last_attempt_at')
          .neq('status', 'done')
          .order('id', { ascending: false })
          .limit(100),
      ),
    [revision, retried, tick],
  )
  const jobs = data ?? []
  const failed = jobs.filter((j) => j.status === 'failed')
  async function retry(jobId: number | null) {
    const answer = await call<{ retried: number }>('retry_side_effects', jobId === null ? {} : { job_id: jobId })
    setMessage(
      answer.ok
        ? `${jobId === null ? `${answer.data.retried} job(s)` : `Job #${jobId}`} sent back to the queue.`
        : answer.refusal.text,
    )
    setRetried(retried + 1)
  }
  return (
    <section className="card stack" aria-labelledby="jobs-title">
      <h2 id="jobs-title">Side-effect jobs not done ({failed.length} failed)</h2>
      <p className="muted">Statistics, leaderboards, big wins and market figures, computed after each settlement.</p>
      {error && <p className="error">{error}</p>}
      {message && <p role="status">{message}</p>}
      {jobs.length > 0 && (
        <button type="button" className="secondary small" disabled={failed.length === 0} onClick={() => void retry(null)}>
          Retry every failed job
        </button>
      )}
      <Table
        rows={jobs}
        rowKey={(j) => j.id}
        rowProps={(j) => ({ 'data-job-id': j.id, 'data-handler': j.handler, 'data-market-id': j.market_id })}
        empty="Every job is done."
        loading={loading}
        columns={[
          { header: 'Job', cell: (j) => `#${j.id}` },
          { header: 'Handler', cell: (j) => j.handler },
          { header: 'Market', cell: (j) => j.market_id },
          { header: 'Status', cell: (j) => j.status, cellProps: (j) => ({ className: j.status === 'failed' ? 'minus' : '' }) },
          { header: 'Attempts', numeric: true, cell: (j) => j.attempts },
          { header: 'Last error', cell: (j) => j.last_error ?? '', cellProps: () => ({ className: 'wrap' }) },
          {
            header: '',
            key: 'retry',
            cell: (j) =>
              j.status === 'failed' && (
                <button type="button" className="small primary" aria-label={`Retry job ${j.id}`} onClick={() => void retry(j.id)}>
                  Retry
                </button>
              ),
          },
        ]}
      />
    </section>
  )
}

type Latest = BettorWager & { is_big: boolean }

function LatestWagers({ onBettor }: { onBettor: (userId: string) => void }) {
  const revision = useAdminRevision()
  const latest = useLoad(
    () =>
      rows<Latest>(
        supabase().from('wagers').select(`${WAGER_COLUMNS},profit,settled_at,is_big`).order('id', { ascending: false }).limit(50),
      ),
    [revision],
  )
  // the threshold is the engine's (app.config.big_wager_min_stake, the `settings` view): shown, never applied here
  const settings = useLoad(() => rows<{ big_wager_min_stake: number }>(supabase().from('settings').select('big_wager_min_stake')), [])
  const threshold = settings.data?.[0]?.big_wager_min_stake
  return (
    <section className="card" aria-labelledby="latest-title">
      <h2 id="latest-title">Latest wagers, live</h2>
      <p className="muted" data-testid="big-rule">
        <span className="badge big-flag">big</span> marks a wager the engine flags as big: a stake of{' '}
        {threshold === undefined ? 'its big-wager threshold' : formatMinor(threshold)} or more.
      </p>
      {latest.error && <p className="error">{latest.error}</p>}
      <Table
        className="monitor"
        rows={latest.data ?? []}
        rowKey={(w) => w.id}
        rowProps={(w) => ({ 'data-wager-id': w.id, className: w.is_big ? 'flagged' : undefined })}
        empty="No wager yet."
        loading={latest.loading}
        columns={[
          {
            header: 'Wager',
            cell: (w) => (
              <>
                #{w.id} {w.is_big && <span className="badge big-flag">big</span>}
              </>
            ),
          },
          { header: 'Placed', cell: (w) => new Date(w.created_at).toLocaleTimeString() },
          {
            header: 'Market',
            cell: (w) => (
              <a href={`/admin/markets/${w.market_id}`} onClick={follow}>
                {w.market_title}
              </a>
            ),
          },
          {
            header: 'Bettor',
            cell: (w) => (
              <button type="button" className="link" aria-label={`History of bettor ${short(w.user_id)}`} onClick={() => onBettor(w.user_id)}>
                {short(w.user_id)}
              </button>
            ),
          },
          { header: 'Outcome', cell: (w) => w.outcome_label },
          { header: 'Stake', numeric: true, cell: (w) => formatMinor(w.stake) },
          { header: 'Odds', numeric: true, cell: (w) => formatOdds(w.odds, 4) },
          { header: 'State', cell: wagerState, cellProps: (w) => ({ className: `state-${w.settlement}` }) },
        ]}
      />
    </section>
  )
}

interface BettorOption {
  user_id: string
  wagers: number
  wagered: number
}

function Bettors({ bettor, focus, onBettor }: { bettor: string | null; focus: number; onBettor: (userId: string | null) => void }) {
  const revision = useAdminRevision()
  // who has bet: the engine's per-bettor figures (settled wagers), then the latest bettors
  const counted = useLoad(
    () => rows<BettorOption>(supabase().from('user_stats').select('user_id,wagers,wagered').order('wagered', { ascending: false }).limit(100)),
    [revision],
  )
  const recent = useLoad(
    () => rows<{ user_id: string }>(supabase().from('wagers').select('user_id').order('id', { ascending: false }).limit(200)),
    [revision],
  )
  const known = new Set((counted.data ?? []).map((b) => b.user_id))
  const others = [...new Set((recent.data ?? []).map((w) => w.user_id))].filter((id) => !known.has(id))
  if (bettor && !known.has(bettor) && !others.includes(bettor)) others.unshift(bettor)
  return (
    <section className="card stack" aria-labelledby="history-title">
      <h2 id="history-title">Bettor history</h2>
      <label className="picker">
        Bettor
        <select value={bettor ?? ''} onChange={(e) => onBettor(e.target.value || null)}>
          <option value="">Pick a bettor</option>
          {(counted.data ?? []).map((b) => (
            <option key={b.user_id} value={b.user_id}>
              {short(b.user_id)}: {b.wagers} settled, {formatMinor(b.wagered)} staked
            </option>
          ))}
          {others.map((id) => (
            <option key={id} value={id}>
              {short(id)}: nothing settled yet
            </option>
          ))}
        </select>
      </label>
      {bettor ? <BettorHistory userId={bettor} focus={focus} /> : <p className="muted">Pick a bettor, or a bettor in the list of wagers.</p>}
    </section>
  )
}

function PriceImpact() {
  const { markets } = useMarkets()
  const [marketId, setMarketId] = useState<number | null>(null)
  const [since, setSince] = useState<Since>('1h')
  const tick = Math.floor(useNow(10_000) / 10_000)
  const from = sinceIso(since, tick * 10_000)
  const quotes = useLoad(
    () => loadQuotes({ marketId, bettor: null, minImpact: null, since }, from, 500),
    [marketId, since, tick],
  )
  const events = useLoad<ImpactEvent[]>(
    async (): Promise<Answer<ImpactEvent[]>> => {
      if (marketId === null) return { ok: true, data: [] }
      const depth = await call<{ price_impact_events: ImpactEvent[] }>('get_market_depth', { market_id: marketId, window: '1h' })
      return depth.ok ? { ok: true, data: depth.data.price_impact_events } : depth
    },
    [marketId, tick],
  )
  const quoted = quotes.data ?? []
  const placed = events.data ?? []
  return (
    <section className="card stack" aria-labelledby="impact-over-time-title" data-testid="price-impact">
      <h2 id="impact-over-time-title">Price impact over time</h2>
      <p className="muted">
        Each quote a bettor asked for (the telemetry), and, for one market, each accepted wager of the last hour
        that moved its outcome's share by the engine's threshold or more.
      </p>
      <div className="filters">
        <label>
          Market
          <select value={marketId ?? ''} onChange={(e) => setMarketId(e.target.value ? Number(e.target.value) : null)}>
            <option value="">All markets</option>
            {markets.map((m) => (
              <option key={m.id} value={m.id}>
                #{m.id} {m.title}
              </option>
            ))}
          </select>
        </label>
        <label>
          Quotes of the
          <SinceSelect value={since} onChange={setSince} />
        </label>
      </div>
      {(quotes.error || events.error) && <p className="error">{quotes.error ?? events.error}</p>}
      <p className="muted" data-testid="impact-counts">
        {quoted.length} quote(s){marketId !== null ? `, ${placed.length} wager(s) that moved a share` : ''}.{' '}
        <a href={marketId === null ? '/admin/telemetry' : `/admin/markets/${marketId}/telemetry`} onClick={follow}>
          Every quote, with filters
        </a>
      </p>
      <ImpactChart quotes={quoted} events={placed} />
    </section>
  )
}

export function Monitor({ isAdmin }: { isAdmin: boolean }) {
  const revision = useAdminRevision()
  const search = useSearch()
  const bettor = new URLSearchParams(search).get('bettor')
  const [focus, setFocus] = useState(0)
  const counts = useLoad(funnel, [revision])
  const pick = (userId: string | null, moveFocus: boolean) => {
    replaceSearch(userId ? `?bettor=${userId}` : '')
    if (moveFocus) setFocus(focus + 1)
  }
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
      <LatestWagers onBettor={(userId) => pick(userId, true)} />
      <Bettors bettor={bettor} focus={focus} onBettor={(userId) => pick(userId, false)} />
      <PriceImpact />
      <Jobs />
    </AdminPage>
  )
}
