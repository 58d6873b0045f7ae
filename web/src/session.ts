// Who is using the page: a signed-in user (kept across reloads by supabase-js in localStorage),
// a guest who chose to look around, or nobody yet.
import type { Session } from '@supabase/supabase-js'
import { useEffect, useState } from 'react'
import { supabase } from './supabase'

const GUEST = 'wagerbase.guest'

export interface Who {
  ready: boolean // the stored session was read
  session: Session | null
  guest: boolean
  isAdmin: boolean // the engine's answer (acts_as_admin), asked again whenever the session changes
}

export function continueAsGuest(): void {
  localStorage.setItem(GUEST, '1')
  window.dispatchEvent(new Event('wagerbase-guest'))
}

export async function signOut(): Promise<void> {
  localStorage.removeItem(GUEST)
  await supabase().auth.signOut()
  window.dispatchEvent(new Event('wagerbase-guest'))
}

export function useWho(): Who {
  const [session, setSession] = useState<Session | null>(null)
  const [ready, setReady] = useState(false)
  const [guest, setGuest] = useState(() => localStorage.getItem(GUEST) === '1')

  useEffect(() => {
    const auth = supabase().auth
    void auth.getSession().then(({ data }) => {
      setSession(data.session)
      setReady(true)
    })
    const { data } = auth.onAuthStateChange((_event, next) => {
      setSession(next)
      if (next) localStorage.removeItem(GUEST)
    })
    const onGuest = () => setGuest(localStorage.getItem(GUEST) === '1')
    window.addEventListener('wagerbase-guest', onGuest)
    return () => {
      data.subscription.unsubscribe()
      window.removeEventListener('wagerbase-guest', onGuest)
    }
  }, [])

  const isAdmin = useActsAsAdmin(session)
  return { ready, session, guest: guest && !session, isAdmin }
}

/** Whether the signed-in user acts as an admin now, as the engine decides it for every admin
 *  call (public.acts_as_admin: the token's claim alone is not enough). Asked again with each new
 *  token (a refresh keeps the last answer for the same user meanwhile); false until it answers. */
function useActsAsAdmin(session: Session | null): boolean {
  const [answer, setAnswer] = useState<{ user: string; admin: boolean } | null>(null)
  const token = session?.access_token ?? null
  const user = session?.user.id ?? null
  useEffect(() => {
    if (token === null || user === null) return
    let current = true
    void supabase()
      .rpc('acts_as_admin')
      .then(({ data, error }) => {
        if (current) setAnswer({ user, admin: !error && data === true })
      })
    return () => {
      current = false
    }
  }, [token, user])
  return user !== null && answer?.user === user && answer.admin
}
