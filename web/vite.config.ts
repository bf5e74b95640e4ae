// The dashboard's build: Preact through the automatic JSX runtime, everything bundled into dist/web
// (hashed file names under assets/, served with long-lived caching by src/server/web.ts).
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

export default defineConfig({
  root: fileURLToPath(new URL('.', import.meta.url)),
  base: '/',
  oxc: { jsx: { runtime: 'automatic', importSource: 'preact' } },
  build: {
    outDir: fileURLToPath(new URL('../dist/web', import.meta.url)),
    emptyOutDir: true,
    target: 'es2022',
    // No inline scripts or data: modules: the server's Content-Security-Policy allows 'self' only.
    assetsInlineLimit: 0,
    modulePreload: { polyfill: false },
    reportCompressedSize: false,
    chunkSizeWarningLimit: 400,
  },
  // `npm run dev:web` (and `vite preview`) pass /api to a running pgvigil server: PGVIGIL_DEV_API, default :8470.
  server: { proxy: { '/api': { target: process.env.PGVIGIL_DEV_API ?? 'http://127.0.0.1:8470', ws: true } } },
  preview: {
    proxy: { '/api': { target: process.env.PGVIGIL_DEV_API ?? 'http://127.0.0.1:8470', ws: true } },
  },
});
