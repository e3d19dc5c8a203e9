#!/usr/bin/env bash
# GPU check, a few minutes: a tiny GSM8K-format sweep end to end on the GPU (a locally built model and
# reward models, the GSM8K sample in tests/data), then the engine benchmark on the GPU (tokens/s of
# ttc's sampler, transformers' generate() and vLLM when installed).
#     bash benchmarks/gpu_check.sh            # after: pip install -e ".[dev]" with a CUDA torch
set -euo pipefail
cd "$(dirname "$0")/.."
python -c "import torch; assert torch.cuda.is_available(), 'no CUDA device visible to torch'; print('#', torch.cuda.get_device_name(0), 'torch', torch.__version__)"
python benchmarks/gpu_tiny_sweep.py --device cuda
python benchmarks/bench_engines.py --device cuda --prompts 256 --samples 16 --tokens 64
