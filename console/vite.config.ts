import preact from "@preact/preset-vite";
import { defineConfig } from "vite";

// A static bundle: hashed files under dist/assets, no inline script or style (the CloudFront
// Content-Security-Policy allows only 'self'), runtime settings read from /config.json at start.
export default defineConfig({
  plugins: [preact()],
  // amazon-cognito-identity-js (and its buffer dependency) read Node's `global`.
  define: { global: "globalThis" },
  build: {
    outDir: "dist",
    assetsInlineLimit: 0,
    sourcemap: false,
    modulePreload: { polyfill: false },
  },
});
