// Sign in, register, or continue as a guest (BetMarket 4.1).
import { useState, type FormEvent } from 'react'
import { fromAuth } from '../errors'
import { continueAsGuest } from '../session'
import { supabase } from '../supabase'

type Mode = 'signin' | 'signup'

export function AuthScreen() {
  const [mode, setMode] = useState<Mode>('signin')
  const [email, setEmail] = useState('')
  const [password, setPassword] = useState('')
  const [confirm, setConfirm] = useState('')
  const [busy, setBusy] = useState(false)
  const [error, setError] = useState<string | null>(null)

  async function submit(event: FormEvent) {
    event.preventDefault()
    setError(null)
    if (mode === 'signup' && password !== confirm) {
      setError('The two passwords differ.')
      return
    }
    setBusy(true)
    const auth = supabase().auth
    const { error: failed } =
      mode === 'signin'
        ? await auth.signInWithPassword({ email: email.trim(), password })
        : await auth.signUp({ email: email.trim(), password })
    setBusy(false)
    if (failed) setError(fromAuth(failed).text)
  }

  return (
    <main className="auth">
      <div className="auth-card">
        <h1 className="brand-big">Wagerbase</h1>
        <p className="tagline">Live odds that move with the money</p>
        <div className="tabs" role="tablist">
          <button
            role="tab"
            aria-selected={mode === 'signin'}
            className={mode === 'signin' ? 'tab active' : 'tab'}
            onClick={() => setMode('signin')}
          >
            Sign in
          </button>
          <button
            role="tab"
            aria-selected={mode === 'signup'}
            className={mode === 'signup' ? 'tab active' : 'tab'}
            onClick={() => setMode('signup')}
          >
            Register
          </button>
        </div>
        <form onSubmit={submit} className="stack">
          <label>
            Email
            <input
              type="email"
              name="email"
              autoComplete="username"
              required
              value={email}
              onChange={(e) => setEmail(e.target.value)}
              placeholder="you@example.com"
            />
          </label>
          <label>
            Password
            <input
              type="password"
              name="password"
              autoComplete={mode === 'signin' ? 'current-password' : 'new-password'}
              required
              minLength={mode === 'signup' ? 8 : undefined}
              value={password}
              onChange={(e) => setPassword(e.target.value)}
              placeholder={mode === 'signin' ? 'Your password' : 'At least 8 characters'}
            />
          </label>
          {mode === 'signup' && (
            <label>
              Confirm password
              <input
                type="password"
                name="confirm"
                autoComplete="new-password"
                required
                value={confirm}
                onChange={(e) => setConfirm(e.target.value)}
                placeholder="The same password again"
              />
            </label>
          )}
          {error && (
            <p className="error" role="alert">
              {error}
            </p>
          )}
          <button type="submit" className="primary" disabled={busy}>
            {mode === 'signin' ? 'Sign in' : 'Create account'}
          </button>
        </form>
        <div className="or">
          <span>or</span>
        </div>
        <button className="secondary wide" onClick={continueAsGuest}>
          Continue as guest
        </button>
      </div>
    </main>
  )
}
