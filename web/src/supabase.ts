// The one Supabase client of the page, talking to the Wagerbase API that served it (same origin).
// The anon key comes from the server at run time (GET /config.json), never from the build.
import { createClient, type SupabaseClient } from '@supabase/supabase-js'

interface WebConfig {
  anonKey: string
}

let client: SupabaseClient | null = null

export async function connect(): Promise<SupabaseClient> {
  const response = await fetch('/config.json', { cache: 'no-store' })
  if (!response.ok) throw new Error(`GET /config.json answered ${response.status}`)
  const config = (await response.json()) as WebConfig
  client = createClient(window.location.origin, config.anonKey, {
    auth: { persistSession: true, autoRefreshToken: true, storageKey: 'wagerbase.auth' },
  })
  return client
}

export function supabase(): SupabaseClient {
  if (!client) throw new Error('connect() first')
  return client
}
