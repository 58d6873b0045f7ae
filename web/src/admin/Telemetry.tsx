// Admin Telemetry (DBGP 6.4, 3.7): the quote telemetry (the `quote_telemetry` view, admins only):
// every preview_wager a signed-in bettor asked for, with the stake, the odds before and after it,
// its price impact and the share after. Filtered by market, bettor, least impact and age; summed
// up by the database (counts with count=exact; the largest impact and stake by ordering), the
// latest 200 drawn over time and listed. Asked again every 10 seconds.
import { useState } from 'react'
import { fromRest } from '../errors'
import { rows, useLoad, type Answer } from '../load'
import { useMarkets, type Market } from '../markets'
import { formatMinor, formatOdds, formatPoints, formatShare } from '../money'
import { follow, useSearch } from '../router'
import { supabase } from '../supabase'
import { Table } from '../Table'
import { useNow } from '../time'
import { AdminPage } from './AdminNav'
import { ImpactChart } from './ImpactChart'
import { MarketPicker } from './MarketPicker'

export interface Quote {
  id: number
  market_id: number
  outcome_id: number
  user_id: string | null
  stake: number
  baseline_odds: number | null
  effective_odds: number | null
  price_impact_pp: number
  share_after: number
  created_at: string
}

export const QUOTE_COLUMNS =
  'id,market_id,outcome_id,user_id,stake,baseline_odds,effective_odds,price_impact_pp,share_after,created_at'
const LISTED = 200
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i
const POINTS = /^\s*\d{1,3}(?:[.,]\d{0,4})?\s*$/

export const SINCE = [
  { value: '15m', label: 'last 15 minutes', ms: 15 * 60_000 },
  { value: '1h', label: 'last hour', ms: 3_600_000 },
  { value: '24h', label: 'last 24 hours', ms: 86_400_000 },
  { value: 'all', label: 'any time', ms: null },
] as const
export type Since = (typeof SINCE)[number]['value']

export interface QuoteFilter {
  marketId: number | null
  bettor: string | null
  minImpact: number | null // percentage points, either way
  since: Since
}

/** The select of a `since` span; its label is the caller's. */
export function SinceSelect({ value, onChange }: { value: Since; onChange: (since: Since) => void }) {
  return (
    <select value={value} onChange={(e) => onChange(e.target.value as Since)}>
      {SINCE.map((option) => (
        <option key={option.value} value={option.value}>
          {option.label}
        </option>
      ))}
    </select>
  )
}

/** The start of the `since` span as an ISO time, or null for any time. */
export function sinceIso(since: Since, now: number): string | null {
  const span = SINCE.find((s) => s.value === since)?.ms ?? null
  return span === null ? null : new Date(now - span).toISOString()
}

interface Filterable {
  eq(column: string, value: string | number): Filterable
  gte(column: string, value: string | number): Filterable
  or(filters: string): Filterable
}

/** The filters applied to any query on quote_telemetry (a PostgREST builder of any select). */
function filtered<Q>(query: Q, filter: QuoteFilter, from: string | null): Q {
  let q = query as unknown as Filterable
  if (filter.marketId !== null) q = q.eq('market_id', filter.marketId)
  if (filter.bettor !== null) q = q.eq('user_id', filter.bettor)
  if (filter.minImpact !== null) q = q.or(`price_impact_pp.gte.${filter.minImpact},price_impact_pp.lte.${-filter.minImpact}`)
  if (from !== null) q = q.gte('created_at', from)
  return q as unknown as Q
}

/** The latest quotes matching `filter`, newest first. */
export function loadQuotes(filter: QuoteFilter, from: string | null, limit = LISTED): Promise<Answer<Quote[]>> {
  return rows<Quote>(
    filtered(supabase().from('quote_telemetry').select(QUOTE_COLUMNS), filter, from)
      .order('created_at', { ascending: false })
      .order('id', { ascending: false })
      .limit(limit),
  )
}

interface Summary {
  quotes: number
  impactful: number
  threshold: number
  largestImpact: Quote | null
  largestStake: Quote | null
}

