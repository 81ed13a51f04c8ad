import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/', 'node_modules/', '.services/', '.data/', 'coverage/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      // Habit 4: process.env is read in the config module only.
      'no-restricted-properties': [
        'error',
        { object: 'process', property: 'env', message: 'Read process.env in src/config only.' },
      ],
    },
  },
  {
    // Plain Node scripts (not TypeScript): tell eslint which Node globals they use.
    files: ['**/*.mjs', '**/*.js'],
    languageOptions: { globals: { URL: 'readonly', console: 'readonly', process: 'readonly' } },
  },
  {
    files: [
      'src/config/**',
      'src/cli/**',
      'src/bench/**',
      'test/**',
      'scripts/**',
      'vitest.config.ts',
      'bench/**',
    ],
    rules: { 'no-restricted-properties': 'off' },
  },
);
