#!/usr/bin/env bash
# parse_options.sh: Kaldi-style option parsing for recipe scripts.
#
# Usage, in run.sh after the default values are defined:
#   stage=0
#   stop_stage=100
#   use_gpu=true
#   help_message="Usage: $0 [options] <data-dir>"
#   . utils/parse_options.sh || exit 1
#   # "$@" now holds only the positional arguments.
#
#   --name value, --name=value
#       Set the shell variable "name"; "-" in the name becomes "_", so
#       --stop-stage 3 and --stop_stage 3 both set stop_stage. The variable
#       must already be defined, otherwise "unknown option" and exit 1.
#       A value is always required, also for booleans (--use_gpu false); a
#       variable whose current value is true or false accepts only true/false.
#   --config FILE
#       Source FILE (shell assignments). All --config files are sourced
#       first, left to right, so options on the command line override them.
#   --help, -h
#       Print $help_message (backslash escapes are interpreted) and exit 0.
#   --
#       End of options; it is removed.
# Parsing stops at the first argument not starting with "--"; that argument and
# all later ones stay in "$@". On error, the message goes to stderr and the
# sourcing script exits with status 1.

if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then
  # Executed rather than sourced: it could not change the caller's variables.
  if [[ "${1:-}" == --help || "${1:-}" == -h ]]; then
    awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"
    exit 0
  fi
  echo "parse_options.sh: must be sourced (. utils/parse_options.sh), not executed; see --help" >&2
  exit 1
fi

# Pass 1: source config files before any option is applied, so that explicit
# options win regardless of where --config appears.
__po_i=1
while [[ $__po_i -le $# ]]; do
  __po_arg=${!__po_i}
  __po_cfg=
  __po_has_cfg=false
  case "$__po_arg" in
    --|--help) break ;;
    --config=*) __po_cfg=${__po_arg#--config=}; __po_has_cfg=true; __po_i=$((__po_i + 1)) ;;
    --config)
      __po_i=$((__po_i + 1))
      if [[ $__po_i -gt $# ]]; then
        echo "parse_options.sh: option --config requires a value" >&2; exit 1
      fi
      __po_cfg=${!__po_i}; __po_has_cfg=true; __po_i=$((__po_i + 1)) ;;
    --*=*) __po_i=$((__po_i + 1)) ;;
    --*) __po_i=$((__po_i + 2)) ;;
    *) break ;;
  esac
  if $__po_has_cfg; then
    if [[ ! -f "$__po_cfg" || ! -r "$__po_cfg" ]]; then
      echo "parse_options.sh: config file '$__po_cfg' not found or not readable" >&2; exit 1
    fi
    # "." searches PATH for names without a slash; we mean the file given.
    [[ "$__po_cfg" == */* ]] || __po_cfg=./$__po_cfg
    # shellcheck source=/dev/null
    . "$__po_cfg" || { echo "parse_options.sh: error while sourcing '$__po_cfg'" >&2; exit 1; }
  fi
done

# Pass 2: apply the options and consume them from the caller's "$@".
while [[ $# -gt 0 ]]; do
  case "$1" in
    --help|-h)
      if [[ -n "${help_message:-}" ]]; then printf '%b\n' "$help_message"; else echo "No help found."; fi
      exit 0 ;;
    --) shift; break ;;
    --config=*) shift; continue ;;
    --config) shift 2; continue ;;
    --*=*) __po_opt=${1%%=*}; __po_value=${1#*=}; shift ;;
    --*)
      __po_opt=$1
      if [[ $# -lt 2 ]]; then
        echo "parse_options.sh: option $__po_opt requires a value" >&2; exit 1
      fi
      __po_value=$2; shift 2 ;;
    *) break ;;
  esac
  __po_name=${__po_opt#--}
  __po_name=${__po_name//-/_}
  # Only variables the script defined count as options (Kaldi semantics); our own
  # temporaries are excluded so they cannot be mistaken for options.
  if [[ ! "$__po_name" =~ ^[A-Za-z_][A-Za-z0-9_]*$ || "$__po_name" == __po_* ]] \
      || [[ ! -v $__po_name ]]; then
    echo "parse_options.sh: unknown option $__po_opt" >&2; exit 1
  fi
  if [[ "${!__po_name}" == true || "${!__po_name}" == false ]] \
      && [[ "$__po_value" != true && "$__po_value" != false ]]; then
    echo "parse_options.sh: option $__po_opt expects true or false, got '$__po_value'" >&2; exit 1
  fi
  printf -v "$__po_name" '%s' "$__po_value" \
    || { echo "parse_options.sh: cannot set $__po_name (read-only?)" >&2; exit 1; }
done

unset __po_i __po_arg __po_cfg __po_has_cfg __po_opt __po_value __po_name
true
