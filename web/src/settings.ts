// The engine's settings that change what the wallet offers (docs/operations.md, "Play money or
// real money"), read from the `settings` view: whether bettors may deposit, and whether a
// withdrawal waits for an admin. Read once per screen that needs them; null until read.
import { rows, useLoad } from './load'
import { supabase } from './supabase'

export interface MoneySettings {
  self_service_deposits: boolean
  withdrawals_require_approval: boolean
  initial_balance: number
}

export function useMoneySettings(): MoneySettings | null {
  const { data } = useLoad(
    () =>
      rows<MoneySettings>(
        supabase()
          .from('settings')
          .select('self_service_deposits,withdrawals_require_approval,initial_balance'),
      ),
    [],
  )
  return data?.[0] ?? null
}
