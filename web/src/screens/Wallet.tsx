// The wallet (BetMarket 4.5): the live balance, deposit and withdraw, the ledger history. Under
// the real-money profile (the `settings` view, settings.ts) the deposit form gives way to a note
// (money comes in through the operator), and a withdrawal waits for an admin: the withdrawals and
// their fate are listed live (`my_withdrawals`).
import { useState, type FormEvent } from 'react'
import { fromRest } from '../errors'
import { rows, useLoad } from '../load'
import { applyWallet, useMe } from '../me'
import { formatMinor, parseMinor } from '../money'
import { useMoneySettings } from '../settings'
import { supabase } from '../supabase'
import { Table } from '../Table'
import { ResponsiblePlay } from './Limits'

interface Entry {
  id: number
  kind: string
  market_id: number | null
  amount: number
  balance_after: number
  created_at: string
}

const KINDS: Record<string, string> = {
  grant: 'Welcome credit',
  deposit: 'Deposit',
  withdrawal: 'Withdrawal',
  stake: 'Stake',
  refund: 'Refund',
  settlement: 'Winnings',
  void: 'Refund (called off)',
  unsettlement: 'Settlement reversed',
  wager_void: 'Refund (wager voided)',
  debt_repayment: 'Debt repayment',
  withdrawal_request: 'Withdrawal requested',
  withdrawal_rejection: 'Withdrawal refused, refunded',
  rakeback: 'Rakeback',
  affiliate_commission: 'Referral commission',
}

interface Withdrawal {
  id: number
  amount: number
  status: 'pending' | 'approved' | 'rejected'
  reason: string | null
  requested_at: string
  decided_at: string | null
}

const FATES: Record<Withdrawal['status'], string> = {
  pending: 'Waiting for approval',
  approved: 'Approved, paid out',
  rejected: 'Refused, refunded',
}

function Transfer({ kind }: { kind: 'deposit' | 'withdraw' }) {
  const [text, setText] = useState('')
  const [busy, setBusy] = useState(false)
  const [message, setMessage] = useState<{ ok: boolean; text: string } | null>(null)

  async function submit(event: FormEvent) {
    event.preventDefault()
    const amount = parseMinor(text)
    if (amount === null || amount <= 0) {
      setMessage({ ok: false, text: 'Enter an amount like 50 or 12.50.' })
      return
    }
    setBusy(true)
    const { data, error } = await supabase().rpc(kind, {
      amount,
      idempotency_key: crypto.randomUUID(),
    })
    setBusy(false)
    if (error) {
      setMessage({ ok: false, text: fromRest(error).text })
      return
    }
    const answer = data as { balance: number; version: number; status?: string }
    applyWallet(answer)
    const done = kind === 'deposit' ? 'Deposited' : 'Withdrew'
    setMessage({
      ok: true,
      text:
        answer.status === 'pending'
          ? `Withdrawal of ${formatMinor(amount)} requested: it waits for approval.`
          : `${done} ${formatMinor(amount)}.`,
    })
    setText('')
  }

  const title = kind === 'deposit' ? 'Deposit' : 'Withdraw'
  return (
    <form className="card stack" onSubmit={submit} aria-label={title}>
      <h2>{title}</h2>
      <label>
        Amount
        <input
          name={`${kind}-amount`}
          inputMode="decimal"
          autoComplete="off"
          placeholder="50.00"
          value={text}
          onChange={(e) => {
            setText(e.target.value)
            setMessage(null)
          }}
        />
      </label>
      {message && (
        <p className={message.ok ? 'success' : 'error'} role={message.ok ? 'status' : 'alert'}>
          {message.text}
        </p>
      )}
      <button type="submit" className={kind === 'deposit' ? 'primary' : 'secondary'} disabled={busy}>
        {title}
      </button>
    </form>
  )
}

function Ledger() {
  const { userId, ledgerRevision } = useMe()
  const { data, error, loading } = useLoad(
    userId
      ? () =>
          rows<Entry>(
            supabase()
              .from('my_ledger')
              .select('id,kind,market_id,amount,balance_after,created_at')
              .order('id', { ascending: false })
              .limit(100),
          )
      : null,
    [userId, ledgerRevision],
  )
  return (
    <section className="card" aria-labelledby="ledger-title">
      <h2 id="ledger-title">History</h2>
      {error && <p className="error">{error}</p>}
      <Table
        className="ledger"
        rows={data ?? []}
        loading={loading}
        rowKey={(e) => e.id}
        empty="Nothing yet."
        columns={[
          { header: 'When', cell: (e) => new Date(e.created_at).toLocaleString() },
          {
            header: 'What',
            cell: (e) => (
              <>
                {KINDS[e.kind] ?? e.kind}
                {e.market_id !== null && <span className="muted"> · market {e.market_id}</span>}
              </>
            ),
          },
          {
            header: 'Amount',
            numeric: true,
            cell: (e) => `${e.amount > 0 ? '+' : ''}${formatMinor(e.amount)}`,
            cellProps: (e) => ({ className: e.amount < 0 ? 'minus' : 'plus' }),
          },
          { header: 'Balance', numeric: true, cell: (e) => formatMinor(e.balance_after) },
        ]}
      />
    </section>
  )
}

/** Where the deposit form stands when bettors may not deposit. */
function NoDeposits() {
  return (
    <section className="card stack" aria-labelledby="no-deposit-title" data-testid="no-deposits">
      <h2 id="no-deposit-title">Deposit</h2>
      <p className="muted">
        Deposits are not taken here. Pay in the way the operator offers; the money is credited to
        this wallet and shows up in the history below.
      </p>
    </section>
  )
}

function Withdrawals() {
  const { userId, withdrawalsRevision } = useMe()
  const { data } = useLoad(
    () =>
      rows<Withdrawal>(
        supabase()
          .from('my_withdrawals')
          .select('id,amount,status,reason,requested_at,decided_at')
          .order('id', { ascending: false })
          .limit(50),
      ),
    [userId, withdrawalsRevision],
  )
  if (!data || data.length === 0) return null
  return (
    <section className="card" aria-labelledby="withdrawals-title">
      <h2 id="withdrawals-title">Withdrawals</h2>
      <Table
        className="withdrawals"
        rows={data}
        rowKey={(w) => w.id}
        rowProps={(w) => ({ 'data-withdrawal-id': w.id, 'data-status': w.status })}
        empty="None yet."
        columns={[
          { header: 'Asked', cell: (w) => new Date(w.requested_at).toLocaleString() },
          { header: 'Amount', numeric: true, cell: (w) => formatMinor(w.amount) },
          {
            header: 'Status',
            cell: (w) => (
              <>
                {FATES[w.status]}
                {w.reason && <span className="muted"> · {w.reason}</span>}
              </>
            ),
          },
        ]}
      />
    </section>
  )
}

export function Wallet() {
  const { balance } = useMe()
  const settings = useMoneySettings()
  return (
    <main className="page">
      <h1>Wallet</h1>
      <div className="card balance-card">
        <span className="muted">Balance</span>
        <strong data-testid="wallet-balance">{formatMinor(balance)}</strong>
      </div>
      <div className="two">
        {/* until the settings are read, the form (the engine refuses a deposit it does not take) */}
        {settings?.self_service_deposits === false ? <NoDeposits /> : <Transfer kind="deposit" />}
        <Transfer kind="withdraw" />
      </div>
      {settings?.withdrawals_require_approval && (
        <p className="muted">Withdrawals are reviewed by the operator before they are paid out.</p>
      )}
      <Withdrawals />
      <Ledger />
      <ResponsiblePlay />
    </main>
  )
}
