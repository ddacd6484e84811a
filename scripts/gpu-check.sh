#!/usr/bin/env bash
# A GPU machine's check, end to end: install onnxruntime-node with the CUDA provider libraries,
# check that CUDA loads and gives the CPU's results, run the bench on CUDA, run the tests that
# choose a provider. Everything it prints goes to a folder too (first argument, default
# gpu-check-<time>/).
#
#   scripts/gpu-check.sh [out-dir]
#
# Needs: an NVIDIA GPU and driver (nvidia-smi), CUDA 12 and cuDNN 9 libraries on the library path,
# Node 20, and network access to npm and NuGet for the first step (the CUDA provider libraries
# are not in the npm package; onnxruntime-node's install script fetches them).
# STITCHNET_GPU_PROVIDER=cuda (default) or tensorrt picks the provider checked.
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-gpu-check-$(date -u +%Y%m%dT%H%M%SZ)}"
provider="${STITCHNET_GPU_PROVIDER:-cuda}"
mkdir -p "$out"
exec > >(tee "$out/log.txt") 2>&1

step() { printf '\n== %s (%s)\n' "$1" "$(date -u +%H:%M:%S)"; }

step "machine"
git log -1 --format='commit %H (%cs)' || true
node --version
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv || echo "nvidia-smi not found: no NVIDIA driver here"

step "install with the CUDA provider libraries"
# The repository's .npmrc skips onnxruntime-node's download; the environment variable wins over it.
# 'cuda12' is the only CUDA flavour onnxruntime-node 1.30's install script accepts (linux/x64).
if [ -d node_modules/onnxruntime-node ]; then
  ONNXRUNTIME_NODE_INSTALL=cuda12 npm rebuild onnxruntime-node
else
  ONNXRUNTIME_NODE_INSTALL=cuda12 npm ci
fi
ls -l node_modules/onnxruntime-node/bin/napi-v6/linux/x64/

step "build"
npm run build --silent

step "CUDA loads and gives the CPU's results (shipped family, every stitch, batch 1 and 4)"
STITCHNET_GPU_PROVIDER="$provider" node --input-type=module <<'JS' | tee "$out/parity.txt"
import { StitchRuntime } from './dist/index.js';
const provider = process.env.STITCHNET_GPU_PROVIDER;
const gpu = await StitchRuntime.create({ model: 'models/fmnist-vit', providers: [provider] });
const cpu = await StitchRuntime.create({ model: 'models/fmnist-vit', providers: ['cpu'], fastPath: false });
if (gpu.provider !== provider) {
  console.log(`FAIL: ${provider} not used: ${JSON.stringify(gpu.providerAttempts)}`);
  process.exit(1);
}
let worst = 0;
const paths = new Set();
for (const s of gpu.manifest.stitches) {
  for (const batch of [1, 4]) {
    const x = Float32Array.from({ length: batch * 28 * 28 }, (_, i) => Math.sin(i * 0.37 + s.id));
    // On a device provider the fast path fuses the active stitch at once: run twice, see both paths.
    for (let k = 0; k < 3; k++) {
      const [g, c] = [await gpu.run(x, { stitch: s.id }), await cpu.run(x, { stitch: s.id })];
      paths.add(g.path);
      for (let i = 0; i < c.logits.length; i++) worst = Math.max(worst, Math.abs(g.logits[i] - c.logits[i]));
    }
  }
}
console.log(`${provider} vs cpu: max |Δlogits| ${worst.toExponential(2)} over ${gpu.manifest.stitches.length} stitches; paths seen: ${[...paths].join(', ')}`);
await Promise.all([gpu.close(), cpu.close()]);
if (!(worst < 1e-3)) process.exit(1);
JS

step "bench on $provider"
node --expose-gc dist/bench/main.js --provider "$provider" --json "$out/bench-$provider.json" | tee "$out/bench-$provider.txt"

step "tests that choose a provider (the default preference tries CUDA first)"
npx vitest run test/engine/providers.test.ts test/runtime/stitch-runtime.test.ts test/engine/routes.test.ts test/engine/engine.test.ts

step "done: results in $out/"
