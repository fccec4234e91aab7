#!/usr/bin/env bash
# The webgpu backend on a real GPU: Linux with an NVIDIA GPU, its driver and the driver's Vulkan ICD.
#
#   scripts/gpu-check.sh     (from anywhere; STEPS=5 WARMUP=2 BENCH_STEPS=20 change the lengths, METHODS=simclr,byol
#                             and BATCH=64 the configs; VK_ICD_FILENAMES picks a Vulkan driver as usual)
#
# 1. Says what it runs on: the GPU (nvidia-smi), the Vulkan loader and ICDs, Node, the CPU.
# 2. Installs the project's packages from the npm registry (npm ci --ignore-scripts: no install script
#    downloads anything from elsewhere; the webgpu package carries dawn.node) unless node_modules is there.
# 3. Trains every method's default config (batch 256, encoder 'small') for WARMUP + STEPS steps on webgpu
#    and on wasm from the same weights and batches: per method the warm-up (shader compilation) time,
#    webgpu ms/step and views/s, wasm ms/step, the largest relative loss difference, whether the tensor
#    count stays flat, and the refused synchronous GPU reads (scripts/webgpu-check.ts).
# 4. Throughput of SimCLR's default config on webgpu and on wasm (1 and 2 threads), and where python3 has
#    torch with CUDA, the PyTorch peer on the same GPU in the same invocation (src/bench.ts), with ratios.
set -euo pipefail
cd "$(dirname "$0")/.."
STEPS="${STEPS:-5}"
WARMUP="${WARMUP:-2}"
BENCH_STEPS="${BENCH_STEPS:-20}"
METHODS="${METHODS:-all}"
BATCH="${BATCH:-256}"

echo "== machine"
if command -v nvidia-smi >/dev/null; then
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
else
  echo "nvidia-smi not found: this check is meant for a machine with an NVIDIA GPU and its driver" >&2
fi
loader=no
/sbin/ldconfig -p 2>/dev/null | grep -q 'libvulkan\.so\.1' && loader=yes
for d in ${LD_LIBRARY_PATH//:/ }; do [ -e "$d/libvulkan.so.1" ] && loader=yes; done
if [ "$loader" = no ]; then
  echo "no Vulkan loader (libvulkan.so.1): install it (Debian/Ubuntu: apt-get install libvulkan1); Dawn needs it to reach the GPU" >&2
  exit 1
fi
icds=$(ls /usr/share/vulkan/icd.d/*.json /etc/vulkan/icd.d/*.json 2>/dev/null || true)
echo "Vulkan ICDs: ${icds:-none found in /usr/share/vulkan/icd.d or /etc/vulkan/icd.d}"
if ! grep -qil nvidia $icds /dev/null 2>/dev/null; then
  echo "warning: no NVIDIA Vulkan ICD (nvidia_icd.json): the driver's Vulkan part may be missing (e.g. libnvidia-gl, or NVIDIA_DRIVER_CAPABILITIES=all in a container)" >&2
fi
echo "node $(node --version), $(nproc) CPUs: $(lscpu | sed -n 's/^Model name: *//p' | head -1)"
# Dawn's Vulkan backend wants a runtime directory; a bare ssh or container session may have none.
if [ -z "${XDG_RUNTIME_DIR:-}" ]; then
  XDG_RUNTIME_DIR="$(mktemp -d)"
  chmod 700 "$XDG_RUNTIME_DIR"
  export XDG_RUNTIME_DIR
fi

echo "== packages"
if [ -d node_modules/webgpu ] && [ -d node_modules/tsx ] && [ -d node_modules/@tensorflow/tfjs-backend-webgpu ]; then
  echo "node_modules present"
else
  npm ci --ignore-scripts --no-audit --no-fund
fi

echo "== each method's default config (batch $BATCH): webgpu vs wasm"
node --import tsx scripts/webgpu-check.ts --methods "$METHODS" --batch "$BATCH" --warmup "$WARMUP" --steps "$STEPS"

echo "== SimCLR throughput, default config (batch $BATCH, encoder small)"
peer=(--no-peer)
if command -v python3 >/dev/null && python3 -c 'import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)' 2>/dev/null; then
  peer=(--peer-device cuda --python "$(command -v python3)")
else
  echo "(no PyTorch peer: python3 has no torch with a usable CUDA device)"
fi
node --import tsx src/bench.ts --method simclr --batch "$BATCH" --backends webgpu,wasm --threads 1,2 --steps "$BENCH_STEPS" --warmup "$WARMUP" "${peer[@]}"
