import js from '@eslint/js'
import prettierRecommended from 'eslint-plugin-prettier/recommended'
import tseslint from 'typescript-eslint'

export default tseslint.config(
  { ignores: ['dist/', 'node_modules/', 'data/', '.tap/', 'coverage/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      'no-console': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_' }],
    },
  },
  // Command-line scripts report on stdout; the service logs through pino only.
  { files: ['scripts/**'], rules: { 'no-console': 'off' } },
  // Prettier is the formatter (.prettierrc.json): unformatted code is a lint error, so `npm test` fails on it.
  prettierRecommended,
  // Prettier leaves long strings and comments alone; nothing may pass 120 columns all the same.
  { rules: { 'max-len': ['error', { code: 120, ignoreUrls: true, ignoreRegExpLiterals: true }] } },
)
