// Small pieces shared by the screens.
import type { ReactNode } from 'react'
import type { Market, Outcome } from '../markets'
import { formatMinor, formatOdds, formatShare } from '../money'
import { follow } from '../router'
import { timeLeft } from '../time'

const KIND: Record<Market['kind'], string> = { fixed_odds: 'Fixed odds', parimutuel: 'Pool' }
const STATUS: Record<Market['status'], string> = {
  draft: 'Draft',
  open: 'Open',
  closed: 'Closed',
  settled: 'Settled',
  void: 'Called off',
}

export function Badges({ market }: { market: Market }) {
  return (
    <span className="badges">
      <span className="badge">{KIND[market.kind]}</span>
      <span className="badge">{market.category}</span>
      <span className={`badge status-${market.status}`} data-testid="status">
        {STATUS[market.status]}
      </span>
    </span>
  )
}

export function TrendArrow({ trend }: { trend: Outcome['trend'] }) {
  if (trend === 'up')
    return (
      <span className="trend up" title="odds went up" aria-label="odds went up">
        ▲
      </span>
    )
  if (trend === 'down')
    return (
      <span className="trend down" title="odds went down" aria-label="odds went down">
        ▼
      </span>
    )
  return <span className="trend" aria-hidden="true" />
}

export function OutcomeRow({ outcome, won }: { outcome: Outcome; won: boolean }) {
  return (
    <div className="outcome-row" data-outcome-id={outcome.outcome_id}>
      <span className="chip" style={{ background: outcome.color ?? undefined }} aria-hidden="true" />
      <span className="label">
        {outcome.label}
        {won && <span className="won-tag"> won</span>}
      </span>
      <span className="odds" data-testid="odds">
        {formatOdds(outcome.odds)}
      </span>
      <TrendArrow trend={outcome.trend} />
      <span className="share">{formatShare(outcome.share)}</span>
      <span className="staked">{formatMinor(outcome.pool)}</span>
      <span className="bar" aria-hidden="true">
        <span style={{ width: `${Math.round((outcome.share ?? 0) * 100)}%` }} />
      </span>
    </div>
  )
}

export function OutcomeHeader() {
  return (
    <div className="outcome-row head" aria-hidden="true">
      <span />
      <span className="label">Outcome</span>
      <span className="odds">Odds</span>
      <span />
      <span className="share">Share</span>
      <span className="staked">Staked</span>
    </div>
  )
}

// A market's key facts: time left and pool, then whatever the screen adds.
export function MarketFacts({ market, now, children }: { market: Market; now: number; children?: ReactNode }) {
  return (
    <dl className="facts">
      <div>
        <dt>Time left</dt>
        <dd>{market.status === 'open' ? timeLeft(market.closes_at, now) : '–'}</dd>
      </div>
      <div>
        <dt>Pool</dt>
        <dd data-testid="pool">{formatMinor(market.total_pool)}</dd>
      </div>
      {children}
    </dl>
  )
}

/** A page for an address that names nothing, with the way back. */
export function NotFound({ back, to }: { back: string; to: string }) {
  return (
    <main className="page">
      <h1>Not found</h1>
      <a href={back} onClick={follow}>
        Back to {to}
      </a>
    </main>
  )
}
