#!/usr/bin/env bash
# Prepare what a GPU call of research/gpu_frontier.sh carries (run here, once per checkout, before the call):
#   .whl/        the wheels the GPU image lacks (deepinv and natsort, for Python 3.12)
#   .gpu/photos  the scikit-image colour photographs the "natural" colour law reads
#   .gpu/data    the dev sets (Kodak24, Set14, Set5) from $PNPLEAVES_DATA/testsets
# Both folders are excluded from git (.git/info/exclude) and named in the call's `carry`.
set -euo pipefail
cd "$(dirname "$0")/.."
: "${PNPLEAVES_DATA:?set PNPLEAVES_DATA to the folder that holds testsets/}"
for d in /.whl/ /.gpu/; do grep -qxF "$d" .git/info/exclude || echo "$d" >> .git/info/exclude; done
mkdir -p .whl .gpu/photos .gpu/data
python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
  --platform manylinux_2_28_x86_64 --platform manylinux2014_x86_64 -d .whl deepinv==0.5.0 natsort
python3 - <<'PY'
import shutil, os, skimage.data
from pnpleaves.generators.colors import SKIMAGE_PHOTOS
src = os.path.dirname(skimage.data.__file__)
for name in SKIMAGE_PHOTOS:
    shutil.copy(os.path.join(src, name), os.path.join(".gpu/photos", name))
PY
for s in Kodak24 Set14 Set5; do rm -rf ".gpu/data/$s"; cp -r "$PNPLEAVES_DATA/testsets/$s" .gpu/data/; done
du -sh .whl .gpu
