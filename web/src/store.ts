// The one way the app keeps state that lives outside the screens (the board, the user's money,
// the admin feed): a value replaced whole, never changed in place, that components follow through
// useSyncExternalStore. A replacement equal to the value held (Object.is) wakes nobody.
import { useSyncExternalStore } from 'react'

export interface Store<T> {
  get(): T
  /** replace the value, or make the next one from it */
  set(next: T | ((before: T) => T)): void
  /** a part of the value, kept up to date in a component; `pick` answers the same part (===)
   *  while it has not changed */
  use<S>(pick: (state: T) => S): S
}

export function store<T>(initial: T): Store<T> {
  let state = initial
  const listeners = new Set<() => void>()
  const subscribe = (listener: () => void) => {
    listeners.add(listener)
    return () => {
      listeners.delete(listener)
    }
  }
  return {
    get: () => state,
    set(next) {
      const value = typeof next === 'function' ? (next as (before: T) => T)(state) : next
      if (Object.is(value, state)) return
      state = value
      listeners.forEach((listener) => listener())
    },
    use: (pick) => useSyncExternalStore(subscribe, () => pick(state)),
  }
}
