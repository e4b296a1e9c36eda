set -o pipefail; export PYTHONUNBUFFERED=1 MPLBACKEND=Agg OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/site .whl/*.whl && export PYTHONPATH=$PWD:/tmp/site || exit 1
SK=$(python3 -c "import skimage.data,os;print(os.path.dirname(skimage.data.__file__))"); cp -n .gpu/photos/* "$SK"/
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader; nproc
mkdir -p /tmp/exp /tmp/run
timeout 545 python3 research/gpu_experiments.py --out /tmp/exp --testset .gpu/data/Kodak24 --testset .gpu/data/Set14 --budget small --device cuda --gen-workers 8 --deadline 420 > /tmp/exp/driver.log 2>&1 &
E=$!
timeout 545 python3 research/gpu_retrain.py docs/results/gpu_retrain2/plan.json --testset .gpu/data/Kodak24 --out /tmp/run --n-images 200 --gen-workers 8 --loader-workers 2 --deadline 470 --reserve 50 > /tmp/run/driver.log 2>&1
wait $E
python3 research/gpu_pack.py --retrain /tmp/run --experiments /tmp/exp --out $OUT
tail -n 25 /tmp/exp/driver.log; tail -n 14 /tmp/run/driver.log
