// ESLint (flat config): JavaScript's recommended rules and typescript-eslint's recommended ones for src/, test/,
// bench/, data/ and scripts/. Formatting is Prettier's job (.prettierrc.json), not ESLint's.
import js from "@eslint/js";
import tseslint from "typescript-eslint";

export default tseslint.config(
  { ignores: ["dist/", "build/", "build-*/", "prebuilds/", "node_modules/", "test/parity/fixtures/", "**/*.d.ts"] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: {
      ecmaVersion: 2022,
      sourceType: "module",
      globals: {
        process: "readonly",
        console: "readonly",
        Buffer: "readonly",
        URL: "readonly",
        setTimeout: "readonly",
        clearTimeout: "readonly",
        setInterval: "readonly",
        clearInterval: "readonly",
        setImmediate: "readonly",
        AbortController: "readonly",
        AbortSignal: "readonly",
        TextEncoder: "readonly",
        TextDecoder: "readonly",
        fetch: "readonly",
        performance: "readonly",
        structuredClone: "readonly",
        queueMicrotask: "readonly",
        Response: "readonly",
        Request: "readonly",
        Headers: "readonly",
        __dirname: "readonly",
        require: "readonly",
        module: "writable",
      },
    },
    rules: {
      // `_`-prefixed names are deliberately unused (callbacks' positional parameters)
      "@typescript-eslint/no-unused-vars": [
        "error",
        { argsIgnorePattern: "^_", varsIgnorePattern: "^_", caughtErrors: "none" },
      ],
      // empty catch blocks carry a comment saying why the error is ignored
      "no-empty": ["error", { allowEmptyCatch: true }],
      // errors re-thrown from a catch name the file/field and fold the original message into theirs; the CLI prints
      // an error's `cause` as a second line, so attaching it everywhere would change every message users see
      "preserve-caught-error": "off",
    },
  },
  {
    // CommonJS on purpose (the consumer check's require('sqlfocus'))
    files: ["**/*.cjs"],
    languageOptions: { sourceType: "commonjs" },
    rules: { "@typescript-eslint/no-require-imports": "off" },
  },
  {
    // the board page's script runs in the browser
    files: ["src/track/board-page.ts"],
    languageOptions: {
      globals: {
        window: "readonly",
        document: "readonly",
        EventSource: "readonly",
        uPlot: "readonly",
        localStorage: "readonly",
        location: "readonly",
        requestAnimationFrame: "readonly",
        getComputedStyle: "readonly",
        matchMedia: "readonly",
      },
    },
  },
);
