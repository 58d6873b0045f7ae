// The market picker of the admin's Snapshots and Telemetry pages: every market, and a choice
// navigates to that market's tab (or to the tab of all markets).
import { useMarkets } from '../markets'
import { navigate } from '../router'

export function MarketPicker({ id, tab, allLabel }: { id: number | null; tab: 'snapshots' | 'telemetry'; allLabel?: string }) {
  const { markets } = useMarkets()
  return (
    <label className="picker">
      Market
      <select
        value={id ?? ''}
        onChange={(e) => navigate(e.target.value ? `/admin/markets/${e.target.value}/${tab}` : `/admin/${tab}`)}
      >
        <option value="">{allLabel ?? 'Pick a market'}</option>
        {markets.map((m) => (
          <option key={m.id} value={m.id}>
            #{m.id} {m.title} ({m.status})
          </option>
        ))}
      </select>
    </label>
  )
}
