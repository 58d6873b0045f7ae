// The admin console's screens, loaded together in one chunk the first time an admin opens one
// (App.tsx imports this module lazily): a bettor's page never downloads them.
export { AdminHome } from './AdminHome'
export { AdminMarket } from './AdminMarket'
export { AuditLog } from './AuditLog'
export { Monitor } from './Monitor'
export { Snapshots } from './Snapshots'
export { Telemetry } from './Telemetry'
export { HouseGames } from './HouseGames'
