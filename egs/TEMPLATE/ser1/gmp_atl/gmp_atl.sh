#!/usr/bin/env bash
# GMP-ATL (Pan et al., Interspeech 2024) pipeline shared by the egs/<corpus>/gmp_atl recipes, in the
# way of ESPnet's egs2/TEMPLATE/asr1/asr.sh: each recipe's run.sh sets its corpus defaults as options
# and calls this script from the recipe dir (local/ = the corpus's data prep, conf/ = its configs):
#   gmp/gmp_atl.sh [--opt value ...]      (options and defaults below; --help lists them)
# Stages, per fold: 0 data prep (local/data.sh) and folds; 1 upstream -> BiLSTM emotion + gender model
# (with --trainable_layers, first the frozen layers' output of every utterance, once); 2 its layer -3
# frames; 3 multi-scale k-means pseudo-labels (GMPs); 4 upstream retrained to predict masked GMPs;
# 5 fine-tuned with AM-softmax; 6 scoring -> RESULTS.md.
set -euo pipefail
cmdline="$0${1+$(printf " %q" "$@")}"
. ./path.sh; . ./cmd.sh

# >>> options
stage=0; stop_stage=100
local_data_opts=              # options of stage 0's local/data.sh
scheme=session                # fold scheme of data/folds (IEMOCAP: session or speaker; RAVDESS: emobox, speaker, emobox_dev)
main_scheme=session           # its outputs go to exp/ and dump/; any other scheme's to exp/<scheme>/, dump/<scheme>/
folds=                        # e.g. "1 3"; empty = every fold
classes=neu,hap,ang,sad       # scored classes, in the order of the confusion matrices
upstream=hubert               # upstream with a trainable transformer (hubert_large_ll60k, wavlm_base_plus, whisper_base, ...)
upstream_path=                # checkpoint for hubert_local / hf_hubert_custom / whisper_custom (no spaces)
tiny_upstream=false           # true: stage 1 first saves a random HuBERT-shaped model at $upstream_path
hubert_dim=64; hubert_layers=4  # its size: hidden dims, transformer layers,
hubert_heads=2                #   attention heads,
hubert_ffn_dim=128            #   feed-forward dims (empty: 4 x hubert_dim),
hubert_conv_dim=32            #   channels of the conv front end (empty: hubert_dim)
trainable_layers=             # N: only the top N transformer layers train (partial fine-tuning; phases 1 and 3
                              # read the frozen layers' output, dumped once); empty: every layer trains
gmp_layer=-3                  # upstream layer whose frames are clustered
gmp_layer_norm=false          # layer-normalise those frames before k-means (pre-LN encoders such as Whisper)
scales="64 512 4096"          # k-means codebook sizes
km_fit_frames=                # k-means fit sample (fixed, seeded) of a fold's training frames; empty: max(256 x max K, 2^20)
phase2_init=phase1            # phase 2 starts from phase 1's upstream (phase1) or the pre-trained one (pretrained)
nj=2                          # parallel jobs of the layer dumps
phase1_infer=true             # also score phase 1's own emotion head (the phase1_only row)
ablations=                    # extra RESULTS.md rows, any of: no_gmp ce no_gmp_ce layer-1 ... layer-8 single_scale no_gender
single_scale_k=               # the codebook of the single_scale ablation (empty: the middle of $scales)
phase1_config=conf/phase1.yaml; phase2_config=conf/phase2.yaml; phase3_config=conf/phase3.yaml
phase1_overrides=; phase2_overrides=; phase3_overrides=  # more config keys per phase, e.g. "train.max_epochs=8"
parallel=1                    # folds run at once in stages 1, 3, 4, 5 (one job each)
ngpu=1                        # GPUs per training job (0: CPU only; N > 1: DDP through scripts/torchrun.sh, see scripts/train_folds.sh)
num_nodes=1                   # nodes per training job (a Slurm $cuda_cmd)
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
case $phase2_init in phase1|pretrained) ;; *) echo "$0: --phase2_init must be phase1 or pretrained" >&2; exit 1;; esac
. scripts/devices.sh

