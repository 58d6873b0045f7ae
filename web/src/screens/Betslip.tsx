// The betslip (DBGP 6.2): pick an outcome, type or quick-pick a stake, see the live quote from
// preview_wager (re-quoted whenever the market moves), confirm with place_wager at the odds shown.
import { useEffect, useRef, useState } from 'react'
import { fromRest, type Refusal } from '../errors'
import type { Market } from '../markets'
import { formatMinor, formatOdds, formatShare, minorToInput, parseMinor } from '../money'
import { signOut } from '../session'
import { supabase } from '../supabase'

export interface Quote {
  outcome_id: number
  stake: number
  kind: Market['kind']
  baseline_odds: number | null
  effective_odds: number
  odds_after: number | null
  share_before: number
  share_after: number
  price_impact_pp: number
  estimated_payout: number
  max_payout: number
  cap: number | null
  takeout: number
  balance?: number | null
  market_version: number
  current_odds?: number
}

const QUICK_STAKES = [100, 500, 1000, 2500, 5000, 10000] // minor units: 1.00 to 100.00

interface Props {
  market: Market
  signedIn: boolean
  balance: number | null
}

export function Betslip({ market, signedIn, balance }: Props) {
  const [outcomeId, setOutcomeId] = useState<number | null>(null)
  const [stakeText, setStakeText] = useState('')
  const [quote, setQuote] = useState<Quote | null>(null)
  const [quoteError, setQuoteError] = useState<Refusal | null>(null)
  const [notice, setNotice] = useState<string | null>(null)
  const [error, setError] = useState<Refusal | null>(null)
  const [success, setSuccess] = useState<string | null>(null)
  const [placing, setPlacing] = useState(false)
  const asked = useRef(0)

  const stake = stakeText.trim() === '' ? null : parseMinor(stakeText)
  const stakeInvalid = stakeText.trim() !== '' && (stake === null || stake <= 0)
  const outcome = market.outcomes.find((o) => o.outcome_id === outcomeId) ?? null
  const open = market.accepting_wagers // the engine says; a closed market reloads its row

  // a quote for what is on the slip, asked again whenever the market's version moves
  useEffect(() => {
    if (!open || outcomeId === null || stake === null || stake <= 0) {
      setQuote(null)
      setQuoteError(null)
      return
    }
    const ask = ++asked.current
    const timer = window.setTimeout(async () => {
      const { data, error: refused } = await supabase().rpc('preview_wager', {
        market_id: market.id,
        outcome_id: outcomeId,
        stake,
      })
      if (ask !== asked.current) return // a newer question is out
      if (refused) {
        setQuote(null)
        setQuoteError(fromRest(refused))
      } else {
        setQuote(data as Quote)
        setQuoteError(null)
      }
    }, 150)
    return () => window.clearTimeout(timer)
  }, [market.id, market.version, open, outcomeId, stake])

  function pick(id: number) {
    setOutcomeId(id)
    setNotice(null)
    setError(null)
    setSuccess(null)
  }

  function typeStake(text: string) {
    setStakeText(text)
    setNotice(null)
    setError(null)
    setSuccess(null)
  }

  async function confirm() {
    if (!quote || outcomeId === null || stake === null) return
    setPlacing(true)
    setError(null)
    setNotice(null)
    setSuccess(null)
    const { data, error: refused } = await supabase().rpc('place_wager', {
      market_id: market.id,
      outcome_id: outcomeId,
      stake,
      expected_odds: quote.effective_odds,
      idempotency_key: crypto.randomUUID(),
    })
    setPlacing(false)
    if (refused) {
      const refusal = fromRest(refused)
      if (refusal.key === 'odds_changed') {
        // the refusal carries the whole new quote: offer it
        asked.current++
        setQuote({ ...quote, ...(refusal.detail as Partial<Quote>) })
        setNotice(refusal.text)
      } else {
        setError(refusal)
      }
      return
    }
    const placed = data as { odds: number; potential_payout: number; approval: string }
    setSuccess(
      placed.approval === 'pending'
        ? `Wager of ${formatMinor(stake)} on ${outcome?.label} sent: it waits for approval.`
        : `Wager placed: ${formatMinor(stake)} on ${outcome?.label} at ${formatOdds(placed.odds, 4)}. ` +
            `It pays ${formatMinor(placed.potential_payout)} if it wins.`,
    )
    setStakeText('')
  }

  const shownBalance = quote?.balance ?? balance
  return (
    <section className="card betslip" aria-labelledby="betslip-title">
      <h2 id="betslip-title">Betslip</h2>
      {!open && <p className="muted">This market is not taking wagers.</p>}
      <fieldset className="pick" disabled={!open}>
        <legend>Pick an outcome</legend>
        {market.outcomes.map((o) => (
          <button
            key={o.outcome_id}
            type="button"
            className={o.outcome_id === outcomeId ? 'pick-button picked' : 'pick-button'}
            aria-pressed={o.outcome_id === outcomeId}
            data-outcome-id={o.outcome_id}
            onClick={() => pick(o.outcome_id)}
          >
            <span className="chip" style={{ background: o.color ?? undefined }} aria-hidden="true" />
            <span>{o.label}</span>
            <span className="odds">{formatOdds(o.odds)}</span>
          </button>
        ))}
      </fieldset>
      <label className="stake">
        Stake
        <input
          name="stake"
          inputMode="decimal"
          autoComplete="off"
          placeholder="10.00"
          value={stakeText}
          disabled={!open}
          aria-invalid={stakeInvalid}
          onChange={(e) => typeStake(e.target.value)}
        />
      </label>
      <div className="quick" role="group" aria-label="Quick stakes">
        {QUICK_STAKES.map((amount) => (
          <button
            key={amount}
            type="button"
            disabled={!open}
            onClick={() => typeStake(minorToInput(amount))}
          >
            {formatMinor(amount)}
          </button>
        ))}
      </div>
      {stakeInvalid && <p className="error">Enter an amount like 10 or 12.50.</p>}
      {open && outcomeId === null && <p className="muted">Pick an outcome to get a quote.</p>}
      {quoteError && (
        <p className="error" role="alert">
          {quoteError.text}
        </p>
      )}
      {quote && (
        <dl className="quote" data-testid="quote">
          <div>
            <dt>Baseline odds</dt>
            <dd data-testid="baseline-odds">{formatOdds(quote.baseline_odds, 4)}</dd>
          </div>
          <div>
            <dt>Your odds</dt>
            <dd data-testid="effective-odds">{formatOdds(quote.effective_odds, 4)}</dd>
          </div>
          <div>
            <dt>Price impact</dt>
            <dd>{quote.price_impact_pp.toFixed(2)} pp</dd>
          </div>
          <div>
            <dt>Share after</dt>
            <dd>{formatShare(quote.share_after)}</dd>
          </div>
          <div>
            <dt>Estimated payout</dt>
            <dd data-testid="estimated-payout">{formatMinor(quote.estimated_payout)}</dd>
          </div>
          <div>
            <dt>Max payout</dt>
            <dd>{formatMinor(quote.max_payout)}</dd>
          </div>
          <div>
            <dt>Cap</dt>
            <dd>{quote.cap === null ? 'none' : formatMinor(quote.cap)}</dd>
          </div>
          <div>
            <dt>Takeout</dt>
            <dd>{formatMinor(quote.takeout)}</dd>
          </div>
          <div>
            <dt>Balance</dt>
            <dd>{signedIn ? formatMinor(shownBalance ?? null) : '–'}</dd>
          </div>
        </dl>
      )}
      {notice && (
        <p className="notice" role="alert" data-testid="odds-moved">
          {notice}
        </p>
      )}
      {error && (
        <p className="error" role="alert" data-testid="wager-error">
          {error.text}
        </p>
      )}
      {success && (
        <p className="success" role="status" data-testid="wager-placed">
          {success}
        </p>
      )}
      {signedIn ? (
        <button
          type="button"
          className="primary wide"
          disabled={!quote || placing || !open}
          onClick={confirm}
        >
          {placing
            ? 'Placing…'
            : quote
              ? `${notice ? 'Confirm at the new odds' : 'Place wager'}: ${formatMinor(quote.stake)} at ${formatOdds(quote.effective_odds, 4)}`
              : 'Place wager'}
        </button>
      ) : (
        <div className="guest-note" data-testid="guest-note">
          <p>Guests can look, but only members can bet.</p>
          <button type="button" className="primary wide" onClick={() => void signOut()}>
            Sign in or register to bet
          </button>
        </div>
      )}
    </section>
  )
}
