// Lint for the whole workspace (STYLE.md point 8): ESLint and typescript-eslint recommended sets,
// plus the two promise rules that matter most in a codebase that is all promises.
// Type-aware rules read ONE program (tsconfig.typecheck.json) so a run builds types once.
import js from "@eslint/js";
import { defineConfig } from "eslint/config";
import tseslint from "typescript-eslint";

/** Node globals for the few plain .js/.mjs files, which have no type information. */
const nodeGlobals = {
  process: "readonly",
  console: "readonly",
  setTimeout: "readonly",
  clearTimeout: "readonly",
  setInterval: "readonly",
  clearInterval: "readonly",
  URL: "readonly",
  Buffer: "readonly",
};

export default defineConfig(
  {
    // Generated code is excluded from lint (STYLE.md point 11); .mesh/ holds local run state.
    ignores: ["**/dist/**", "**/node_modules/**", "**/coverage/**", "proto/src/gen/**", ".mesh/**"],
  },
  js.configs.recommended,
  tseslint.configs.recommended,
  {
    files: ["**/*.ts"],
    languageOptions: {
      parserOptions: {
        project: ["./tsconfig.typecheck.json"],
        tsconfigRootDir: import.meta.dirname,
      },
    },
    rules: {
      "@typescript-eslint/no-floating-promises": "error",
      "@typescript-eslint/no-misused-promises": "error",
      // `const { secret: _s, ...rest } = x` is how this codebase drops a field from a copy.
      "@typescript-eslint/no-unused-vars": ["error", { ignoreRestSiblings: true }],
    },
  },
  {
    files: ["**/*.js", "**/*.mjs", "**/*.cjs"],
    languageOptions: { globals: nodeGlobals },
  },
);
