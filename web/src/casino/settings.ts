// The house games' settings as everyone reads them (the `house_games` view): enabled, edge, max
// profit. Read again when `revision` moves (after a play, an admin's change).
import { rows, useLoad, type Loaded } from '../load'
import { supabase } from '../supabase'
import type { HouseGameSettings } from './types'

export function useHouseGames(revision: unknown = 0): Loaded<HouseGameSettings[]> {
  return useLoad(() => rows<HouseGameSettings>(supabase().from('house_games').select('*').order('game')), [revision])
}
