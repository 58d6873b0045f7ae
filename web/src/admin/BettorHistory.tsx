// A bettor's history for the wager monitor (DBGP 6.5, "user histories"): the engine's figures for
// them (`user_stats`: settled wagers, wins, staked, won, profit), their wallet, the profit or loss
// of each settled wager over time with the running total as a line, their balance after each
// ledger entry (Chart.js), and every wager with its state, result and running total. All read
// from views an admin reads whole (RLS); every amount is the engine's, only formatted here:
// `profit` is payout - stake and `running_profit` the sum of profit over the bettor's won and lost
// wagers up to each one, in the order they were settled (the `wager_results` view).
import { useEffect, useMemo, useRef } from 'react'
import type { ChartConfiguration, ChartDataset } from 'chart.js'
import { LineChart } from '../charts/LineChart'
import { rows, useLoad } from '../load'
import { formatMinor, formatOdds } from '../money'
import { follow } from '../router'
import { USER_STATS_COLUMNS, type UserStats } from '../screens/MyBets'
import { supabase } from '../supabase'
import { Table } from '../Table'
import { ChartCanvas, clock } from '../charts/ChartCanvas'
import { WAGER_COLUMNS, type AdminWager } from './Corrections'
import { useAdminRevision } from './live'

/** A wager row as the corrections list reads it, with its profit and when it was settled. */
export interface BettorWager extends AdminWager {
  profit: number | null
  settled_at: string | null
  is_big?: boolean
}

interface Result {
  id: number
  market_title: string
  outcome_label: string
  settlement: 'won' | 'lost'
  profit: number
  running_profit: number
  settled_at: string
}

const RESULTS = 500 // the newest settled wagers charted; the line carries every one before them

interface Entry {
  id: number
  kind: string
  amount: number
  balance_after: number
  created_at: string
}

export const short = (userId: string) => userId.slice(0, 8)

export function wagerState(w: Pick<BettorWager, 'approval' | 'settlement'>): string {
  if (w.approval === 'pending') return 'waiting for approval'
  if (w.approval === 'rejected') return 'rejected'
  return w.settlement === 'void' ? 'void (refunded)' : w.settlement
}

const money = (value: number) => formatMinor(value)

function ResultChart({ results }: { results: Result[] }) {
  const config = useMemo((): ChartConfiguration => {
    const oldest = [...results].reverse()
    return {
      type: 'bar',
      data: {
        labels: oldest.map((r) => `${clock(r.settled_at)} #${r.id}`),
        datasets: [
          {
            type: 'line',
            label: 'Running profit or loss',
            data: oldest.map((r) => r.running_profit),
            borderColor: '#fbbf24',
            backgroundColor: '#fbbf24',
            pointRadius: oldest.length > 100 ? 0 : 2,
            order: 0,
          },
          {
            type: 'bar',
            label: 'Profit or loss of the wager',
            data: oldest.map((r) => r.profit),
            backgroundColor: oldest.map((r) => (r.profit < 0 ? '#f87171' : '#34d399')),
            order: 1,
          },
        ],
      },
      options: {
        plugins: {
          legend: { position: 'bottom', labels: { boxWidth: 12 } },
          tooltip: {
            callbacks: { label: (item) => `${item.dataset.label}: ${formatMinor(Number(item.raw))}` },
          },
        },
        scales: {
          x: { ticks: { maxTicksLimit: 6 } },
          y: { ticks: { callback: (value) => formatMinor(Number(value)) } },
        },
      },
    }
  }, [results])
  if (results.length === 0) return <p className="muted">No settled wager yet.</p>
  return (
    <>
      <ChartCanvas
        label="Profit or loss of each settled wager, and the running total, in the order they were settled"
        config={config}
        testId="result-chart"
      />
      {results.length === RESULTS && (
        <p className="muted">The newest {RESULTS} settled wagers; the running total counts every one before them.</p>
      )}
    </>
  )
}

function BalanceChart({ entries }: { entries: Entry[] }) {
  const { times, datasets, notes } = useMemo(() => {
    const oldest = [...entries].reverse()
    const data: ChartDataset<'line', (number | null)[]>[] = [
      {
        label: 'Balance',
        data: oldest.map((e) => e.balance_after),
        borderColor: '#60a5fa',
        backgroundColor: '#60a5fa55',
        pointRadius: 2,
        stepped: true,
      },
    ]
    return { times: oldest.map((e) => Date.parse(e.created_at)), datasets: data, notes: oldest.map((e) => e.kind) }
  }, [entries])
  if (entries.length === 0) return <p className="muted">No ledger entry yet.</p>
  return (
    <LineChart
      label="The bettor's balance after each ledger entry, over time"
      times={times}
      datasets={datasets}
      notes={notes}
      formatY={money}
      testId="balance-chart"
    />
  )
}

