#!/usr/bin/env bash
# Creates tools/venv and installs ser-recipes with its pinned stack.
# Re-running is quick: pip skips what is already satisfied.
set -euo pipefail
tools_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
top=$(dirname "$tools_dir")
venv="$tools_dir/venv"
python=${PYTHON:-python3}

if [ ! -x "$venv/bin/python" ]; then
  echo "install.sh: creating $venv with $($python --version 2>&1)"
  "$python" -m venv "$venv"
fi
pip=("$venv/bin/python" -m pip --disable-pip-version-check -q)
quiet_pip() {
  # Some machines list local package mirrors that pip warns about once per package; hide that noise.
  "${pip[@]}" "$@" 2> >(grep -v "is ignored: it is neither a file nor a directory" >&2)
}

# torch/torchaudio are pinned together: torchaudio's compiled ops only load with the
# torch release they were built for (torch 2.13's CPU wheel breaks torchaudio).
if ! "$venv/bin/python" -c 'import torch, torchaudio, sys; sys.exit(torch.__version__.split("+")[0] != "2.11.0")' 2>/dev/null; then
  echo "install.sh: installing torch==2.11.0 torchaudio==2.11.0"
  quiet_pip install "torch==2.11.0" "torchaudio==2.11.0"
fi

echo "install.sh: installing ser-recipes (editable) and its dependencies"
quiet_pip install -e "${top}[all,test]"
"$venv/bin/python" -c 'import torch, torchaudio, s3prl, kaldiio, soundfile, transformers, ser; print("install.sh: ok, torch", torch.__version__)'
