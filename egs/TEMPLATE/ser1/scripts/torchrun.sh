#!/usr/bin/env bash
# Runs a python module (e.g. ser.bin.train) data-parallel through torchrun: --ngpu processes per
# node, one GPU each (ser.train.distributed; gloo on a machine without GPUs). --ngpu 1 on one node
# runs `python -m <module>` itself, as one ordinary process.
#   scripts/torchrun.sh [--ngpu 1] [--num_nodes 1] [--master_port PORT] <module> [<arg> ...]
# One node: torchrun --standalone (a free rendezvous port of its own, so parallel folds do not meet).
# Several nodes: this script runs once per node (utils/slurm.py --num-nodes N starts it through
# srun); the first host of $SLURM_JOB_NODELIST is the master, $SLURM_NODEID the node's rank, and the
# port (default) 20000 + $SLURM_JOB_ID mod 20000, so jobs sharing a first node (array tasks: folds) differ.
set -euo pipefail
ngpu=1
num_nodes=1
master_port=
. utils/parse_options.sh
if [ $# -lt 1 ]; then echo "usage: $0 [--ngpu N] [--num_nodes M] <module> [<arg> ...]" >&2; exit 1; fi
module=$1; shift
for v in ngpu num_nodes; do
  [[ ${!v} =~ ^[1-9][0-9]*$ ]] || { echo "$0: --$v must be a positive integer, got '${!v}'" >&2; exit 1; }
done
if [ "$ngpu" -eq 1 ] && [ "$num_nodes" -eq 1 ]; then exec python -m "$module" "$@"; fi
if [ "$num_nodes" -eq 1 ]; then
  exec python -m torch.distributed.run --standalone --nnodes 1 --nproc_per_node "$ngpu" -m "$module" "$@"
fi
if [ -z "${SLURM_JOB_NODELIST:-}" ] || [ -z "${SLURM_NODEID:-}" ]; then
  echo "$0: --num_nodes $num_nodes needs Slurm's SLURM_JOB_NODELIST and SLURM_NODEID (run it through utils/slurm.py --num-nodes $num_nodes)" >&2
  exit 1
fi
if [ "${SLURM_NNODES:-$num_nodes}" -ne "$num_nodes" ]; then
  echo "$0: --num_nodes $num_nodes, but Slurm gave this job $SLURM_NNODES node(s)" >&2; exit 1
fi
master=$(scontrol show hostnames "$SLURM_JOB_NODELIST" | head -n 1)
master_port=${master_port:-$((20000 + ${SLURM_JOB_ID:-0} % 20000))}
echo "$0: node $SLURM_NODEID of $num_nodes, $ngpu process(es) here, master $master:$master_port"
exec python -m torch.distributed.run --nnodes "$num_nodes" --node_rank "$SLURM_NODEID" --nproc_per_node "$ngpu" \
  --master_addr "$master" --master_port "$master_port" -m "$module" "$@"
