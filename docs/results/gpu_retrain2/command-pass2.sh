export PYTHONUNBUFFERED=1 MPLBACKEND=Agg OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 PYTHONPATH=$PWD:/tmp/site
ls /tmp/run | head -3
timeout 330 python3 research/gpu_retrain.py docs/results/gpu_retrain2/plan2.json --testset .gpu/data/Kodak24 --out /tmp/run --n-images 200 --gen-workers 8 --loader-workers 2 --deadline 295 --reserve 45 > /tmp/run/driver2.log 2>&1
mkdir -p /tmp/run2; for d in /tmp/run/*2-p1 /tmp/run/*2-p2 /tmp/run/*2-eval.csv /tmp/run/summary.csv /tmp/run/driver2.log; do cp -r $d /tmp/run2/; done
python3 research/gpu_pack.py --retrain /tmp/run2 --out $OUT
tail -n 12 /tmp/run/driver2.log
