# Sourced after the options: checks --ngpu and --num_nodes before any stage runs. --ngpu 0 runs every
# job on the CPU even where GPUs are (ESPnet's convention): CUDA is hidden from the jobs, which are
# launched with $train_cmd so that a scheduler is asked for no GPU, as one process each (ngpu is 1
# from here on: the single-process launch).
# shellcheck shell=bash disable=SC2154  # ngpu, num_nodes, train_cmd: the caller's options and cmd.sh
for v in ngpu num_nodes; do
  [[ ${!v} =~ ^[0-9]+$ ]] || { echo "$0: --$v must be a non-negative integer, got '${!v}'" >&2; exit 1; }
done
[ "$num_nodes" -ge 1 ] || { echo "$0: --num_nodes must be at least 1, got '$num_nodes'" >&2; exit 1; }
if [ "$ngpu" -eq 0 ]; then
  [ "$num_nodes" -eq 1 ] || { echo "$0: --ngpu 0 (CPU) runs one process per job on one node; --num_nodes $num_nodes needs GPUs" >&2; exit 1; }
  echo "$0: --ngpu 0: every job runs on the CPU (CUDA_VISIBLE_DEVICES is empty for them)"
  export CUDA_VISIBLE_DEVICES=""
  cuda_cmd=$train_cmd
  ngpu=1
fi
