# shellcheck shell=bash
# How stages launch jobs. Local machine: utils/run.py runs JOB=1:NJ in parallel here.
# On a Slurm cluster, copy egs/TEMPLATE/ser1/conf/slurm.conf into the recipe's conf/ (set the
# partition and account there) and replace these with:
#   export train_cmd="utils/slurm.py --config conf/slurm.conf"
#   export cuda_cmd="utils/slurm.py --config conf/slurm.conf --gpu 1 --partition gpu"
# utils/run.py --gpu N gives each job N GPUs of its own (CUDA_VISIBLE_DEVICES); without GPUs it runs
# jobs on the CPU.
export train_cmd="utils/run.py"
export cuda_cmd="utils/run.py --gpu 1"
export decode_cmd="utils/run.py"
