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
  isAdmin: boolean
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

  const role = (session?.user.app_metadata as { role?: string } | undefined)?.role
  return { ready, session, guest: guest && !session, isAdmin: role === 'admin' }
}
