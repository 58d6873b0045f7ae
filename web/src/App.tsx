// The shell: who is here decides between the sign-in screen and the app; the route picks a screen.
// The board and the sign-in screen are in the first download; every other screen is fetched when
// it is first opened (React.lazy): the admin console in one chunk, the market page with its
// Chart.js depth view, the provably-fair page, the wallet and My bets each in their own.
import { lazy, Suspense, useEffect, type ComponentType } from 'react'
import { refreshMarkets, startMarkets, useLive } from './markets'
import { useFollowMe, useMe } from './me'
import { formatMinor } from './money'
import { follow, useRoute, type Route } from './router'
import { signOut, useWho } from './session'
import { useAdminFeed } from './admin/live'
import { AuthScreen } from './screens/AuthScreen'
import { NotFound } from './screens/parts'
import { Board } from './screens/Board'

/** A screen exported by name from a module loaded on first use. */
function later<P extends object>(load: () => Promise<Record<string, unknown>>, name: string) {
  return lazy(async () => ({ default: (await load())[name] as ComponentType<P> }))
}
const admin = () => import('./admin/AdminScreens')
const AdminHome = later<{ isAdmin: boolean }>(admin, 'AdminHome')
const AdminMarket = later<{ id: number; isAdmin: boolean }>(admin, 'AdminMarket')
const AuditLog = later<{ isAdmin: boolean }>(admin, 'AuditLog')
const Monitor = later<{ isAdmin: boolean }>(admin, 'Monitor')
const Snapshots = later<{ id: number | null; isAdmin: boolean }>(admin, 'Snapshots')
const Telemetry = later<{ id: number | null; isAdmin: boolean }>(admin, 'Telemetry')
const MarketPage = later<{ id: number; signedIn: boolean }>(() => import('./screens/MarketPage'), 'MarketPage')
const FairPage = later<{ id: number }>(() => import('./screens/FairPage'), 'FairPage')
const Wallet = later<object>(() => import('./screens/Wallet'), 'Wallet')
const MyBets = later<object>(() => import('./screens/MyBets'), 'MyBets')
const HouseGames = later<{ isAdmin: boolean }>(admin, 'HouseGames')
const casino = () => import('./casino/CasinoScreens')
const Lobby = later<object>(casino, 'Lobby')
const GameScreen = later<{ game: string }>(casino, 'GameScreen')
const SeedsPage = later<{ userId: string }>(casino, 'SeedsPage')

/** A link of the main menu; `current` when the route shown is its page (or one of its pages). */
function NavLink({ href, current, children }: { href: string; current: boolean; children: string }) {
  return (
    <a href={href} onClick={follow} aria-current={current ? 'page' : undefined}>
      {children}
    </a>
  )
}

function Header({ route, signedIn, isAdmin, email }: {
  route: Route
  signedIn: boolean
  isAdmin: boolean
  email: string
}) {
  const live = useLive()
  const { balance } = useMe()
  return (
    <header className="top">
      <a className="brand" href="/" onClick={follow}>
        Wagerbase
      </a>
      <nav aria-label="Main">
        <NavLink href="/" current={route.name === 'board'}>
          Markets
        </NavLink>
        {signedIn && (
          <NavLink href="/casino" current={route.name.startsWith('casino')}>
            Casino
          </NavLink>
        )}
        {signedIn && (
          <NavLink href="/bets" current={route.name === 'bets'}>
            My bets
          </NavLink>
        )}
        {signedIn && (
          <NavLink href="/wallet" current={route.name === 'wallet'}>
            Wallet
          </NavLink>
        )}
        {isAdmin && (
          <NavLink href="/admin" current={route.name.startsWith('admin')}>
            Admin
          </NavLink>
        )}
      </nav>
      <span className={`live ${live}`} data-testid="live" data-state={live} title="Live updates">
        {live === 'live' ? 'Live' : live === 'connecting' ? 'Connecting…' : 'Offline'}
      </span>
      {signedIn && (
        <a className="balance" href="/wallet" onClick={follow} aria-label="Balance">
          <span data-testid="header-balance">{formatMinor(balance)}</span>
        </a>
      )}
      <span className="who" title={email}>
        {signedIn ? email : 'Guest'}
      </span>
      <button type="button" className="secondary small" onClick={() => void signOut()}>
        {signedIn ? 'Sign out' : 'Sign in'}
      </button>
    </header>
  )
}

function Screen({ route, userId, isAdmin }: { route: Route; userId: string | null; isAdmin: boolean }) {
  const signedIn = userId !== null
  switch (route.name) {
    case 'admin':
      return <AdminHome isAdmin={isAdmin} />
    case 'adminMarket':
      return <AdminMarket id={route.id} isAdmin={isAdmin} />
    case 'adminWagers':
      return <Monitor isAdmin={isAdmin} />
    case 'adminAudit':
      return <AuditLog isAdmin={isAdmin} />
    case 'adminSnapshots':
      return <Snapshots id={route.id} isAdmin={isAdmin} />
    case 'adminTelemetry':
      return <Telemetry id={route.id} isAdmin={isAdmin} />
    case 'adminCasino':
      return <HouseGames isAdmin={isAdmin} />
    case 'fair':
      return <FairPage id={route.id} />
    case 'casino':
      return signedIn ? <Lobby /> : <NotForGuests />
    case 'casinoGame':
      return signedIn ? <GameScreen game={route.game} /> : <NotForGuests />
    case 'casinoSeeds':
      return userId !== null ? <SeedsPage userId={userId} /> : <NotForGuests />
    case 'board':
      return <Board />
    case 'market':
      return <MarketPage id={route.id} signedIn={signedIn} />
    case 'wallet':
      return signedIn ? <Wallet /> : <NotForGuests />
    case 'bets':
      return signedIn ? <MyBets /> : <NotForGuests />
    case 'missing':
      return <NotFound back="/" to="the markets" />
  }
}

function NotForGuests() {
  return (
    <main className="page">
      <p>Sign in to see this page.</p>
      <button type="button" className="primary" onClick={() => void signOut()}>
        Sign in or register
      </button>
    </main>
  )
}

export function App() {
  const who = useWho()
  const route = useRoute()
  const userId = who.session?.user.id ?? null
  useFollowMe(userId)
  useAdminFeed(who.isAdmin ? userId : null)
  useEffect(() => startMarkets(), [])
  useEffect(() => refreshMarkets(), [userId, who.isAdmin])

  if (!who.ready) return null
  if (!who.session && !who.guest) return <AuthScreen />
  return (
    <>
      <Header
        route={route}
        signedIn={!!who.session}
        isAdmin={who.isAdmin}
        email={who.session?.user.email ?? ''}
      />
      <Suspense
        fallback={
          <main className="page">
            <p className="muted">Loading…</p>
          </main>
        }
      >
        <Screen route={route} userId={userId} isAdmin={who.isAdmin} />
      </Suspense>
    </>
  )
}
