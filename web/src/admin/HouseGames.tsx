// Admin/Casino: each house game's settings (update_house_game: on or off, the house edge as a
// percentage, 1.00 = 100 basis points, with the RTP it gives, and the max profit of one bet) and
// the gross gaming revenue per game (the house_game_results view: settled bets, stakes, payouts,
// stakes - payouts, summed by the database), read again when the house moves.
import { useState, type FormEvent } from 'react'
import { gameOf } from '../casino/registry'
import { useHouseGames } from '../casino/settings'
import type { HouseGameSettings } from '../casino/types'
import { call, rows, useLoad } from '../load'
import { formatMinor, minorToInput, parseMinor } from '../money'
import { supabase } from '../supabase'
import { Table } from '../Table'
import { AdminPage } from './AdminNav'
import { useHouseRevision } from './live'

interface GameResult {
  game: string
  bets: number
  wins: number
  staked: number
  paid: number
  ggr: number
}

const nameOf = (key: string) => gameOf(key)?.name ?? key
/** basis points as a percentage: 100 -> "1.00" (read back with parseMinor: hundredths of a percent) */
const percent = (bps: number) => minorToInput(bps)
/** the return to player of an edge: 100 bps -> "99.00%"; roulette's is its wheel's, 36/37 */
const rtp = (g: HouseGameSettings) => (g.house_edge_bps === null ? '97.30% (the zero)' : `${percent(10000 - g.house_edge_bps)}%`)

function GameSettings({ game, onSaved }: { game: HouseGameSettings; onSaved: () => void }) {
  const [enabled, setEnabled] = useState(game.enabled)
  const [edge, setEdge] = useState(game.house_edge_bps === null ? '' : percent(game.house_edge_bps))
  const [maxProfit, setMaxProfit] = useState(minorToInput(game.max_profit))
  const [message, setMessage] = useState<{ ok: boolean; text: string } | null>(null)

  async function save(event: FormEvent) {
    event.preventDefault()
    const settings: Record<string, unknown> = {}
    if (enabled !== game.enabled) settings.enabled = enabled
    if (game.house_edge_bps !== null) {
      const bps = parseMinor(edge)
      if (bps === null) return setMessage({ ok: false, text: 'Enter the house edge as a percentage, e.g. 1.00.' })
      if (bps !== game.house_edge_bps) settings.house_edge_bps = bps
    }
    const profit = parseMinor(maxProfit)
    if (profit === null) return setMessage({ ok: false, text: 'Enter the max profit as an amount.' })
    if (profit !== game.max_profit) settings.max_profit = profit
    if (Object.keys(settings).length === 0) return setMessage({ ok: true, text: 'Nothing changed.' })
    const answer = await call<HouseGameSettings>('update_house_game', { game: game.game, settings })
    if (!answer.ok) return setMessage({ ok: false, text: answer.refusal.text })
    setMessage({ ok: true, text: `${nameOf(game.game)} saved.` })
    onSaved()
  }

  return (
    <form className="card stack" onSubmit={(e) => void save(e)} aria-label={`${nameOf(game.game)} settings`} data-game={game.game}>
      <h3>{nameOf(game.game)}</h3>
      <p className="muted" data-testid="game-state">
        {game.enabled ? 'On' : 'Switched off'} · RTP {rtp(game)} · max profit {formatMinor(game.max_profit)}
      </p>
      <label className="check">
        <input type="checkbox" checked={enabled} onChange={(e) => setEnabled(e.target.checked)} /> Enabled
      </label>
      {game.house_edge_bps !== null && (
        <label>
          House edge (%)
          <input inputMode="decimal" value={edge} onChange={(e) => setEdge(e.target.value)} />
        </label>
      )}
      <label>
        Max profit per bet
        <input inputMode="decimal" value={maxProfit} onChange={(e) => setMaxProfit(e.target.value)} />
      </label>
      <button type="submit" className="primary">
        Save
      </button>
      {message && (
        <p role="status" className={message.ok ? 'success' : 'error'}>
          {message.text}
        </p>
      )}
    </form>
  )
}

export function HouseGames({ isAdmin }: { isAdmin: boolean }) {
  const [saved, setSaved] = useState(0)
  const houseRevision = useHouseRevision()
  const games = useHouseGames(saved)
  const results = useLoad(
    isAdmin ? () => rows<GameResult>(supabase().from('house_game_results').select('*').order('game')) : null,
    [houseRevision, saved],
  )
  return (
    <AdminPage isAdmin={isAdmin} title="Casino">
      <section className="stack" aria-labelledby="ggr-title">
        <h2 id="ggr-title">Gross gaming revenue by game</h2>
        {results.error && <p className="error">{results.error}</p>}
        <Table
          columns={[
            { header: 'Game', cell: (r) => nameOf(r.game) },
            { header: 'Bets', numeric: true, cell: (r) => r.bets },
            { header: 'Wins', numeric: true, cell: (r) => r.wins },
            { header: 'Staked', numeric: true, cell: (r) => formatMinor(r.staked) },
            { header: 'Paid', numeric: true, cell: (r) => formatMinor(r.paid) },
            {
              header: 'GGR',
              numeric: true,
              cell: (r) => formatMinor(r.ggr),
              cellProps: (r) => ({ className: r.ggr < 0 ? 'minus' : 'plus', 'data-testid': 'ggr' }),
            },
          ]}
          rows={results.data ?? []}
          rowKey={(r) => r.game}
          rowProps={(r) => ({ 'data-game': r.game })}
          loading={results.loading}
          empty="No house games."
        />
      </section>
      <section className="stack" aria-labelledby="games-title">
        <h2 id="games-title">Settings</h2>
        {games.error && <p className="error">{games.error}</p>}
        <div className="board">
          {(games.data ?? []).map((g) => (
            <GameSettings key={`${g.game}:${g.updated_at}`} game={g} onSaved={() => setSaved((n) => n + 1)} />
          ))}
        </div>
      </section>
    </AdminPage>
  )
}
