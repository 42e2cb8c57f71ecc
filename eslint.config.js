// ESLint flat config: typescript-eslint's recommended rules; formatting is prettier's job.
import js from '@eslint/js'
import tseslint from 'typescript-eslint'

/*
 * The rooms of src/ and the arrows allowed between them (docs/architecture.md draws them).
 * ESLint's own no-restricted-imports does it with one regex per room: every relative import
 * that leaves the room must go to a room listed here. Rooms are flat folders, so `../<room>/` is
 * the whole story; `../../` leaves src/ and may only reach package.json and schemas/ (data the
 * bundle embeds).
 */
const ground = ['core', 'util']
const rooms = {
  core: [],
  util: ['core'],
  config: ground,
  icloud: ground,
  'session-cache': ground,
  // photos gets its authenticated HTTP client from icloud, and nothing else.
  photos: [...ground, 'icloud/http.js'],
  github: ground,
  notify: [...ground, 'github'],
  // providers implement icloud's ports.
  providers: [...ground, 'icloud/ports.js', 'github', 'notify'],
  // destinations implement photos' Destination; the bucket's state is sealed like the session.
  destinations: [...ground, 'photos', 'session-cache/stream-blob.js'],
  action: [
    ...ground,
    'config',
    'icloud',
    'session-cache',
    'photos',
    'destinations',
    'github',
    'notify',
    'providers',
  ],
  cli: [
    ...ground,
    'config',
    'icloud',
    'session-cache',
    'photos',
    'destinations',
    'github',
    'notify',
    'providers',
  ],
}
const outOfSrc = {
  regex: '(^|/)(__tests__|sim)/|^(\\.\\./){2,}(?!package\\.json$|schemas/)',
  message: 'Code under src/ never imports the test world (sim/, __tests__/) or anything outside src/.',
}
// A room name allows the whole room (`../icloud/`); a file name just that module (`../icloud/http.js`).
const REPO_DATA = '\\.\\./(package\\.json$|schemas/)'
const target = (a) => (a.endsWith('.js') ? `${a.replaceAll('.', '\\.')}$` : `${a}/`)
const boundaries = Object.entries(rooms).map(([room, allowed]) => ({
  files: [`src/${room}/**/*.ts`],
  rules: {
    'no-restricted-imports': [
      'error',
      {
        patterns: [
          outOfSrc,
          {
            regex: `^\\.\\./(?!(${[...allowed.map(target), REPO_DATA].join('|')}))`,
            message: `src/${room}/ may import only ${allowed.length ? allowed.join(', ') : 'its own modules'} (see docs/architecture.md).`,
          },
        ],
      },
    ],
  },
}))

export default tseslint.config(
  {
    ignores: [
      'dist/**',
      'node_modules/**',
      'build/**',
      'coverage/**',
      'bench/results*',
      'src/**/*.generated.*',
    ],
  },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: {
      globals: {
        process: 'readonly',
        console: 'readonly',
        Buffer: 'readonly',
        URL: 'readonly',
        setTimeout: 'readonly',
        clearTimeout: 'readonly',
        setInterval: 'readonly',
        clearInterval: 'readonly',
        AbortController: 'readonly',
        AbortSignal: 'readonly',
        TextEncoder: 'readonly',
        TextDecoder: 'readonly',
      },
    },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },
  { files: ['src/*.ts'], rules: { 'no-restricted-imports': ['error', { patterns: [outOfSrc] }] } },
  // The simulated world serves tests, bench and demo; it never leans on a test file.
  {
    files: ['sim/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        { patterns: [{ regex: '(^|/)__tests__/', message: 'sim/ never imports from __tests__/.' }] },
      ],
    },
  },
  ...boundaries,
)
