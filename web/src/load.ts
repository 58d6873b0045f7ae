// Calling the engine from screens: an RPC that answers its data or a Refusal in words, and a hook
// that loads something again whenever one of its keys changes (a live revision, an id).
import { useEffect, useState } from 'react'
import { fromRest, type Refusal } from './errors'
import { maxRows, supabase } from './supabase'

export type Answer<T> = { ok: true; data: T } | { ok: false; refusal: Refusal }

/** A public RPC; the refusal, if any, already explained. */
export async function call<T>(fn: string, args: Record<string, unknown> = {}): Promise<Answer<T>> {
  const { data, error } = await supabase().rpc(fn, args)
  if (error) return { ok: false, refusal: fromRest(error) }
  return { ok: true, data: data as T }
}

export interface Loaded<T> {
  data: T | null // the latest answer; kept while the next one is read, and when it fails
  error: string | null // why the latest read failed, in words; null once one succeeds
  loading: boolean // nothing answered yet: a first read is out
}

const NOTHING: Loaded<never> = { data: null, error: null, loading: false }

/** The one way a screen reads something: run `load` now and again whenever a key changes (a live
 *  revision, an id, a filter); a late answer to an older question, or one that comes after the
 *  screen is gone, is dropped. `load` null reads nothing (nobody signed in, say) and forgets what
 *  was read. */
export function useLoad<T>(load: (() => Promise<Answer<T>>) | null, keys: unknown[]): Loaded<T> {
  const [state, setState] = useState<Loaded<T>>(load === null ? NOTHING : { ...NOTHING, loading: true })
  useEffect(() => {
    if (load === null) {
      setState(NOTHING)
      return
    }
    let current = true
    setState((before) => (before.data === null && !before.loading ? { ...before, loading: true } : before))
    const settle = (answer: Answer<T>) => {
      if (!current) return
      setState((before) =>
        answer.ok
          ? { data: answer.data, error: null, loading: false }
          : { data: before.data, error: answer.refusal.text, loading: false },
      )
    }
    load().then(settle, (failure: unknown) =>
      settle({ ok: false, refusal: fromRest({ message: failure instanceof Error ? failure.message : String(failure) }) }),
    )
    return () => {
      current = false
    }
  }, [load === null, ...keys])
  return state
}

/** A read of a view as an Answer (the rows, or the refusal). */
export async function rows<T>(
  query: PromiseLike<{ data: unknown; error: { code?: string; message?: string; details?: unknown } | null }>,
): Promise<Answer<T[]>> {
  const { data, error } = await query
  if (error) return { ok: false, refusal: fromRest(error) }
  return { ok: true, data: (data ?? []) as T[] }
}

type Read = PromiseLike<{ data: unknown; error: { code?: string; message?: string; details?: unknown } | null }>

/** Every row of a read, a page at a time: `page(from, to)` asks for rows from..to (as `.range()`),
 *  a page being what the server answers at most (its row cap); a page that is not full is the last. */
export async function everyRow<T>(page: (from: number, to: number) => Read): Promise<Answer<T[]>> {
  const size = maxRows()
  const found: T[] = []
  for (;;) {
    const answer = await rows<T>(page(found.length, found.length + size - 1))
    if (!answer.ok) return answer
    found.push(...answer.data)
    if (answer.data.length < size) return { ok: true, data: found }
  }
}
