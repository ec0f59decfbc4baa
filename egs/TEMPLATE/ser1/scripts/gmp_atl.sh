#!/usr/bin/env bash
# GMP-ATL (Pan et al., Interspeech 2024) pipeline shared by the egs/<corpus>/gmp_atl recipes, in the
# way of ESPnet's egs2/TEMPLATE/asr1/asr.sh: each recipe's run.sh sets its corpus defaults as options
# and calls this script from the recipe dir (local/ = the corpus's data prep, conf/ = its configs):
#   scripts/gmp_atl.sh [--opt value ...]      (options and defaults below; --help lists them)
# Stages, per fold: 0 data prep (local/data.sh) and folds; 1 HuBERT -> BiLSTM emotion + gender model;
# 2 its layer -3 frames; 3 multi-scale k-means pseudo-labels (GMPs); 4 HuBERT retrained to predict
# masked GMPs; 5 fine-tuned with AM-softmax; 6 scoring -> RESULTS.md.
set -euo pipefail
cmdline="$0${1+$(printf " %q" "$@")}"
. ./path.sh; . ./cmd.sh

# >>> options
stage=0; stop_stage=100
local_data_opts=              # options of stage 0's local/data.sh
scheme=session                # fold scheme of data/folds (IEMOCAP: session or speaker; RAVDESS: emobox or speaker)
folds=                        # e.g. "1 3"; empty = every fold
classes=neu,hap,ang,sad       # scored classes, in the order of the confusion matrices
upstream=hubert               # s3prl upstream with a trainable transformer (hubert_large_ll60k, wavlm_base_plus, ...)
upstream_path=                # checkpoint for hubert_local / hf_hubert_custom (no spaces)
tiny_upstream=false           # true: stage 1 first saves a random HuBERT-shaped model at $upstream_path
hubert_dim=64; hubert_layers=4  # its size: hidden dims, transformer layers,
hubert_heads=2                #   attention heads,
hubert_ffn_dim=128            #   feed-forward dims (empty: 4 x hubert_dim),
hubert_conv_dim=32            #   channels of the conv front end (empty: hubert_dim)
gmp_layer=-3                  # upstream layer whose frames are clustered
scales="64 512 4096"          # k-means codebook sizes
km_fit_frames=                # k-means fit sample (fixed, seeded) of a fold's training frames; empty: 256 x max K, <= 1 M
nj=2                          # parallel jobs of the layer dump
phase1_infer=true             # also score phase 1's own emotion head (the phase1_only row)
ablations=                    # extra RESULTS.md rows, any of: no_gmp ce no_gmp_ce layer-1 ... layer-8
phase1_config=conf/phase1.yaml; phase2_config=conf/phase2.yaml; phase3_config=conf/phase3.yaml
phase1_overrides=; phase2_overrides=; phase3_overrides=  # more config keys per phase, e.g. "train.max_epochs=8"
parallel=1                    # folds trained at once in stages 1, 4, 5 (one job each)
tag=                          # suffix of exp/gmp_atl_<upstream> and dump/gmp_atl_<upstream>
title=GMP-ATL                 # RESULTS.md title
corpus_note=                  # start of the RESULTS.md note (the corpus used)
cmdline=$cmdline              # the command recorded in RESULTS.md (run.sh passes its own)
# <<< options
help_message="Usage: $0 [--opt value ...]  (run from a recipe dir; its run.sh sets corpus defaults)
Options (--name value or --name=value; --config FILE sources shell assignments first), defaults here:
$(sed -n '/^# >>> options/,/^# <<< options/{/^# /d;s/^/  /;s/\\/\\\\/g;p}' "${BASH_SOURCE[0]}")"
. utils/parse_options.sh
if [ $# -ne 0 ]; then echo "$0: unexpected argument '$1' (options are --name value; see --help)" >&2; exit 1; fi

exp=exp/gmp_atl_${upstream}${tag}; dump=dump/gmp_atl_${upstream}${tag}
up="model.upstream=$upstream model.upstream_path=${upstream_path:-null}"
layers=$gmp_layer; systems="gmp_atl_L$gmp_layer:L$gmp_layer/phase3:L$gmp_layer/phase2:am"  # name:dir:init:loss
for a in $ablations; do case $a in
  no_gmp) systems+=" no_gmp:no_gmp/phase3:phase1:am";;
  no_gmp_ce) systems+=" no_gmp_ce:no_gmp/phase3_ce:phase1:ce";;
  ce) systems+=" ce_L$gmp_layer:L$gmp_layer/phase3_ce:L$gmp_layer/phase2:ce";;
  layer-[1-9]*) layers+=" ${a#layer}"; systems+=" gmp_atl_L${a#layer}:L${a#layer}/phase3:L${a#layer}/phase2:am";;
  *) echo "$0: unknown ablation '$a' (no_gmp ce no_gmp_ce layer-N)" >&2; exit 1;;
