// The live bets feed (the `live_bets` view): the newest settled house bets of every player, by
// public name, newest first. Bounded: at most FEED_ROWS rows, read again every REFRESH_MS and on
// the player's own balance moves.
import { rows, useLoad } from '../load'
import { useMe } from '../me'
import { formatMinor } from '../money'
import { supabase } from '../supabase'
import { Table } from '../Table'
import { gameOf, MINES } from './registry'
import { useTick, type LiveBet } from './rewards'

export const FEED_ROWS = 20

export function LiveBets() {
  const { version } = useMe()
  const tick = useTick()
  const feed = useLoad(
    () => rows<LiveBet>(supabase().from('live_bets').select('*').order('settled_at', { ascending: false }).limit(FEED_ROWS)),
    [version, tick],
  )
  return (
    <section className="card stack" aria-labelledby="live-bets-title">
      <h2 id="live-bets-title">Live bets</h2>
      {feed.error && <p className="error">{feed.error}</p>}
      <Table
        columns={[
          { header: 'Player', cell: (b) => b.player },
          { header: 'Game', cell: (b) => gameOf(b.game)?.name ?? (b.game === MINES.key ? MINES.name : b.game) },
          { header: 'Stake', numeric: true, cell: (b) => formatMinor(b.stake) },
          { header: 'Multiplier', numeric: true, cell: (b) => `${(b.multiplier ?? 0).toFixed(2)}x` },
          { header: 'Payout', numeric: true, cell: (b) => formatMinor(b.payout) },
        ]}
        rows={feed.data ?? []}
        rowKey={(b) => b.bet_id}
        rowProps={(b) => ({ 'data-live-bet': b.bet_id })}
        loading={feed.loading}
        empty="No bets yet."
      />
    </section>
  )
}
