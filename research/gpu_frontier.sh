#!/usr/bin/env bash
# One GPU call of issue 23 (<= 9 minutes): train every run of research/plans/frontier.json side by side, each
# from what came back last time (research/gpu_state/NAME.safetensors, else the shipped prior, else scratch),
# evaluate on Kodak24, and pack the fp32 weights and logs into $OUT (device tool's return limits).
# Prepare once here with research/gpu_prepare.sh; call (device tool): command "bash research/gpu_frontier.sh",
# carry [".whl", ".gpu"], timeout_s 590. Afterwards, here (FILES_AT: the reply's files_at):
#   python research/gpu_unpack.py FILES_AT     # weights -> research/gpu_state/, logs -> docs/results/gpu_frontier/
# A CPU dry run of the whole chain: TESTSET=tests/data/images RUN=/tmp/dry DEVICE=cpu DEADLINE=200 N_IMAGES=4 GEN_WORKERS=1 OUT=/tmp/out bash research/gpu_frontier.sh
set -o pipefail
export PYTHONUNBUFFERED=1 MPLBACKEND=Agg OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
DEADLINE=${DEADLINE:-470}; TESTSET=${TESTSET:-.gpu/data/Kodak24}; DEVICE=${DEVICE:-cuda}; N_IMAGES=${N_IMAGES:-300}; GEN_WORKERS=${GEN_WORKERS:-15}
if [ "$DEVICE" = cuda ]; then  # on the GPU machine: its image lacks deepinv and the scikit-image photographs
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/site .whl/*.whl || exit 1
  export PYTHONPATH=$PWD:/tmp/site
  SK=$(python3 -c "import skimage.data,os;print(os.path.dirname(skimage.data.__file__))"); cp -n .gpu/photos/* "$SK"/
  nvidia-smi --query-gpu=name,memory.total --format=csv,noheader
fi
nproc --all; git log -1 --format=%H 2>/dev/null
RUN=${RUN:-/tmp/run}; mkdir -p "$RUN"
timeout $((DEADLINE + 60)) python3 research/gpu_retrain.py research/plans/frontier.json --testset "$TESTSET" \
  --out "$RUN" --n-images "$N_IMAGES" --gen-workers "$GEN_WORKERS" --loader-workers 2 --deadline "$DEADLINE" \
  --reserve 50 --device "$DEVICE" 2>&1 | tee "$RUN/driver.log"
python3 research/gpu_pack.py --retrain "$RUN" --out "$OUT"
