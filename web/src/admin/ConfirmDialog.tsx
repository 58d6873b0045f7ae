// A modal confirmation (the native <dialog>: focus is trapped and Escape cancels) that names what
// the action will do before it is done, and may ask for a reason the engine records.
import { useEffect, useRef, useState, type FormEvent, type ReactNode } from 'react'

interface Props {
  title: string
  consequences: ReactNode[]
  confirmLabel: string
  reason?: { label: string; required: boolean }
  danger?: boolean
  onConfirm: (reason: string) => Promise<string | null> // an error to show, or null when done
  onClose: () => void
}

export function ConfirmDialog({ title, consequences, confirmLabel, reason, danger, onConfirm, onClose }: Props) {
  const ref = useRef<HTMLDialogElement>(null)
  const [text, setText] = useState('')
  const [busy, setBusy] = useState(false)
  const [error, setError] = useState<string | null>(null)

  useEffect(() => {
    const dialog = ref.current
    if (dialog && !dialog.open) dialog.showModal()
  }, [])

  async function submit(event: FormEvent) {
    event.preventDefault()
    if (reason?.required && text.trim() === '') {
      setError('Give a reason: it is kept in the audit log.')
      return
    }
    setBusy(true)
    setError(null)
    const failed = await onConfirm(text.trim())
    setBusy(false)
    if (failed) setError(failed)
    else onClose()
  }

  return (
    <dialog ref={ref} className="dialog" aria-labelledby="dialog-title" onClose={onClose}>
      <form method="dialog" onSubmit={submit} className="stack">
        <h2 id="dialog-title">{title}</h2>
        <p className="muted">This will:</p>
        <ul className="consequences" data-testid="consequences">
          {consequences.map((line, index) => (
            <li key={index}>{line}</li>
          ))}
        </ul>
        {reason && (
          <label>
            {reason.label}
            <textarea
              name="reason"
              rows={2}
              value={text}
              aria-required={reason.required}
              maxLength={500}
              onChange={(e) => setText(e.target.value)}
            />
          </label>
        )}
        {error && (
          <p className="error" role="alert">
            {error}
          </p>
        )}
        <div className="actions">
          <button type="button" className="secondary" onClick={() => ref.current?.close()}>
            Cancel
          </button>
          <button type="submit" className={danger ? 'danger' : 'primary'} disabled={busy}>
            {busy ? 'Working…' : confirmLabel}
          </button>
        </div>
      </form>
    </dialog>
  )
}
