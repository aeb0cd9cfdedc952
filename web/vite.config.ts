import { defineConfig } from "vite";

// Relative asset paths: the same build is served by `make dev` and from CloudFront.
export default defineConfig({
  base: "./",
  build: { outDir: "dist", emptyOutDir: true, target: "es2022", chunkSizeWarningLimit: 400 },
  server: { port: Number(process.env.WEB_PORT ?? 3002), strictPort: true },
  test: { include: ["test/**/*.test.ts"], environment: "node" },
} as never);
