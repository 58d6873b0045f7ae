// The shell: who is here decides between the sign-in screen and the app; the route picks a screen.
import { useEffect } from 'react'
import { refreshMarkets, startMarkets, useLive } from './markets'
import { useFollowMe, useMe } from './me'
import { formatMinor } from './money'
import { follow, useRoute, type Route } from './router'
import { signOut, useWho } from './session'
import { useAdminFeed } from './admin/live'
import { AdminHome } from './admin/AdminHome'
import { AdminMarket } from './admin/AdminMarket'
import { AuditLog } from './admin/AuditLog'
import { Monitor } from './admin/Monitor'
import { AuthScreen } from './screens/AuthScreen'
import { Board } from './screens/Board'
import { FairPage } from './screens/FairPage'
import { MarketPage } from './screens/MarketPage'
import { MyBets } from './screens/MyBets'
import { Wallet } from './screens/Wallet'

function NavLink({ href, route, name, children }: {
  href: string
  route: Route
  name: Route['name']
  children: string
}) {
  return (
    <a href={href} onClick={follow} aria-current={route.name === name ? 'page' : undefined}>
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
        <NavLink href="/" route={route} name="board">
          Markets
        </NavLink>
        {signedIn && (
          <NavLink href="/bets" route={route} name="bets">
            My bets
          </NavLink>
        )}
        {signedIn && (
          <NavLink href="/wallet" route={route} name="wallet">
            Wallet
          </NavLink>
        )}
        {isAdmin && (
          <a
            href="/admin"
            onClick={follow}
            aria-current={route.name.startsWith('admin') ? 'page' : undefined}
          >
            Admin
          </a>
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

function Screen({ route, signedIn, isAdmin }: { route: Route; signedIn: boolean; isAdmin: boolean }) {
  switch (route.name) {
    case 'admin':
      return <AdminHome isAdmin={isAdmin} />
    case 'adminMarket':
      return <AdminMarket id={route.id} isAdmin={isAdmin} />
    case 'adminWagers':
      return <Monitor isAdmin={isAdmin} />
    case 'adminAudit':
      return <AuditLog isAdmin={isAdmin} />
    case 'fair':
      return <FairPage id={route.id} />
    case 'board':
      return <Board />
    case 'market':
      return <MarketPage id={route.id} signedIn={signedIn} />
    case 'wallet':
      return signedIn ? <Wallet /> : <NotForGuests />
    case 'bets':
      return signedIn ? <MyBets /> : <NotForGuests />
    case 'missing':
      return (
        <main className="page">
          <h1>Not found</h1>
          <a href="/" onClick={follow}>
            Back to the markets
          </a>
        </main>
      )
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
      <Screen route={route} signedIn={!!who.session} isAdmin={who.isAdmin} />
    </>
  )
}
