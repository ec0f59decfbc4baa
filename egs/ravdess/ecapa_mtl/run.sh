#!/usr/bin/env bash
# RAVDESS, 8 classes, no pretrained weights: compact ECAPA-TDNNs on log-mel (speed perturbation,
# SpecAugment and mixup on the fly, gender as an auxiliary task), one per seed, late-fused with a
# logistic regression on openSMILE ComParE functionals. EmoBox's 4 speaker-independent folds.
# --whisper whisper_base adds a logistic regression on pooled layers of frozen Whisper base
# (tools/get_whisper_base.sh); on emobox_dev that member alone beat every fusion (../whisper_lr).
# Gender ablation: --tag _nogender --overrides model.gender_weight=0 (see README.md).
set -euo pipefail
cmdline="$0${1+$(printf " %q" "$@")}"  # quoted, so the command in RESULTS.md can be pasted
. ./path.sh; . ./cmd.sh; . ./db.sh

stage=0; stop_stage=100
nj=2                          # parallel feature-dumping jobs
parallel=2                    # folds trained at once (one thread each)
scheme=emobox                 # emobox (4 folds), speaker (24, leave one actor out) or emobox_dev (exp/emobox_dev/:
                              # each emobox fold's valid actors, by models of its other training actors)
folds=                        # e.g. "1 3"; empty = every fold
train_config=conf/train.yaml
overrides=                    # config keys for the ECAPAs, e.g. "model.gender_weight=0"
train_on_valid=true          # train the ECAPAs on all 20 non-test actors, keep the last epoch (EmoBox has no valid split)
seeds="0 1 2"                 # one ECAPA per seed (seed 0 -> exp/ecapa_mtl<tag>, s -> exp/ecapa_mtl<tag>_s<s>)
functionals=compare           # openSMILE set for the linear model: compare (6373) or egemaps (88); empty: none
linear_speed_copies=          # e.g. 0.9,1.1: the linear model also trains on these speed-perturbed copies (exp/*_logreg_sp)
whisper=                      # e.g. whisper_base: a logistic regression on pooled layers of that frozen encoder
whisper_path=                 # a transformers Whisper folder (default: tools/whisper/<size>, then the hub)
whisper_layers=1,2,3,4,5      # its layers (mean and std over frames of each; chosen on emobox_dev, ../RESULTS.md)
speaker_norm_row=false        # also a linear model on per-speaker z-normalised functionals (uses test speakers' audio)
fusion=                       # families fused with equal weight (a family's members averaged first), any of
                              # ecapa functionals whisper; empty: every family this run trains
balance=true                  # fusion divides the posteriors by the training class frequencies (the decision for UA;
                              # chosen on emobox_dev, see ../RESULTS.md); false: plain average
tag=
. utils/parse_options.sh
classes=neu,cal,hap,sad,ang,fea,dis,sur
select=$([ "$train_on_valid" = true ] && echo train.select_metric=last || true)
exp=exp; [ "$scheme" = emobox ] || exp=exp/$scheme  # another scheme's models never mix with emobox's
ecapa_exp() { if [ "$1" = 0 ]; then echo $exp/ecapa_mtl$tag; else echo $exp/ecapa_mtl${tag}_s$1; fi; }
ecapas=$(for s in $seeds; do ecapa_exp $s; done)
sp=$([ -n "$functionals" ] && [ -n "$linear_speed_copies" ] && echo _sp || true)  # its store holds originals and copies
linear=${functionals:+$exp/${functionals}_logreg$sp}; fused=$exp/fusion$tag
wlinear=${whisper:+$exp/${whisper}_logreg}
note="Corpus: RAVDESS speech ($RAVDESS), 8 classes, folds: $scheme. Pretrained weights: ${whisper:-none}."

if [ $stage -le 0 ] && [ $stop_stage -ge 0 ]; then
  echo "stage 0: data prep and folds -> data/all, data/folds"
  local/data.sh
