// Lint rules for Petrel: typescript-eslint's recommended set plus the layer rule for protocol/.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'var/**', 'bench/results/**', 'test-artifacts/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/consistent-type-imports': 'error',
    },
  },
  {
    // protocol/ is pure: bytes in, values out (DESIGN invariant 6).
    files: ['protocol/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', {
        paths: ['xstate', 'pino', 'lmdb', 'undici', 'piscina', 'node:net', 'node:tls', 'node:dgram', 'node:fs', 'node:fs/promises'],
      }],
    },
  },
);