async function summarise(filter: QuoteFilter, from: string | null): Promise<Answer<Summary>> {
  const threshold = filter.minImpact ?? 1
  const table = () => supabase().from('quote_telemetry')
  const [all, impactful, impact, stake] = await Promise.all([
    filtered(table().select('id', { count: 'exact', head: true }), filter, from),
    filtered(table().select('id', { count: 'exact', head: true }), { ...filter, minImpact: threshold }, from),
    filtered(table().select(QUOTE_COLUMNS), filter, from).order('price_impact_pp', { ascending: false }).limit(1),
    filtered(table().select(QUOTE_COLUMNS), filter, from).order('stake', { ascending: false }).limit(1),
  ])
  const failed = [all, impactful, impact, stake].find((answer) => answer.error)
  if (failed?.error) return { ok: false, refusal: fromRest(failed.error) }
  return {
    ok: true,
    data: {
      quotes: all.count ?? 0,
      impactful: impactful.count ?? 0,
      threshold,
      largestImpact: (impact.data as Quote[])[0] ?? null,
      largestStake: (stake.data as Quote[])[0] ?? null,
    },
  }
}

export function marketOf(markets: Market[], id: number): Market | undefined {
  return markets.find((m) => m.id === id)
}

export function outcomeLabel(markets: Market[], q: Pick<Quote, 'market_id' | 'outcome_id'>): string {
  return marketOf(markets, q.market_id)?.outcomes.find((o) => o.outcome_id === q.outcome_id)?.label ?? `#${q.outcome_id}`
}

const short = (id: string | null) => (id ? id.slice(0, 8) : 'anonymous')

function QuoteLine({ quote, markets }: { quote: Quote | null; markets: Market[] }) {
  if (!quote) return <>–</>
  return (
    <>
      {formatPoints(quote.price_impact_pp)}: {formatMinor(quote.stake)} on {outcomeLabel(markets, quote)}
    </>
  )
}

