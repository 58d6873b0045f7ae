import react from '@vitejs/plugin-react'
import { defineConfig } from 'vite'

// `npm run dev` serves the app with hot reload and sends the API's paths to a running
// `wagerbase serve` (WAGERBASE_API, default http://127.0.0.1:8000), so the browser sees one origin.
const api = process.env.WAGERBASE_API ?? 'http://127.0.0.1:8000'

export default defineConfig({
  plugins: [react()],
  build: { outDir: 'dist', emptyOutDir: true, sourcemap: true },
  server: {
    proxy: {
      '/config.json': api,
      '/auth': api,
      '/rest': api,
      '/realtime': { target: api, ws: true },
    },
  },
})
