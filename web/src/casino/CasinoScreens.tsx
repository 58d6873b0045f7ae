// The casino's screens, loaded together the first time a player opens one (App.tsx imports this
// module lazily): the lobby, a game, the seeds page.
export { GameScreen } from './GameScreen'
export { Lobby } from './Lobby'
export { SeedsPage } from './SeedsPage'
