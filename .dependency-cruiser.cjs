/**
 * Layering rules of DESIGN §2, checked in CI (`npm run lint`).
 * a → b means "a may import b"; everything not allowed below is forbidden.
 */
const area = (name) => `^src/${name}/`;

module.exports = {
  forbidden: [
    { name: 'no-circular', severity: 'error', from: {}, to: { circular: true } },
    {
      name: 'ort-only-in-runtime',
      comment: 'Only src/runtime/ may import onnxruntime-node.',
      severity: 'error',
      from: { pathNot: '^src/runtime/' },
      to: { path: 'onnxruntime-node' },
    },
    {
      name: 'nobody-imports-cli',
      severity: 'error',
      from: { pathNot: area('cli') },
      to: { path: area('cli') },
    },
    {
      name: 'nobody-imports-testing',
      severity: 'error',
      from: { pathNot: area('testing') },
      to: { path: area('testing') },
    },
    {
      name: 'policy-is-pure',
      comment: 'The policy imports only types from signals/profiles/package, and never fs, ORT or other areas.',
      severity: 'error',
      from: { path: area('policy') },
      to: {
        pathNot: ['^src/policy/', '^src/errors\\.ts$', 'node_modules/rxjs', '^rxjs'],
        dependencyTypesNot: ['type-only'],
      },
    },
    {
      name: 'signals-profiles-leaf',
      comment: 'signals and profiles import only errors (and their libraries).',
      severity: 'error',
      from: { path: ['^src/signals/', '^src/profiles/'] },
      to: { path: '^src/', pathNot: ['^src/signals/', '^src/profiles/', '^src/errors\\.ts$'], dependencyTypesNot: ['type-only'] },
    },
    {
      name: 'package-deps',
      comment: 'package may use onnx (to verify piece interfaces) and errors.',
      severity: 'error',
      from: { path: area('package') },
      to: { path: '^src/', pathNot: ['^src/package/', '^src/onnx/', '^src/errors\\.ts$'] },
    },
    {
      name: 'onnx-is-leaf',
      severity: 'error',
      from: { path: area('onnx') },
      to: { path: '^src/', pathNot: ['^src/onnx/', '^src/errors\\.ts$'] },
    },
    {
      name: 'builder-deps',
      severity: 'error',
      from: { path: area('builder') },
      to: { path: '^src/', pathNot: ['^src/builder/', '^src/package/', '^src/onnx/', '^src/runtime/', '^src/errors\\.ts$'] },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { extensions: ['.ts', '.js'], conditionNames: ['import', 'require', 'node', 'default'] },
  },
};
