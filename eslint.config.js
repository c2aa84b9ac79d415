import js from '@eslint/js'
import prettierRecommended from 'eslint-plugin-prettier/recommended'
import tseslint from 'typescript-eslint'

/*
 * Layers (docs/architecture.md): each folder of src/ may import only the folders listed for it,
 * plus its own files. A domain folder's files are one level deep, so a relative import that leaves
 * the folder starts with '../' followed by the folder it enters.
 */
const LAYERS = {
  cms: ['errors.js'],
  store: ['errors.js', 'cms'],
  auth: ['errors.js', 'store'],
  audit: ['errors.js', 'store', 'auth'],
  webhooks: ['errors.js', 'cms', 'store', 'auth', 'audit'],
  keystore: ['errors.js', 'cms', 'store', 'auth', 'audit', 'webhooks'],
  encryptors: ['errors.js', 'cms', 'store', 'auth', 'audit', 'webhooks'],
  renewals: ['errors.js', 'cms', 'store', 'auth', 'audit', 'keystore', 'encryptors', 'webhooks'],
}
const escape = (s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
const NO_TEST_OR_SCRIPTS = {
  regex: '(^|/)(test|scripts)/',
  message: 'The service imports nothing from test/ or scripts/.',
}
const NO_FASTIFY = {
  regex: '^(fastify|fastify-plugin|@fastify/.*)$',
  message: 'Domain folders import no Fastify: plugins and routes sit on top of them (docs/architecture.md).',
}
const layerRules = Object.entries(LAYERS).map(([folder, allowed]) => ({
  files: [`src/${folder}/**`],
  rules: {
    'no-restricted-imports': [
      'error',
      {
        patterns: [
          {
            regex: `^\\.\\./(?!(${allowed.map((a) => escape(a) + (a.endsWith('.js') ? '$' : '/')).join('|')}))`,
            message: `src/${folder}/ may import only ${allowed.join(', ')} (layers: docs/architecture.md).`,
          },
          NO_FASTIFY,
          NO_TEST_OR_SCRIPTS,
        ],
      },
    ],
  },
}))

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
  // Command-line scripts (and the fuzz runner, which is test tooling) report on stdout; the service logs
  // through pino only.
  { files: ['scripts/**', 'test/system/fuzz-run.ts'], rules: { 'no-console': 'off' } },
  // Import boundaries. A later block replaces an earlier one's no-restricted-imports for the same file,
  // so the general src/ block comes first and each layer repeats what it keeps of it.
  { files: ['src/**'], rules: { 'no-restricted-imports': ['error', { patterns: [NO_TEST_OR_SCRIPTS] }] } },
  ...layerRules,
  {
    files: ['src/plugins/**'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              regex: '(^|/)(routes/|app\\.js$|server\\.js$)',
              message: 'Plugins sit below the routes: they import no route, nor the app that assembles them.',
            },
            NO_TEST_OR_SCRIPTS,
          ],
        },
      ],
    },
  },
  {
    files: ['src/routes/**'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            { regex: '(^|/)(app|server)\\.js$', message: 'Routes do not import the app that registers them.' },
            NO_TEST_OR_SCRIPTS,
          ],
        },
      ],
    },
  },
  {
    files: ['scripts/**'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              regex: '(^|/)test/',
              message: 'Scripts import no test helpers; what both need lives in scripts/lib/ (test/ may import it).',
            },
          ],
        },
      ],
    },
  },
  // The console runs in the browser and talks to the service over HTTP only: it imports its own
  // files and preact, nothing of the server (which would drag Node code into the bundle).
  {
    files: ['src/console/**'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              regex: '^(?!preact(/|$)|\\./|\\.\\./(?!\\.\\./))',
              message: 'The console imports only its own files and preact (docs/console.md).',
            },
          ],
        },
      ],
    },
  },
  // Prettier is the formatter (.prettierrc.json): unformatted code is a lint error, so `npm test` fails on it.
  prettierRecommended,
  // Prettier leaves long strings and comments alone; nothing may pass 120 columns all the same.
  { rules: { 'max-len': ['error', { code: 120, ignoreUrls: true, ignoreRegExpLiterals: true }] } },
)
