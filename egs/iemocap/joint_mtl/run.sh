#!/usr/bin/env bash
# Joint emotion classification + V/A/D regression on IEMOCAP (parallel encoders over MFCC, STF, log
# mel, raw waveform, wav2vec 2.0 and HuBERT; self- and co-attention; fixed / dynamic / GradNorm task
# weighting), leave one subject out. See README.md for the paper, every choice made and the results.
set -euo pipefail
set -f  # no globbing: overrides such as data.feats=[mfcc,stf] hold brackets
. ./path.sh; . ./cmd.sh; . ./db.sh

stage=0; stop_stage=100
nj=4                          # parallel feature-dumping jobs
scheme=speaker                # speaker: 10 folds, leave one subject out (session: 5 folds)
folds=                        # e.g. "1 3"; empty = every fold
classical="mfcc stf mel"      # stage 1: torchaudio / STF features -> dump/<kind>
ssl="w2v2=wav2vec2 hubert=hubert"  # stage 2: store=s3prl upstream -> dump/<store>_<upstream>
ssl_paths=                    # store=local checkpoint, e.g. "hubert=/ckpt/hubert_base_ls960.pt" (with hubert_local)
ssl_layers=all                # hidden layers to keep ("all" or e.g. "-1,-4,-7")
ssl_float16=true              # half-precision SSL dumps (half the disk)
tiny_hubert=                  # demo only: make a random tiny HuBERT here first (download-free stand-in)
conf_dir=conf/tuning
systems="cls_only reg_only joint_fixed joint_dwa joint_gradnorm"
lambdas="0.1 0.2 0.3 0.4 0.5 0.6 0.7 0.8 0.9"  # joint_fixed is trained once per lambda
overrides=                    # extra config overrides for every system, e.g. "train.max_epochs=2 model.dim=64"
tag=
demo=auto                     # auto: the built-in corpus and conf/demo when IEMOCAP is unset
cmdline="$0${1+$(printf " %q" "$@")}"  # quoted, so the command in RESULTS.md can be pasted
if [ "$demo" = auto ] && [ -z "$IEMOCAP" ]; then . conf/demo/run.conf; fi
. utils/parse_options.sh
exp=exp/${scheme}${tag}

expand_systems() {  # "<exp name> <config> [override]" per trained system
  for s in $systems; do
    if [ "$s" = joint_fixed ]; then for l in $lambdas; do echo "${s}_lam$l $conf_dir/$s.yaml model.lam=$l"; done
    else echo "$s $conf_dir/$s.yaml"; fi
  done
}
feats_of() { scripts/joint_mtl_feats.sh --classical "$classical" --ssl "$ssl" --overrides "${2:-}" "$1"; }

if [ $stage -le 0 ] && [ $stop_stage -ge 0 ]; then
  echo "stage 0: data prep and folds -> data/all, data/folds/$scheme"
  local/data.sh
fi
if [ $stage -le 1 ] && [ $stop_stage -ge 1 ]; then
  for kind in $classical; do
    echo "stage 1: $kind features -> dump/$kind"
    scripts/dump_feats.sh --nj $nj --cmd "$train_cmd" --kind "$kind" data/all "dump/$kind"
  done
fi
if [ $stage -le 2 ] && [ $stop_stage -ge 2 ]; then
  if [ -n "$tiny_hubert" ] && [ ! -f "$tiny_hubert/config.json" ]; then
    python -c "from ser.features.upstream import make_tiny_hubert as m; m('$tiny_hubert')"
  fi
  for pair in $ssl; do
    name=${pair%%=*}; up=${pair#*=}; path=
    for p in $ssl_paths; do if [ "${p%%=*}" = "$name" ]; then path=${p#*=}; fi; done
    echo "stage 2: $name <- s3prl upstream $up${path:+ ($path)}, layers $ssl_layers -> dump/${name}_$up"
    scripts/dump_feats.sh --nj $nj --cmd "$train_cmd" --kind upstream --upstream "$up" --upstream_path "$path" \
      --layers "$ssl_layers" --float16 $ssl_float16 data/all "dump/${name}_$up"
  done
fi
if [ $stage -le 3 ] && [ $stop_stage -ge 3 ]; then
  while read -r name config override <&3; do
    feats=$(feats_of "$config" "$override $overrides")  # fails naming the stage of a missing store
    feat_opts=(); for f in $feats; do feat_opts+=(--feat "$f"); done
    set_opts=(); for o in $override $overrides; do set_opts+=(--set "$o"); done
    . scripts/folds.sh
    for k in $fold_ids; do
      fd=data/folds/$scheme/fold$k
      echo "stage 3: training $name fold $k ($config $override $overrides) -> $exp/$name/fold$k (log: train.log)"
      $cuda_cmd "$exp/$name/fold$k/train.log" python -m ser.bin.train --config "$config" --train-dir "$fd/train" \
        --valid-dir "$fd/valid" --exp-dir "$exp/$name/fold$k" "${feat_opts[@]}" "${set_opts[@]}"
    done
  done 3< <(expand_systems)
fi
if [ $stage -le 4 ] && [ $stop_stage -ge 4 ]; then
  while read -r name _ <&3; do
    . scripts/folds.sh
    for k in $fold_ids; do
      feats=$(feats_of "$exp/$name/fold$k/config.yaml")
      feat_opts=(); for f in $feats; do feat_opts+=(--feat "$f"); done
      echo "stage 4: $name fold $k test predictions -> $exp/$name/fold$k/infer_test"
      $cuda_cmd "$exp/$name/fold$k/infer_test.log" python -m ser.bin.infer --exp-dir "$exp/$name/fold$k" \
        --data-dir "data/folds/$scheme/fold$k/test" --out-dir "$exp/$name/fold$k/infer_test" "${feat_opts[@]}"
    done
  done 3< <(expand_systems)
fi
note="Corpus: ${IEMOCAP:-built-in SYNTHETIC corpus, numbers say nothing about real accuracy}. Folds: $scheme ${folds:-all}. SSL: $ssl."
if [ $stage -le 5 ] && [ $stop_stage -ge 5 ]; then
  . scripts/folds.sh
  while read -r name _ <&3; do
    for k in $fold_ids; do
      echo "stage 5: scoring $name fold $k -> $exp/$name/fold$k/infer_test/scores.json"
      python -m ser.bin.score fold --data-dir "data/folds/$scheme/fold$k/test" \
        --pred-dir "$exp/$name/fold$k/infer_test" --classes neu,hap,ang,sad
    done
  done 3< <(expand_systems)
fi
if [ $stage -le 6 ] && [ $stop_stage -ge 6 ]; then
  echo "stage 6: comparison of $(expand_systems | wc -l) systems (fold means, then per fold) -> $exp/RESULTS.md"
  python -m ser.bin.score results --out "$exp/RESULTS.md" --title "IEMOCAP joint MTL: task weighting comparison" \
    --note "$note" --command "$cmdline" $(expand_systems | awk -v e="$exp" '{printf " --exp %s=%s/%s", $1, e, $1}')
fi
