// Every refusal the engine or the auth service can give (docs/errors.md, docs/api.md), in words
// a bettor understands. `detail` holds the error's values (amounts in minor units).
import { formatMinor, formatOdds } from './money'

export type Detail = Record<string, unknown>

export interface Refusal {
  key: string // the engine's stable key, a GoTrue code, or 'network' / 'unknown'
  text: string // what to tell the person
  detail: Detail
}

const money = (value: unknown): string => formatMinor(typeof value === 'number' ? value : null)
const date = (value: unknown): string =>
  typeof value === 'string' ? new Date(value).toLocaleString() : 'later'

/** How a round of mines ended (its result's `ended`), in words. */
export const ROUND_ENDED: Record<string, string> = {
  cashout: 'cashed out',
  mine: 'hit a mine',
  all_safe: 'every safe cell revealed',
  admin: 'settled by an administrator',
  expired: 'settled after it was left idle',
}

/** Why set_referrer refused (referrer_refused's detail.reason), in words. */
const REFERRER_REFUSED: Record<string, string> = {
  self: 'That is your own referral code: you cannot refer yourself.',
  mutual: 'You referred this player yourself, so they cannot be your referrer.',
  already_set: 'Your referrer is set already, and it is set once.',
  after_first_bet: 'A referrer can only be named before your first bet.',
}

const ENGINE: Record<string, (d: Detail) => string> = {
  not_authenticated: () => 'Please sign in to do this.',
  unknown_user: () => 'Your account could not be found. Please sign in again.',
  user_exists: () => 'An account with this email or name exists already. Sign in instead.',
  user_not_found: () => 'There is no account with that name.',
  not_admin: () => 'Only an administrator can do this.',
  invalid_argument: (d) => `That is not valid${d.reason ? `: ${String(d.reason)}` : ''}.`,
  invalid_option: (d) => `The market option ${String(d.option ?? '')} is not valid.`,
  invalid_amount: () => 'Enter an amount above zero, with at most two decimals.',
  amount_above_maximum: (d) => `That is above the maximum of ${money(d.maximum)} per transfer.`,
  invalid_idempotency_key: () => 'Something went wrong sending this request. Please try again.',
  insufficient_funds: (d) =>
    `Your balance (${money(d.balance)}) is too low for this. Deposit, or lower the amount.`,
  market_not_found: () => 'This market does not exist, or is not visible to you.',
  outcome_not_found: () => 'That outcome is not part of this market.',
  wager_not_found: () => 'That wager does not exist.',
  market_not_open: () => 'This market is not taking wagers any more.',
  invalid_market_state: (d) =>
    `The market is ${String(d.status ?? 'in another state')}, which does not allow this.`,
  already_settled: () => 'This market is settled already.',
  odds_changed: (d) =>
    `The odds moved from ${formatOdds(num(d.expected_odds), 4)} to ` +
    `${formatOdds(num(d.current_odds), 4)} since your quote. Check the new quote and confirm again.`,
  wager_not_pending: () => 'That wager was approved or rejected already.',
  idempotency_conflict: () => 'This request was already used for something else. Please retry.',
  stake_above_cap: (d) =>
    `This outcome takes at most ${money(d.cap)} right now. Lower your stake.`,
  payout_above_maximum: (d) =>
    `This wager could pay more than the market's limit of ${money(d.max_payout)}. Lower your stake.`,
  self_excluded: (d) =>
    `You have excluded yourself from betting and deposits until ${date(d.until)}.`,
  self_exclusion_locked: (d) =>
    `Your self-exclusion cannot be shortened; it lasts until ${date(d.until)}.`,
  daily_stake_limit_reached: (d) =>
    `This would pass your daily stake limit of ${money(d.limit)} ` +
    `(${money(d.used)} used in the last 24 hours).`,
  deposits_disabled: () =>
    'Deposits are not taken here. Pay in the way the operator offers; it is credited to your wallet.',
  withdrawal_not_found: () => 'That withdrawal does not exist.',
  withdrawal_not_pending: (d) => `That withdrawal was ${String(d.status ?? 'decided')} already.`,
  own_withdrawal: () => 'Another administrator must approve your own withdrawal.',
  daily_deposit_limit_reached: (d) =>
    `This would pass your daily deposit limit of ${money(d.limit)} ` +
    `(${money(d.used)} used in the last 24 hours).`,
  settlement_needs_confirmation: () =>
    'This market needs a settlement proposal confirmed by a second administrator.',
  proposal_exists: () => 'A settlement proposal is already waiting for this market.',
  no_pending_proposal: () => 'There is no pending settlement proposal for this market.',
  same_admin: () => 'Another administrator must confirm your proposal.',
  not_settled: () => 'This market is not settled, so there is nothing to correct.',
  wager_not_voidable: () => 'Only an accepted, unsettled wager can be voided.',
  already_reversed: () => 'This was reversed already.',
  job_not_found: () => 'That job does not exist.',
  job_not_failed: () => 'Only a failed job can be retried.',
  virtual_market: () => 'A virtual market settles itself from its draw.',
  not_virtual: () => 'This market has no draw.',
  game_disabled: (d) =>
    `${gameName(d.game)} is closed at the moment: the house has switched it off. Try another game.`,
  max_profit_exceeded: (d) =>
    `A win would pay ${money(d.profit)} above your stake, more than this game's limit of ` +
    `${money(d.max_profit)}. Lower the stake or the multiplier.`,
  round_in_progress: () =>
    'You have a round of mines open: finish it first (one round at a time, and the seeds cannot change in the middle of one).',
  round_not_found: () => 'That round does not exist, or is not yours.',
  round_closed: (d) =>
    `This round is over already${typeof d.ended === 'string' ? ` (${ROUND_ENDED[d.ended] ?? d.ended})` : ''}.`,
  cell_already_revealed: () => 'You revealed that cell already: pick another one.',
  nothing_to_cash_out: () => 'Reveal a safe cell first: there is nothing to cash out yet.',
  seed_not_found: () => 'No revealed seed pair has this hash (an active pair is revealed only when you rotate it).',
  referral_code_not_found: () => 'No player has this referral code: check it with whoever gave it to you.',
  referrer_refused: (d) => REFERRER_REFUSED[String(d.reason)] ?? 'Your referrer cannot be set.',
  house_history_final: () => 'Something went wrong on our side; nothing was changed. Please report it.',
  ledger_unbalanced: () => 'Something went wrong on our side; nothing was changed. Please report it.',
  ledger_append_only: () => 'Something went wrong on our side; nothing was changed. Please report it.',
}

