// The wallet (BetMarket 4.5): the live balance, deposit and withdraw, the ledger history.
import { useEffect, useState, type FormEvent } from 'react'
import { fromRest } from '../errors'
import { applyWallet, useMe } from '../me'
import { formatMinor, parseMinor } from '../money'
import { supabase } from '../supabase'
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
    applyWallet(data as { balance: number; version: number })
    setMessage({
      ok: true,
      text: `${kind === 'deposit' ? 'Deposited' : 'Withdrew'} ${formatMinor(amount)}.`,
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
  const [entries, setEntries] = useState<Entry[]>([])
  useEffect(() => {
    if (!userId) return
    let current = true
    void supabase()
      .from('my_ledger')
      .select('id,kind,market_id,amount,balance_after,created_at')
      .order('id', { ascending: false })
      .limit(100)
      .then(({ data, error }) => {
        if (current && !error) setEntries(data as unknown as Entry[])
      })
    return () => {
      current = false
    }
  }, [userId, ledgerRevision])
  return (
    <section className="card" aria-labelledby="ledger-title">
      <h2 id="ledger-title">History</h2>
      <div className="table-wrap">
        <table className="ledger">
          <thead>
            <tr>
              <th scope="col">When</th>
              <th scope="col">What</th>
              <th scope="col" className="num">Amount</th>
              <th scope="col" className="num">Balance</th>
            </tr>
          </thead>
          <tbody>
            {entries.map((e) => (
              <tr key={e.id}>
                <td>{new Date(e.created_at).toLocaleString()}</td>
                <td>
                  {KINDS[e.kind] ?? e.kind}
                  {e.market_id !== null && <span className="muted"> · market {e.market_id}</span>}
                </td>
                <td className={`num ${e.amount < 0 ? 'minus' : 'plus'}`}>
                  {e.amount > 0 ? '+' : ''}
                  {formatMinor(e.amount)}
                </td>
                <td className="num">{formatMinor(e.balance_after)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </section>
  )
}

export function Wallet() {
  const { balance } = useMe()
  return (
    <main className="page">
      <h1>Wallet</h1>
      <div className="card balance-card">
        <span className="muted">Balance</span>
        <strong data-testid="wallet-balance">{formatMinor(balance)}</strong>
      </div>
      <div className="two">
        <Transfer kind="deposit" />
        <Transfer kind="withdraw" />
      </div>
      <Ledger />
      <ResponsiblePlay />
    </main>
  )
}
