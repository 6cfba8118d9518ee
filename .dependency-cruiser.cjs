/**
 * Sluice's import rules (issue 17), checked by `npm test` (`depcruise src`). The layers, lowest
 * first: core/ (vocabulary) <- config/ <- providers/, streaming/, routing/, observability/ <-
 * upstream/ <- pipeline <- fronts/ <- server/. See docs/ARCHITECTURE.md.
 */
/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: 'no-cycles',
      severity: 'error',
      comment: 'An import cycle: the two modules belong in one, or the shared part belongs lower (core/).',
      from: {},
      to: { circular: true },
    },
    {
      name: 'core-imports-nothing-of-the-app',
      severity: 'error',
      comment: 'core/ is the shared vocabulary every layer may use; it imports nothing else of Sluice.',
      from: { path: '^src/core/' },
      to: { path: '^src/', pathNot: '^src/core/' },
    },
    {
      name: 'config-imports-only-core',
      severity: 'error',
      comment: 'config/ (schema + load) is parsed before anything runs; it may use core/ only.',
      from: { path: '^src/config/' },
      to: { path: '^src/', pathNot: '^src/(core|config)/' },
    },
    {
      name: 'providers-are-pure',
      severity: 'error',
      comment: 'An adapter is pure translation: no server, upstream (network) or front, and no fastify, undici or pino.',
      from: { path: '^src/providers/' },
      to: { path: ['^src/(server|upstream|fronts)/', 'node_modules/(fastify|undici|pino)/'] },
    },
    {
      name: 'streaming-below-server-upstream-fronts',
      severity: 'error',
      comment: 'streaming/ (SSE parse, writer, aggregate, scanner) works on bytes and events; it does not reach up to the server, the network client or a front.',
      from: { path: '^src/streaming/' },
      to: { path: '^src/(server|upstream|fronts)/' },
    },
    {
      name: 'not-to-unresolvable',
      severity: 'error',
      comment: 'An import that does not resolve.',
      from: {},
      to: { couldNotResolve: true },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { exportsFields: ['exports'], conditionNames: ['import', 'require', 'node', 'default', 'types'], extensions: ['.ts', '.js', '.d.ts'] },
    reporterOptions: { text: { highlightFocused: true } },
  },
};
