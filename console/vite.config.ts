// The operator console's build: Preact (JSX compiled by Vite's own transformer, no Babel), served by the api
// gateway under /console from console/dist. No inline scripts (the gateway's Content-Security-Policy forbids them).
import { defineConfig } from "vite";

export default defineConfig({
	root: import.meta.dirname,
	base: "/console/",
	oxc: { jsx: { runtime: "automatic", importSource: "preact" } },
	build: {
		outDir: "dist",
		emptyOutDir: true,
		modulePreload: { polyfill: false },
		assetsInlineLimit: 0,
		reportCompressedSize: true,
		target: "es2022"
	}
});
