// Credit a wallet from the outside world (credit_wallet; docs/operations.md): a bank transfer or
// any payment the operator received, by the bettor's user id, with a reference. Each form sends one
// idempotency key, kept until the credit is acknowledged, so a click sent twice credits once.
import { useState, type FormEvent } from 'react'
import { call } from '../load'
import { formatMinor, parseMinor } from '../money'

export function CreditWallet() {
  const [userId, setUserId] = useState('')
  const [amountText, setAmountText] = useState('')
  const [reference, setReference] = useState('')
  const [key, setKey] = useState(() => crypto.randomUUID())
  const [busy, setBusy] = useState(false)
  const [message, setMessage] = useState<{ ok: boolean; text: string } | null>(null)

  async function submit(event: FormEvent) {
    event.preventDefault()
    const amount = parseMinor(amountText)
    if (amount === null || amount <= 0) {
      setMessage({ ok: false, text: 'Enter an amount like 50 or 12.50.' })
      return
    }
    setBusy(true)
    const answer = await call<{ balance: number; replayed: boolean }>('credit_wallet', {
      user_id: userId.trim(),
      amount,
      reference,
      idempotency_key: key,
    })
    setBusy(false)
    if (!answer.ok) {
      setMessage({ ok: false, text: answer.refusal.text })
      return
    }
    setMessage({
      ok: true,
      text: `Credited ${formatMinor(amount)}; the wallet holds ${formatMinor(answer.data.balance)}.`,
    })
    setKey(crypto.randomUUID())
    setAmountText('')
    setReference('')
  }

  return (
    <form className="card stack" onSubmit={submit} aria-label="Credit a wallet">
      <h2>Credit a wallet</h2>
      <p className="muted">Money received from outside (a bank transfer, a payment) into a bettor's wallet.</p>
      <label>
        Bettor's user id
        <input name="credit-user" autoComplete="off" value={userId} onChange={(e) => setUserId(e.target.value)} />
      </label>
      <label>
        Amount
        <input
          name="credit-amount"
          inputMode="decimal"
          autoComplete="off"
          placeholder="50.00"
          value={amountText}
          onChange={(e) => setAmountText(e.target.value)}
        />
      </label>
      <label>
        Reference
        <input
          name="credit-reference"
          autoComplete="off"
          placeholder="bank transfer 2026-12-01"
          value={reference}
          onChange={(e) => setReference(e.target.value)}
        />
      </label>
      {message && (
        <p className={message.ok ? 'success' : 'error'} role={message.ok ? 'status' : 'alert'}>
          {message.text}
        </p>
      )}
      <button type="submit" className="primary" disabled={busy}>
        Credit
      </button>
    </form>
  )
}
