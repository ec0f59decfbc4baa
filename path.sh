# shellcheck shell=bash
# Sourced by every recipe (through its own path.sh link): activates the project venv.
SER_ROOT=$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")" && pwd -P)
export SER_ROOT
if [ -f "$SER_ROOT/tools/venv/bin/activate" ]; then
  # shellcheck disable=SC1091
  . "$SER_ROOT/tools/venv/bin/activate"
else
  echo "path.sh: $SER_ROOT/tools/venv is missing; run tools/install.sh first" >&2
fi
export PATH="$SER_ROOT/tools/utils:$PATH"
# This checkout's ser, not whichever one the venv was installed from (clones share one venv).
export PYTHONPATH="$SER_ROOT${PYTHONPATH:+:$PYTHONPATH}"
# One BLAS thread per job: the launchers run jobs in parallel, and oversubscription is slower.
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
export LC_ALL=C
export PYTHONIOENCODING=UTF-8
# Weights must come from local folders or the s3prl cache; never wait on a hub we cannot reach.
export HF_HUB_OFFLINE=${HF_HUB_OFFLINE:-1}
export TRANSFORMERS_OFFLINE=${TRANSFORMERS_OFFLINE:-1}