const AUTH: Record<string, string> = {
  invalid_credentials: 'Wrong email or password.',
  user_already_exists: 'An account with this email exists already. Sign in instead.',
  weak_password: 'Choose a password of at least 8 characters.',
  validation_failed: 'Enter a valid email address and a password.',
  refresh_token_already_used: 'Your session ended. Please sign in again.',
  refresh_token_not_found: 'Your session ended. Please sign in again.',
  bad_jwt: 'Your session ended. Please sign in again.',
  user_not_found: 'Your account could not be found. Please sign in again.',
  over_request_rate_limit: 'Too many attempts. Wait a minute, then try again.',
}

/** "dice" -> "Dice" (a house game's key as its name). */
function gameName(value: unknown): string {
  const text = typeof value === 'string' && value ? value : 'This game'
  return text[0].toUpperCase() + text.slice(1)
}

function num(value: unknown): number | null {
  return typeof value === 'number' ? value : null
}

function parseDetail(details: unknown): Detail {
  if (details && typeof details === 'object') return details as Detail
  if (typeof details !== 'string') return {}
  try {
    const parsed: unknown = JSON.parse(details)
    return parsed && typeof parsed === 'object' ? (parsed as Detail) : {}
  } catch {
    return {}
  }
}

/** A PostgREST error body ({code, message, details, hint}) from an rpc or a read. */
export function fromRest(error: { code?: string; message?: string; details?: unknown }): Refusal {
  const key = error.message ?? ''
  const detail = parseDetail(error.details)
  const explain = ENGINE[key]
  if (error.code?.startsWith('PT') && explain) return { key, text: explain(detail), detail }
  if (error.code === 'PGRST301')
    return { key: 'session', text: 'Your session ended. Please sign in again.', detail }
  if (error.code === '42501')
    return { key: 'forbidden', text: 'Please sign in with an account allowed to do this.', detail }
  if (error.code === '22P02' || error.code === '22003')
    return { key: 'invalid_amount', text: ENGINE.invalid_amount(detail), detail }
  if (!error.code || error.message?.includes('fetch'))
    return { key: 'network', text: 'Cannot reach Wagerbase. Check your connection and try again.', detail }
  return { key: 'unknown', text: 'Something went wrong. Please try again.', detail }
}

/** An auth-js error ({code, message, status}). */
export function fromAuth(error: { code?: string; message?: string }): Refusal {
  const key = error.code ?? 'unknown'
  const text =
    AUTH[key] ??
    (error.message?.includes('fetch')
      ? 'Cannot reach Wagerbase. Check your connection and try again.'
      : 'Something went wrong. Please try again.')
  return { key, text, detail: {} }
}