export function Telemetry({ id, isAdmin }: { id: number | null; isAdmin: boolean }) {
  const { markets } = useMarkets()
  const search = useSearch()
  const [bettorText, setBettorText] = useState(() => new URLSearchParams(search).get('bettor') ?? '')
  const [impactText, setImpactText] = useState('')
  const [since, setSince] = useState<Since>('24h')
  const now = useNow(10_000)
  const tick = Math.floor(now / 10_000)

  const bettor = bettorText.trim() === '' ? null : UUID.test(bettorText.trim()) ? bettorText.trim().toLowerCase() : undefined
  const minImpact = impactText.trim() === '' ? null : POINTS.test(impactText) ? Number(impactText.trim().replace(',', '.')) : undefined
  const valid = bettor !== undefined && minImpact !== undefined
  const filter: QuoteFilter = { marketId: id, bettor: bettor ?? null, minImpact: minImpact ?? null, since }
  const from = sinceIso(since, tick * 10_000)
  const keys = [id, bettor, minImpact, since, tick]
  const summary = useLoad<Summary | null>(
    () => (valid ? summarise(filter, from) : Promise.resolve<Answer<Summary | null>>({ ok: true, data: null })),
    keys,
  )
  const quotes = useLoad(
    () => (valid ? loadQuotes(filter, from) : Promise.resolve<Answer<Quote[]>>({ ok: true, data: [] })),
    keys,
  )
  const listed = quotes.data ?? []
  const bettors = new Set(listed.map((q) => q.user_id)).size
  const market = id === null ? undefined : marketOf(markets, id)
  const s = summary.data

  return (
    <AdminPage isAdmin={isAdmin} title={market ? market.title : 'Quote telemetry'}>
      <section className="card stack" aria-labelledby="telemetry-title">
        <h2 id="telemetry-title">Quote telemetry</h2>
        <p className="muted">
          Every quote a signed-in bettor asked for (preview_wager): the stake, the odds before and after it, and how
          far it would move its outcome's share of the pool (price impact, in percentage points).
        </p>
        <div className="filters" role="group" aria-label="Filters">
          <MarketPicker id={id} tab="telemetry" allLabel="All markets" />
          <label>
            Bettor (user id)
            <input
              value={bettorText}
              placeholder="any bettor"
              aria-invalid={bettor === undefined}
              onChange={(e) => setBettorText(e.target.value)}
            />
          </label>
          <label>
            Least impact (pp, either way)
            <input
              inputMode="decimal"
              value={impactText}
              placeholder="any"
              aria-invalid={minImpact === undefined}
              onChange={(e) => setImpactText(e.target.value)}
            />
          </label>
          <label>
            Since
            <SinceSelect value={since} onChange={setSince} />
          </label>
        </div>
        {!valid && (
          <p className="error" role="alert">
            {bettor === undefined ? 'Bettor: a whole user id, like 0c5e…-…. ' : ''}
            {minImpact === undefined ? 'Least impact: a number of points, like 2 or 0.5.' : ''}
          </p>
        )}
        {(summary.error || quotes.error) && <p className="error">{summary.error ?? quotes.error}</p>}
        <dl className="facts" data-testid="telemetry-summary">
          <div>
            <dt>Quotes</dt>
            <dd data-testid="quote-count">{s ? s.quotes : '–'}</dd>
          </div>
          <div>
            <dt>Moving a share {s ? `${s.threshold}` : ''} pp or more</dt>
            <dd data-testid="impactful-count">{s ? s.impactful : '–'}</dd>
          </div>
          <div>
            <dt>Largest impact</dt>
            <dd data-testid="largest-impact">{s ? <QuoteLine quote={s.largestImpact} markets={markets} /> : '–'}</dd>
          </div>
          <div>
            <dt>Largest stake quoted</dt>
            <dd data-testid="largest-stake">{s?.largestStake ? formatMinor(s.largestStake.stake) : '–'}</dd>
          </div>
          <div>
            <dt>Bettors in the list</dt>
            <dd>{bettors}</dd>
          </div>
        </dl>
      </section>
      <section className="card stack" aria-labelledby="impact-title">
        <h2 id="impact-title">Price impact of these quotes over time</h2>
        <ImpactChart quotes={listed} events={[]} />
      </section>
      <section className="card" aria-labelledby="quotes-title">
        <h2 id="quotes-title">
          Latest quotes{' '}
          <span className="muted">
            ({listed.length}
            {s && s.quotes > listed.length ? ` of ${s.quotes}` : ''})
          </span>
        </h2>
        <Table
          className="telemetry"
          rows={listed}
          rowKey={(q) => q.id}
          rowProps={(q) => ({ 'data-quote-id': q.id })}
          empty="No quote matches."
          loading={quotes.loading}
          columns={[
            { header: 'When', cell: (q) => new Date(q.created_at).toLocaleString() },
            id === null && {
              header: 'Market',
              cell: (q) => (
                <a href={`/admin/markets/${q.market_id}/telemetry`} onClick={follow}>
                  {marketOf(markets, q.market_id)?.title ?? `#${q.market_id}`}
                </a>
              ),
            },
            { header: 'Outcome', cell: (q) => outcomeLabel(markets, q) },
            {
              header: 'Bettor',
              cell: (q) =>
                q.user_id ? (
                  <span className="row-actions">
                    <button
                      type="button"
                      className="link"
                      aria-label={`Only bettor ${short(q.user_id)}`}
                      onClick={() => setBettorText(q.user_id ?? '')}
                    >
                      {short(q.user_id)}
                    </button>
                    <a href={`/admin/wagers?bettor=${q.user_id}`} onClick={follow} aria-label={`History of bettor ${short(q.user_id)}`}>
                      history
                    </a>
                  </span>
                ) : (
                  'anonymous'
                ),
            },
            { header: 'Stake', numeric: true, cell: (q) => formatMinor(q.stake) },
            { header: 'Odds before', numeric: true, cell: (q) => formatOdds(q.baseline_odds, 4) },
            { header: 'Odds after', numeric: true, cell: (q) => formatOdds(q.effective_odds, 4) },
            { header: 'Impact', numeric: true, cell: (q) => formatPoints(q.price_impact_pp), cellProps: () => ({ 'data-testid': 'impact' }) },
            { header: 'Share after', numeric: true, cell: (q) => formatShare(q.share_after) },
          ]}
        />
      </section>
    </AdminPage>
  )
}
