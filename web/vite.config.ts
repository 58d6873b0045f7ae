import react from '@vitejs/plugin-react'
import { defineConfig } from 'vite'

// `npm run dev` serves the app with hot reload and sends the API's paths to a running
// `wagerbase serve` (WAGERBASE_API, default http://127.0.0.1:8000), so the browser sees one origin.
const api = process.env.WAGERBASE_API ?? 'http://127.0.0.1:8000'

// The code is split so that a bettor's first page loads only what the board needs: the app's own
// entry, React and supabase-js (each a chunk of its own, so a new build of the app leaves them
// cached). The other screens are loaded when first opened (React.lazy in src/App.tsx); Chart.js,
// which only they use, is a chunk of its own as well.
const VENDORS = [
  { name: 'react', test: /node_modules[\\/](react|react-dom|scheduler)[\\/]/ },
  { name: 'supabase', test: /node_modules[\\/](@supabase|tslib|iceberg-js)[\\/]/ },
  { name: 'chart', test: /node_modules[\\/](chart\.js|@kurkle)[\\/]/ },
]

export default defineConfig({
  plugins: [react()],
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    sourcemap: true,
    rolldownOptions: { output: { codeSplitting: { groups: VENDORS } } },
  },
  server: {
    proxy: {
      '/config.json': api,
      '/auth': api,
      '/rest': api,
      '/realtime': { target: api, ws: true },
    },
  },
})