# Another scheme's folds share fold numbers with the main one: their outputs must never mix.
sub=; [ "$scheme" = "$main_scheme" ] || sub=$scheme/
exp=exp/${sub}gmp_atl_${upstream}${tag}; dump=dump/${sub}gmp_atl_${upstream}${tag}
frozen=dump/gmp_atl_${upstream}${tag}/frozen_top${trainable_layers}  # the pre-trained bottom: any scheme, fold, phase
up="model.upstream=$upstream model.upstream_path=${upstream_path:-null}"
p13=(); p2=; dump_opts=()
if [ -n "$trainable_layers" ]; then  # phases 1 and 3 read the frozen bottom's cache; phase 2 masks at the input
  p13=(--feats "frozen=$frozen/feats.scp")
  up13="$up model.trainable_layers=$trainable_layers data.use_wav=false data.feats=[frozen]"
  p2=" model.trainable_layers=$trainable_layers"
  dump_opts=(--frozen "$frozen/feats.scp")
else
  up13=$up
fi
read -r -a scale_list <<< "$scales"
single_k=${single_scale_k:-${scale_list[$(( ${#scale_list[@]} / 2 ))]}}

# What each stage runs, as colon-separated records:
#   phase1s  dir:extra overrides                          (stage 1)
#   chains   phase-1 dir:output prefix:layer              (stages 2, 3: dump, k-means)
#   phase2s  phase-1 dir:prefix:suffix:layer:scales,...   (stage 4)
#   systems  name:dir:init:loss                           (stage 5, and the rows of stage 6)
ks=${scales// /,}              # the scales as one word (records are split on spaces)
phase1s="phase1:"; chains="phase1::$gmp_layer"; phase2s="phase1:::$gmp_layer:$ks"
systems="gmp_atl_L$gmp_layer:L$gmp_layer/phase3:L$gmp_layer/phase2:am"; rows=
[ "$phase1_infer" = true ] && rows="phase1_only=$exp/phase1"
for a in $ablations; do case $a in
  no_gmp) systems+=" no_gmp:no_gmp/phase3:phase1:am";;
  no_gmp_ce) systems+=" no_gmp_ce:no_gmp/phase3_ce:phase1:ce";;
  ce) systems+=" ce_L$gmp_layer:L$gmp_layer/phase3_ce:L$gmp_layer/phase2:ce";;
  layer-[1-9]*) L=${a#layer}; chains+=" phase1::$L"; phase2s+=" phase1:::$L:$ks"
    systems+=" gmp_atl_L$L:L$L/phase3:L$L/phase2:am";;
  single_scale) phase2s+=" phase1::_k$single_k:$gmp_layer:$single_k"
    systems+=" single_scale_k$single_k:L$gmp_layer/phase3_k$single_k:L$gmp_layer/phase2_k$single_k:am";;
  no_gender) phase1s+=" phase1_nogender:model.alpha=1.0"; chains+=" phase1_nogender:nogender/:$gmp_layer"
    phase2s+=" phase1_nogender:nogender/::$gmp_layer:$ks"
    systems+=" no_gender:nogender/L$gmp_layer/phase3:nogender/L$gmp_layer/phase2:am"
    [ "$phase1_infer" = true ] && rows+=" phase1_only_no_gender=$exp/phase1_nogender";;
  *) echo "$0: unknown ablation '$a' (no_gmp ce no_gmp_ce layer-N single_scale no_gender)" >&2; exit 1;;
esac; done
[[ " $scales " == *" $single_k "* ]] || { echo "$0: --single_scale_k $single_k is not one of the scales '$scales'" >&2; exit 1; }

if [ $stage -le 0 ] && [ $stop_stage -ge 0 ]; then
  echo "stage 0: data prep and folds -> data/all, data/folds"
  # shellcheck disable=SC2086
  local/data.sh $local_data_opts
fi
if [ $stage -le 1 ] && [ $stop_stage -ge 1 ]; then
  if [ "$tiny_upstream" = true ]; then
    python -m ser.bin.make_tiny_upstream --kind hubert --dim $hubert_dim --layers $hubert_layers --heads $hubert_heads \
      --ffn-dim ${hubert_ffn_dim:-$((4 * hubert_dim))} --conv-dim ${hubert_conv_dim:-$hubert_dim} "$upstream_path"
  fi
  if [ -n "$trainable_layers" ]; then
    echo "stage 1: output of $upstream's frozen layers (all but the top $trainable_layers), every utterance -> $frozen"
    gmp/dump_frozen.sh --upstream "$upstream" --upstream_path "$upstream_path" --trainable_layers "$trainable_layers" \
      --nj $nj --cmd "$train_cmd" data/all "$frozen"
  fi
  for p in $phase1s; do IFS=: read -r dir extra <<< "$p"
    echo "stage 1: phase 1 ($upstream -> BiLSTM, emotion + gender${extra:+, $extra}) -> $exp/$dir/fold*"
    scripts/train_folds.sh --train_config $phase1_config --scheme $scheme --folds "$folds" --cmd "$cuda_cmd" --parallel $parallel --ngpu $ngpu --num_nodes $num_nodes \
      --infer $phase1_infer "${p13[@]}" --overrides "$up13 $extra $phase1_overrides" $exp/$dir
  done
fi
if [ $stage -le 2 ] && [ $stop_stage -ge 2 ]; then
  for c in $chains; do IFS=: read -r p1 pre L <<< "$c"
    echo "stage 2: layer $L of each fold's $p1 upstream, every utterance -> $dump/${pre}L$L/fold*"
    gmp/dump_layer.sh --layer $L --layer_norm $gmp_layer_norm --nj $nj --cmd "$train_cmd" --scheme $scheme --folds "$folds" "${dump_opts[@]}" \
      $exp/$p1 data/all $dump/${pre}L$L
  done
fi
if [ $stage -le 3 ] && [ $stop_stage -ge 3 ]; then
  for c in $chains; do IFS=: read -r p1 pre L <<< "$c"
    echo "stage 3: k-means k = $scales on each fold's training frames of layer $L ($p1) -> $exp/${pre}L$L/km/fold*"
    gmp/kmeans.sh --ks "$ks" --max_fit_frames "$km_fit_frames" --cmd "$train_cmd" --scheme $scheme --folds "$folds" --parallel $parallel \
      $dump/${pre}L$L $exp/${pre}L$L/km
  done
fi
if [ $stage -le 4 ] && [ $stop_stage -ge 4 ]; then
  for r in $phase2s; do IFS=: read -r p1 pre suf L k2 <<< "$r"
    init="model.init_from=$exp/$p1/fold{fold}/model.best.pt"; [ "$phase2_init" = phase1 ] || init="model.init_from=null"
    echo "stage 4: phase 2 (predicting masked GMPs of layer $L, k = $k2; from $([ "$phase2_init" = phase1 ] && echo "$p1" || echo "the pre-trained upstream")) -> $exp/${pre}L$L/phase2$suf/fold*"
    scripts/train_folds.sh --train_config $phase2_config --scheme $scheme --folds "$folds" --cmd "$cuda_cmd" --parallel $parallel --ngpu $ngpu --num_nodes $num_nodes --infer false \
      --feats "$(for s in ${k2//,/ }; do echo "km$s=$exp/${pre}L$L/km/fold{fold}/labels_k$s.scp"; done)" \
      --overrides "$up$p2 $init model.scales=[$k2] data.feats=[km${k2//,/,km}] $phase2_overrides" $exp/${pre}L$L/phase2$suf
  done
fi
if [ $stage -le 5 ] && [ $stop_stage -ge 5 ]; then
  for s in $systems; do IFS=: read -r name dir init loss <<< "$s"
    echo "stage 5: phase 3 ($name: from $init, loss $loss) -> $exp/$dir/fold*"
    scripts/train_folds.sh --train_config $phase3_config --scheme $scheme --folds "$folds" --cmd "$cuda_cmd" --parallel $parallel --ngpu $ngpu --num_nodes $num_nodes \
      "${p13[@]}" --overrides "$up13 model.init_from=$exp/$init/fold{fold}/model.best.pt model.loss=$loss $phase3_overrides" $exp/$dir
  done
fi
if [ $stage -le 6 ] && [ $stop_stage -ge 6 ]; then
  echo "stage 6: scoring -> $exp/RESULTS.md"
  scratch=
  if [ "$tiny_upstream" = true ]; then
    scratch="Upstream trained FROM SCRATCH: a randomly initialised HuBERT-shaped model ($hubert_layers x $hubert_dim), so phase-1 pseudo-labels come from what it learns on this corpus alone, not from HuBERT pre-training. "
  fi
  partial=${trainable_layers:+ Only the top $trainable_layers transformer layers trained (the rest frozen, their output cached).}
  # shellcheck disable=SC2046  # one word per system
  scripts/score_folds.sh --scheme $scheme --folds "$folds" --classes "$classes" --title "$title" --command "$cmdline" \
    --note "${corpus_note:+$corpus_note }${scratch}Folds: $scheme ${folds:-(all)}. Upstream: $upstream${upstream_path:+ ($upstream_path)}.$partial GMP layer $gmp_layer, k = $scales; phase 2 from $phase2_init; systems: phase1_only = phase 1 emotion head, $systems (name:dir:init:loss)." \
    --out $exp/RESULTS.md $rows $(for s in $systems; do IFS=: read -r n d _ <<< "$s"; echo "$n=$exp/$d"; done)
fi
