// One table for every list of rows the screens show: a header cell per column, a row per item
// (keyed by `rowKey`), right-aligned figures, and a wide table scrolling in its own box on a phone.
// Until the rows are first read, or when there are none, a line says so in place of the table, so
// a table's body only ever holds rows of data.
import type { HTMLAttributes, ReactNode, TdHTMLAttributes } from 'react'

/** data-* attributes, which the tests and live updates find rows and cells by. */
type Data = { [name: `data-${string}`]: string | number | boolean | undefined }

export interface Column<Row> {
  /** the header cell; a string is also the column's key unless `key` is given */
  header: ReactNode
  key?: string
  /** a figure: header and cells right-aligned (class `num`) */
  numeric?: boolean
  cell: (row: Row) => ReactNode
  /** more of each cell: a class (besides `num`), a test id, data-* */
  cellProps?: (row: Row) => TdHTMLAttributes<HTMLTableCellElement> & Data
}

interface Props<Row> {
  /** false, null or undefined stand for a column not shown (`cond && {...}`) */
  columns: (Column<Row> | false | null | undefined)[]
  rows: readonly Row[]
  rowKey: (row: Row) => string | number
  /** said in place of the table when there is no row */
  empty: ReactNode
  /** the rows are not read yet: said in place of the table while there is no row */
  loading?: boolean
  className?: string
  rowProps?: (row: Row) => HTMLAttributes<HTMLTableRowElement> & Data
}

const joined = (...names: (string | undefined | false)[]) => names.filter(Boolean).join(' ') || undefined

export function Table<Row>({ columns, rows, rowKey, empty, loading = false, className, rowProps }: Props<Row>) {
  if (rows.length === 0) return <p className="muted">{loading ? 'Loading…' : empty}</p>
  const shown = columns.filter((c): c is Column<Row> => !!c)
  const keyOf = (c: Column<Row>, index: number) =>
    c.key ?? (typeof c.header === 'string' && c.header !== '' ? c.header : String(index))
  return (
    <div className="table-wrap">
      <table className={className}>
        <thead>
          <tr>
            {shown.map((c, i) => (
              <th key={keyOf(c, i)} scope="col" className={c.numeric ? 'num' : undefined}>
                {c.header}
              </th>
            ))}
          </tr>
        </thead>
        <tbody>
          {rows.map((row) => (
            <tr key={rowKey(row)} {...rowProps?.(row)}>
              {shown.map((c, i) => {
                const more = c.cellProps?.(row)
                return (
                  <td key={keyOf(c, i)} {...more} className={joined(c.numeric && 'num', more?.className)}>
                    {c.cell(row)}
                  </td>
                )
              })}
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  )
}
