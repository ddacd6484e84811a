/**
 * Layering rules (docs/architecture.md), checked in CI (`npm run lint`).
 * a → b means "a may import b"; everything not allowed below is forbidden.
 */
const area = (name) => `^src/${name}/`;
const shared = ['^src/errors\\.ts$', '^src/base/'];
/** `from` may import, inside src/, only its own folder, the shared base and `allowed`. */
const onlyImports = (name, from, allowed, comment) => ({
  name,
  comment,
  severity: 'error',
  from: { path: area(from) },
  to: { path: '^src/', pathNot: [area(from), ...shared, ...allowed.map(area)] },
});
/** Like onlyImports, but type-only imports of `types` are allowed too. */
const onlyImportsPlusTypes = (name, from, allowed, types, comment) => [
  {
    name,
    comment,
    severity: 'error',
    from: { path: area(from) },
    to: { path: '^src/', pathNot: [area(from), ...shared, ...allowed.map(area), ...types.map(area)] },
  },
  {
    name: `${name}-types-only`,
    comment: `${from} may import only types from ${types.join(', ')}.`,
    severity: 'error',
    from: { path: area(from) },
    to: { path: types.map(area), dependencyTypesNot: ['type-only'] },
  },
];

module.exports = {
  forbidden: [
    { name: 'no-circular', severity: 'error', from: {}, to: { circular: true } },
    {
      name: 'ort-only-in-engine',
      comment: 'Only src/engine/ort.ts may import onnxruntime-node.',
      severity: 'error',
      from: { pathNot: '^src/engine/ort\\.ts$' },
      to: { path: 'onnxruntime-node' },
    },
    {
      name: 'no-dev-dependencies-in-src',
      comment: 'What ships must not need a devDependency.',
      severity: 'error',
      from: { path: '^src/' },
      to: { dependencyTypes: ['npm-dev'], dependencyTypesNot: ['npm-peer'] },
    },
    {
      name: 'optional-peers-loaded-lazily',
      comment:
        'Optional peer dependencies (plots, builder, progress bars) are loaded only through src/base/optional.ts, on first use: ' +
        'import "stitchnet" never loads them and a consumer without them gets DEPENDENCY_MISSING naming the package.',
      severity: 'error',
      from: { pathNot: '^src/base/optional\\.ts$' },
      to: { path: 'node_modules/(vega|vega-lite|@resvg/resvg-js|ml-matrix|cli-progress)/', dynamic: false, dependencyTypesNot: ['type-only'] },
    },
    { name: 'nobody-imports-cli', severity: 'error', from: { pathNot: area('cli') }, to: { path: area('cli') } },
    { name: 'nobody-imports-testing', severity: 'error', from: { pathNot: area('testing') }, to: { path: area('testing') } },
    {
      name: 'nobody-imports-bench',
      severity: 'error',
      from: { path: '^src/' },
      to: { path: '^bench/' },
    },
    {
      name: 'base-is-leaf',
      comment: 'The shared base imports nothing of src/ but errors.',
      severity: 'error',
      from: { path: area('base') },
      to: { path: '^src/', pathNot: [area('base'), '^src/errors\\.ts$'] },
    },
    {
      name: 'errors-is-leaf',
      severity: 'error',
      from: { path: '^src/errors\\.ts$' },
      to: { path: '^src/', pathNot: [area('base')] },
    },
    onlyImports('onnx-is-leaf', 'onnx', []),
    onlyImports('package-deps', 'package', ['onnx'], 'package may use onnx (to verify piece interfaces).'),
    onlyImports('engine-deps', 'engine', ['package', 'onnx'], 'The engine knows pieces and routes, not signals, profiles, policy or the runtime.'),
    onlyImports('signals-deps', 'signals', []),
    onlyImports('profiles-deps', 'profiles', ['signals'], 'profiles use the signal names to check conditions.'),
    ...onlyImportsPlusTypes('policy-is-pure', 'policy', [], ['signals', 'profiles', 'package'], 'The policy imports only types of signals/profiles/package; no fs, ORT or other areas.'),
    {
      name: 'policy-no-io',
      severity: 'error',
      from: { path: area('policy') },
      to: { path: ['^(node:)?fs', '^(node:)?child_process', 'onnxruntime-node', 'systeminformation'] },
    },
    onlyImports('data-deps', 'data', ['package']),
    ...onlyImportsPlusTypes('plots-deps', 'plots', ['package', 'builder', 'signals'], ['policy', 'profiles', 'runtime']),
    onlyImports('runtime-deps', 'runtime', ['engine', 'signals', 'profiles', 'policy', 'package', 'onnx']),
    onlyImports('builder-deps', 'builder', ['engine', 'package', 'onnx', 'data']),
    onlyImports('testing-deps', 'testing', ['policy', 'signals', 'profiles', 'package', 'runtime']),
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { extensions: ['.ts', '.js'], conditionNames: ['import', 'require', 'node', 'default'] },
  },
};
