// The one Supabase client of the page, talking to the Wagerbase API that served it (same origin).
// The anon key comes from the server at run time (GET /config.json), never from the build, with the
// server's row cap: the most rows one read answers, by which the app pages what it reads.
import { createClient, type SupabaseClient } from '@supabase/supabase-js'

interface WebConfig {
  anonKey: string
  maxRows?: number
}

let client: SupabaseClient | null = null
let rowCap = 1000 // the server's default (WAGERBASE_MAX_ROWS), until /config.json says

export async function connect(): Promise<SupabaseClient> {
  const response = await fetch('/config.json', { cache: 'no-store' })
  if (!response.ok) throw new Error(`GET /config.json answered ${response.status}`)
  const config = (await response.json()) as WebConfig
  if (config.maxRows && config.maxRows > 0) rowCap = config.maxRows
  client = createClient(window.location.origin, config.anonKey, {
    auth: { persistSession: true, autoRefreshToken: true, storageKey: 'wagerbase.auth' },
  })
  return client
}

/** The most rows the server answers in one read: a page of what the app reads. */
export function maxRows(): number {
  return rowCap
}

export function supabase(): SupabaseClient {
  if (!client) throw new Error('connect() first')
  return client
}