esac; done

if [ $stage -le 0 ] && [ $stop_stage -ge 0 ]; then
  echo "stage 0: data prep and folds -> data/all, data/folds"
  # shellcheck disable=SC2086
  local/data.sh $local_data_opts
fi
if [ $stage -le 1 ] && [ $stop_stage -ge 1 ]; then
  if [ "$tiny_upstream" = true ]; then
    python -c "from ser.features.upstream import make_tiny_hubert as m; m('$upstream_path', hidden_size=$hubert_dim, num_layers=$hubert_layers, heads=$hubert_heads, intermediate_size=${hubert_ffn_dim:-$((4 * hubert_dim))}, conv_dim=${hubert_conv_dim:-$hubert_dim})"
  fi
  echo "stage 1: phase 1 ($upstream -> BiLSTM, emotion + gender) -> $exp/phase1/fold*"
  scripts/gmp_train_folds.sh --train_config $phase1_config --scheme $scheme --folds "$folds" --cmd "$cuda_cmd" --parallel $parallel \
    --infer $phase1_infer --overrides "$up $phase1_overrides" $exp/phase1
fi
if [ $stage -le 2 ] && [ $stop_stage -ge 2 ]; then
  for L in $layers; do
    echo "stage 2: layer $L of each fold's phase-1 upstream, every utterance -> $dump/L$L/fold*"
    scripts/gmp_dump_layer.sh --layer $L --nj $nj --cmd "$train_cmd" --scheme $scheme --folds "$folds" $exp/phase1 data/all $dump/L$L
  done
fi
if [ $stage -le 3 ] && [ $stop_stage -ge 3 ]; then
  for L in $layers; do
    echo "stage 3: k-means k = $scales on each fold's training frames of layer $L -> $exp/L$L/km/fold*"
    scripts/gmp_kmeans.sh --ks "${scales// /,}" --max_fit_frames "$km_fit_frames" --cmd "$train_cmd" --scheme $scheme --folds "$folds" $dump/L$L $exp/L$L/km
  done
fi
if [ $stage -le 4 ] && [ $stop_stage -ge 4 ]; then
  for L in $layers; do
    echo "stage 4: phase 2 (predicting masked GMPs of layer $L) -> $exp/L$L/phase2/fold*"
    scripts/gmp_train_folds.sh --train_config $phase2_config --scheme $scheme --folds "$folds" --cmd "$cuda_cmd" --parallel $parallel --infer false \
      --feats "$(for s in $scales; do echo "km$s=$exp/L$L/km/fold{fold}/labels_k$s.scp"; done)" \
      --overrides "$up model.init_from=$exp/phase1/fold{fold}/model.best.pt model.scales=[${scales// /,}] data.feats=[km${scales// /,km}] $phase2_overrides" $exp/L$L/phase2
  done
fi
if [ $stage -le 5 ] && [ $stop_stage -ge 5 ]; then
  for s in $systems; do IFS=: read -r name dir init loss <<< "$s"
    echo "stage 5: phase 3 ($name: from $init, loss $loss) -> $exp/$dir/fold*"
    scripts/gmp_train_folds.sh --train_config $phase3_config --scheme $scheme --folds "$folds" --cmd "$cuda_cmd" --parallel $parallel \
      --overrides "$up model.init_from=$exp/$init/fold{fold}/model.best.pt model.loss=$loss $phase3_overrides" $exp/$dir
  done
fi
if [ $stage -le 6 ] && [ $stop_stage -ge 6 ]; then
  echo "stage 6: scoring -> $exp/RESULTS.md"
  scratch=
  if [ "$tiny_upstream" = true ]; then
    scratch="Upstream trained FROM SCRATCH: a randomly initialised HuBERT-shaped model ($hubert_layers x $hubert_dim), so phase-1 pseudo-labels come from what it learns on this corpus alone, not from HuBERT pre-training. "
  fi
  scripts/gmp_score.sh --scheme $scheme --folds "$folds" --classes "$classes" --title "$title" --command "$cmdline" \
    --note "${corpus_note:+$corpus_note }${scratch}Folds: $scheme ${folds:-(all)}. Upstream: $upstream${upstream_path:+ ($upstream_path)}; GMP layer $gmp_layer, k = $scales; systems: phase1_only = phase 1 emotion head, $systems (name:dir:init:loss)." \
    $exp/RESULTS.md $([ $phase1_infer = true ] && echo "phase1_only=$exp/phase1") $(for s in $systems; do IFS=: read -r n d _ <<< "$s"; echo "$n=$exp/$d"; done)
fi
