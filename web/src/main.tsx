import { StrictMode } from 'react'
import { createRoot } from 'react-dom/client'
import { App } from './App'
import { connect } from './supabase'
import './styles.css'

const root = createRoot(document.getElementById('root')!)

connect()
  .then(() =>
    root.render(
      <StrictMode>
        <App />
      </StrictMode>,
    ),
  )
  .catch((failure: unknown) => {
    root.render(
      <main className="page">
        <h1>Wagerbase is not reachable</h1>
        <p>{String(failure)}</p>
      </main>,
    )
  })
