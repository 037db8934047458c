// Lint: the recommended rules plus typed-free TypeScript rules; `any` is an error where a type can be written.
import js from "@eslint/js";
import tseslint from "typescript-eslint";

export default tseslint.config(
	{ ignores: ["node_modules/**", "data/**", ".tmp/**", "docker/**", "console/dist/**", "test-output/**"] },
	js.configs.recommended,
	...tseslint.configs.recommended,
	{
		rules: {
			"@typescript-eslint/no-explicit-any": "error",
			"@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_" }],
			"no-console": "off"
		}
	}
);
