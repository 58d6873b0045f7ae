// Money is integer minor units (100 = 1.00), as in the engine. The browser only formats it and
// reads typed amounts as strings into minor units: no floating-point arithmetic on money.

const AMOUNT = /^\s*(\d{1,13})(?:[.,](\d{0,2}))?\s*$/

/** "12.5" -> 1250, "3" -> 300, "0.07" -> 7; null for anything that is not a plain amount. */
export function parseMinor(text: string): number | null {
  const match = AMOUNT.exec(text)
  if (!match) return null
  const whole = match[1]
  const cents = (match[2] ?? '').padEnd(2, '0')
  const digits = (whole + cents).replace(/^0+(?=\d)/, '')
  return Number(digits) // at most 15 digits: exact in a double
}

/** 1250 -> "12.50", -7 -> "-0.07", 123456 -> "1,234.56". */
export function formatMinor(minor: number | null | undefined): string {
  if (minor === null || minor === undefined) return '–'
  const negative = minor < 0
  const digits = String(Math.abs(Math.trunc(minor))).padStart(3, '0')
  const whole = digits.slice(0, -2).replace(/\B(?=(\d{3})+(?!\d))/g, ',')
  return `${negative ? '-' : ''}${whole}.${digits.slice(-2)}`
}

/** Minor units as a stake field's text: 1000 -> "10.00" (no grouping, so it parses back). */
export function minorToInput(minor: number): string {
  return formatMinor(minor).replace(/,/g, '')
}

/** Decimal odds as the engine sends them (a JSON number, 4 decimals at most). */
export function formatOdds(odds: number | null | undefined, digits = 2): string {
  if (odds === null || odds === undefined) return '–'
  return odds.toFixed(digits)
}

/** A share of the pool (0..1) as a percentage. */
export function formatShare(share: number | null | undefined): string {
  if (share === null || share === undefined) return '–'
  return `${(share * 100).toFixed(1)}%`
}

/** A change of share in percentage points, signed: 1.5 -> "+1.50 pp", -0.25 -> "-0.25 pp". */
export function formatPoints(points: number): string {
  return `${points > 0 ? '+' : ''}${points.toFixed(2)} pp`
}