export function BettorHistory({ userId, focus }: { userId: string; focus: number }) {
  const revision = useAdminRevision()
  const heading = useRef<HTMLHeadingElement>(null)
  const stats = useLoad(
    () => rows<UserStats>(supabase().from('user_stats').select(USER_STATS_COLUMNS).eq('user_id', userId)),
    [userId, revision],
  )
  const wallet = useLoad(
    () => rows<{ balance: number }>(supabase().from('wallets').select('balance').eq('user_id', userId)),
    [userId, revision],
  )
  const wagers = useLoad(
    () =>
      rows<BettorWager>(
        supabase()
          .from('wagers')
          .select(`${WAGER_COLUMNS},profit,settled_at`)
          .eq('user_id', userId)
          .order('id', { ascending: false })
          .limit(200),
      ),
    [userId, revision],
  )
  const results = useLoad(
    () =>
      rows<Result>(
        supabase()
          .from('wager_results')
          .select('id,market_title,outcome_label,settlement,profit,running_profit,settled_at')
          .eq('user_id', userId)
          .order('settled_at', { ascending: false })
          .order('id', { ascending: false })
          .limit(RESULTS),
      ),
    [userId, revision],
  )
  const ledger = useLoad(
    () =>
      rows<Entry>(
        supabase()
          .from('ledger')
          .select('id,kind,amount,balance_after,created_at')
          .eq('user_id', userId)
          .order('id', { ascending: false })
          .limit(200),
      ),
    [userId, revision],
  )
  useEffect(() => {
    if (focus > 0) heading.current?.focus()
  }, [focus, userId])

  const figures = stats.data?.[0] ?? null
  const list = wagers.data ?? []
  const settled = results.data ?? []
  const running = new Map(settled.map((r) => [r.id, r.running_profit]))
  const total = settled.length > 0 ? settled[0].running_profit : null
  const error = stats.error ?? wallet.error ?? wagers.error ?? results.error ?? ledger.error
  return (
    <div className="stack" data-testid="bettor-history" data-user-id={userId}>
      <h3 ref={heading} tabIndex={-1}>
        Bettor {short(userId)} <span className="muted">{userId}</span>
      </h3>
      {error && <p className="error">{error}</p>}
      <dl className="facts" data-testid="bettor-figures">
        <div>
          <dt>Balance</dt>
          <dd data-testid="bettor-balance">{wallet.data ? formatMinor(wallet.data[0]?.balance ?? null) : '–'}</dd>
        </div>
        <div>
          <dt>Settled wagers</dt>
          <dd>{figures ? figures.wagers : 0}</dd>
        </div>
        <div>
          <dt>Wins</dt>
          <dd>{figures ? figures.wins : 0}</dd>
        </div>
        <div>
          <dt>Staked (settled)</dt>
          <dd>{formatMinor(figures ? figures.wagered : 0)}</dd>
        </div>
        <div>
          <dt>Won</dt>
          <dd>{formatMinor(figures ? figures.won : 0)}</dd>
        </div>
        <div>
          <dt>Profit</dt>
          <dd data-testid="bettor-profit" className={figures && figures.profit < 0 ? 'minus' : figures && figures.profit > 0 ? 'plus' : ''}>
            {formatMinor(figures ? figures.profit : 0)}
          </dd>
        </div>
        <div>
          <dt>Running total</dt>
          <dd data-testid="running-profit" className={total !== null && total < 0 ? 'minus' : total ? 'plus' : ''}>
            {results.data ? formatMinor(total ?? 0) : '–'}
          </dd>
        </div>
      </dl>
      <div className="two">
        <div>
          <h4>Profit or loss of each settled wager, and the running total</h4>
          <ResultChart results={settled} />
        </div>
        <div>
          <h4>Balance after each ledger entry</h4>
          <BalanceChart entries={ledger.data ?? []} />
        </div>
      </div>
      <Table
        className="bettor-wagers"
        rows={list}
        rowKey={(w) => w.id}
        rowProps={(w) => ({ 'data-wager-id': w.id })}
        empty="No wager yet."
        loading={wagers.loading}
        columns={[
          { header: 'Wager', cell: (w) => `#${w.id}` },
          { header: 'Placed', cell: (w) => new Date(w.created_at).toLocaleString() },
          {
            header: 'Market',
            cell: (w) => (
              <a href={`/admin/markets/${w.market_id}`} onClick={follow}>
                {w.market_title}
              </a>
            ),
          },
          { header: 'Outcome', cell: (w) => w.outcome_label },
          { header: 'Stake', numeric: true, cell: (w) => formatMinor(w.stake) },
          { header: 'Odds', numeric: true, cell: (w) => formatOdds(w.odds, 4) },
          { header: 'State', cell: wagerState, cellProps: (w) => ({ className: `state-${w.settlement}` }) },
          { header: 'Payout', numeric: true, cell: (w) => (w.payout === null ? '–' : formatMinor(w.payout)) },
          {
            header: 'Result',
            numeric: true,
            cell: (w) => (w.settled_at === null || w.profit === null ? '–' : formatMinor(w.profit)),
            cellProps: (w) => ({
              className: w.profit !== null && w.profit < 0 ? 'minus' : w.profit ? 'plus' : '',
              'data-testid': 'result',
            }),
          },
          {
            header: 'Running',
            numeric: true,
            cell: (w) => (running.has(w.id) ? formatMinor(running.get(w.id) ?? 0) : '–'),
            cellProps: () => ({ 'data-testid': 'running' }),
          },
        ]}
      />
    </div>
  )
}
