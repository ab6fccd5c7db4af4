import { defineConfig } from "vite";

// The dashboard serves dist/ at "/"; relative asset paths keep it movable.
export default defineConfig({
  base: "./",
  build: {
    outDir: process.env.EXPSVC_FRONTEND_OUT || "dist",
    emptyOutDir: true,
    chunkSizeWarningLimit: 400,
  },
});