fi
if [ $stage -le 1 ] && [ $stop_stage -ge 1 ]; then
  echo "stage 1: 80-dim log-mel -> dump/fbank${functionals:+, openSMILE $functionals functionals -> dump/$functionals$sp}${whisper:+, $whisper layers -> dump/$whisper}"
  scripts/dump_feats.sh --nj $nj --cmd "$train_cmd" --kind fbank data/all dump/fbank
  [ -z "$whisper" ] || scripts/dump_feats.sh --nj $nj --cmd "$train_cmd" --kind upstream --upstream $whisper \
    --upstream_path "$whisper_path" --float16 true data/all dump/$whisper
  [ -z "$sp" ] || scripts/speed_perturb_dirs.sh --factors $linear_speed_copies data/all data/all_sp
  [ -z "$functionals" ] || scripts/dump_feats.sh --nj $nj --cmd "$train_cmd" --kind $functionals data/all$sp dump/$functionals$sp
fi
if [ $stage -le 2 ] && [ $stop_stage -ge 2 ]; then
  for s in $seeds; do e=$(ecapa_exp $s)
    echo "stage 2: ECAPA, seed $s ($train_config${overrides:+, $overrides}), each fold -> $e/fold*"
    scripts/train_folds.sh --train_config "$train_config" --overrides "$select $overrides train.seed=$s" --scheme $scheme \
      --folds "$folds" --parallel $parallel --train_on_valid $train_on_valid --feats "fbank=dump/fbank/feats.scp" --cmd "$cuda_cmd" "$e"
  done
fi
if [ $stage -le 3 ] && [ $stop_stage -ge 3 ] && [ -n "$functionals$whisper" ]; then
  if [ -n "$functionals" ]; then
    echo "stage 3: logistic regression on $functionals functionals${sp:+ (+ copies x$linear_speed_copies)}, each fold -> $linear/fold*"
    scripts/train_sklearn_folds.sh --feats dump/$functionals$sp/feats.scp --scheme $scheme --folds "$folds" \
      --classes $classes --speed_copies "$linear_speed_copies" --parallel $parallel --cmd "$train_cmd" $linear
    [ "$speaker_norm_row" = true ] && scripts/train_sklearn_folds.sh --feats dump/$functionals$sp/feats.scp --scheme $scheme \
      --folds "$folds" --classes $classes --speed_copies "$linear_speed_copies" --parallel $parallel --cmd "$train_cmd" \
      --speaker_norm true ${linear}_spknorm
  fi
  if [ -n "$whisper" ]; then
    echo "stage 3: logistic regression on $whisper layers $whisper_layers (mean and std over frames), each fold -> $wlinear/fold*"
    scripts/train_sklearn_folds.sh --feats dump/$whisper/feats.scp --pool_layers $whisper_layers --scheme $scheme \
      --folds "$folds" --classes $classes --parallel $parallel --cmd "$train_cmd" $wlinear
  fi
fi
if [ $stage -le 4 ] && [ $stop_stage -ge 4 ]; then
  groups=
  [ -n "$fusion" ] || fusion="ecapa${functionals:+ functionals}${whisper:+ whisper}"
  for f in $fusion; do
    case $f in ecapa) g=$(echo $ecapas | tr ' ' ,);; functionals) g=$linear;; whisper) g=$wlinear;;
      *) echo "$0: --fusion: unknown family '$f' (ecapa, functionals, whisper)" >&2; exit 1;; esac
    [ -n "$g" ] || { echo "$0: --fusion names '$f', which this run does not train (see --functionals, --whisper)" >&2; exit 1; }
    groups+=" $g"
  done
  echo "stage 4: late fusion ($fusion, equal weight per family$([ $balance = true ] && echo '; divided by class priors')) -> $fused/fold*"
  scripts/fuse_folds.sh --scheme $scheme --folds "$folds" --classes $classes --balance $balance --groups "$groups" $fused
fi
if [ $stage -le 5 ] && [ $stop_stage -ge 5 ]; then
  for e in $ecapas $linear $wlinear $([ "$speaker_norm_row" = true ] && echo ${linear}_spknorm) $fused; do
    echo "stage 5: scoring -> $e/RESULTS.md"
    scripts/score_folds.sh --scheme $scheme --folds "$folds" --classes $classes --title "RAVDESS $(basename $e)" \
      --note "$note Config: $train_config ${overrides}." --command "$cmdline" "$e"
  done
fi
