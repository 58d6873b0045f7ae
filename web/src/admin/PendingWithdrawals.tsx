// Withdrawals waiting for an admin (admin_list_pending_withdrawals; the real-money profile,
// docs/operations.md), approved or rejected with a reason from here. The list reloads on every
// admin message, `withdrawal_pending` and `withdrawal_decided` included, so a new one shows up live.
import { useState } from 'react'
import { call, useLoad } from '../load'
import { formatMinor } from '../money'
import { Table } from '../Table'
import { useAdminRevision } from './live'

interface PendingWithdrawal {
  withdrawal_id: number
  user_id: string
  username: string | null
  email: string | null
  amount: number
  wallet_balance: number | null
  requested_at: string
}

export function PendingWithdrawals() {
  const revision = useAdminRevision()
  const { data, error, loading } = useLoad(
    () => call<PendingWithdrawal[]>('admin_list_pending_withdrawals'),
    [revision],
  )
  const [done, setDone] = useState<Record<number, string>>({})
  const [reason, setReason] = useState('')
  const [failure, setFailure] = useState<string | null>(null)

  async function decide(withdrawal: PendingWithdrawal, approve: boolean) {
    setFailure(null)
    const id = withdrawal.withdrawal_id
    const answer = approve
      ? await call('approve_withdrawal', { withdrawal_id: id })
      : await call('reject_withdrawal', { withdrawal_id: id, reason: reason.trim() || 'refused by an admin' })
    if (!answer.ok) setFailure(`Withdrawal ${id}: ${answer.refusal.text}`)
    else setDone({ ...done, [id]: approve ? 'approved' : 'rejected' })
  }

  const pending = data ?? []
  return (
    <section className="card" aria-labelledby="pending-withdrawals-title">
      <h2 id="pending-withdrawals-title">
        Withdrawals waiting{' '}
        <span className="badge" data-testid="pending-withdrawals-count">
          {pending.length}
        </span>
      </h2>
      {error && <p className="error">{error}</p>}
      {failure && (
        <p className="error" role="alert">
          {failure}
        </p>
      )}
      {pending.length > 0 && (
        <label>
          Reason given when refusing
          <input
            name="withdrawal-reason"
            autoComplete="off"
            placeholder="refused by an admin"
            value={reason}
            onChange={(e) => setReason(e.target.value)}
          />
        </label>
      )}
      <Table
        className="pending-withdrawals"
        rows={pending}
        rowKey={(w) => w.withdrawal_id}
        rowProps={(w) => ({ 'data-withdrawal-id': w.withdrawal_id })}
        empty="No withdrawal is waiting."
        loading={loading}
        columns={[
          { header: 'Withdrawal', cell: (w) => `#${w.withdrawal_id}` },
          { header: 'Bettor', cell: (w) => w.username ?? w.email ?? w.user_id.slice(0, 8) },
          { header: 'Amount', numeric: true, cell: (w) => formatMinor(w.amount) },
          { header: 'Wallet now', numeric: true, cell: (w) => formatMinor(w.wallet_balance) },
          { header: 'Asked', cell: (w) => new Date(w.requested_at).toLocaleString() },
          {
            header: 'Decide',
            cellProps: () => ({ className: 'row-actions' }),
            cell: (w) =>
              done[w.withdrawal_id] ? (
                <span className="muted">{done[w.withdrawal_id]}…</span>
              ) : (
                <>
                  <button
                    type="button"
                    className="primary small"
                    aria-label={`Approve withdrawal ${w.withdrawal_id}`}
                    onClick={() => void decide(w, true)}
                  >
                    Approve
                  </button>
                  <button
                    type="button"
                    className="secondary small"
                    aria-label={`Refuse withdrawal ${w.withdrawal_id}`}
                    onClick={() => void decide(w, false)}
                  >
                    Refuse
                  </button>
                </>
              ),
          },
        ]}
      />
    </section>
  )
}
