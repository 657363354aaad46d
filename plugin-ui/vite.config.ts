/**
 * The plug-in's build (`npm run build:plugin`, and the browser tests' setup): index.html and its
 * Lit modules into static files under plugin-ui/dist/, with relative asset URLs so the same
 * build works at /plugin/ on the control plane and under a reverse proxy's /client/… path.
 */
import path from 'node:path';
import { defineConfig } from 'vite';

export default defineConfig({
  root: import.meta.dirname,
  base: './',
  logLevel: 'warn',
  build: {
    outDir: path.join(import.meta.dirname, 'dist'),
    emptyOutDir: true,
    target: 'es2022',
    sourcemap: true,
    chunkSizeWarningLimit: 600,
  },
});
