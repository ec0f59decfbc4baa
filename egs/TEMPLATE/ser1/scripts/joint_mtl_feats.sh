#!/usr/bin/env bash
# egs/iemocap/joint_mtl: prints the `name=scp` feature stores a train config reads (its data.feats),
# space separated, for train_folds.sh --feats and ser.bin.infer --feat. A store listed in
# --classical is dump/<name> (made by stage 1); one listed in --ssl as name=upstream is
# dump/<name>_<upstream> (made by stage 2). A missing store is an error naming that stage.
# --overrides takes train.py's --set values; a data.feats=[...] among them replaces the config's list.
#   scripts/joint_mtl_feats.sh [--dump dump] [--classical "mfcc stf mel"] [--ssl "w2v2=wav2vec2 hubert=hubert"]
#       [--overrides "data.feats=[mfcc,stf]"] <config>
set -euo pipefail
set -f  # no globbing: overrides such as data.feats=[mfcc,stf] hold brackets
dump=dump
classical=
ssl=
overrides=
. utils/parse_options.sh
if [ $# -ne 1 ]; then echo "usage: $0 [--dump dir] [--classical kinds] [--ssl name=upstream ...] <config>" >&2; exit 1; fi
config=$1
if [ ! -f "$config" ]; then echo "ERROR: $config does not exist (a fold's config.yaml comes from the training stage)" >&2; exit 1; fi
names=$(python - "$config" $overrides <<'PY'
import sys, yaml
feats = ((yaml.safe_load(open(sys.argv[1])) or {}).get("data") or {}).get("feats") or []
for item in sys.argv[2:]:
    key, _, value = item.partition("=")
    if key == "data.feats":
        feats = yaml.safe_load(value) or []
print(" ".join(feats))
PY
)
out=()
for name in $names; do
  dir=; made_by=
  for kind in $classical; do
    if [ "$kind" = "$name" ]; then dir=$dump/$name; made_by="stage 1 (classical features)"; fi
  done
  for pair in $ssl; do
    if [ "${pair%%=*}" = "$name" ]; then dir=$dump/${name}_${pair#*=}; made_by="stage 2 (SSL features)"; fi
  done
  if [ -z "$dir" ]; then
    echo "ERROR: $config reads feature store '$name', which no stage makes: add it to classical= (stage 1;" \
      "mfcc, stf, mel or fbank) or to ssl= as $name=<s3prl upstream> (stage 2)" >&2
    exit 1
  fi
  if [ ! -f "$dir/feats.scp" ]; then
    echo "ERROR: $config reads feature store '$name' from $dir/feats.scp, which does not exist: run $made_by first" >&2
    exit 1
  fi
  out+=("$name=$dir/feats.scp")
done
echo "${out[*]}"
