#!/usr/bin/env bash
# Import layers: every top-level module of src/ sits in a layer below, and may use only modules of
# its own layer or of layers under it. This prints every upward import (`crate::X` in a module of a
# lower layer than X, outside comments and before the file's `#[cfg(test)]`), one line per file and
# target with a count, and exits non-zero if there is one. A module missing from the list is an
# error too, so a new module must be placed.
#
#   scripts/ci/imports.sh            # the offenders, or "no upward imports"
set -euo pipefail
cd "$(dirname "$0")/../.."

# Bottom first. Modules on one line may use each other.
layers=(
  "error civil"
  "redact cpu shard limits"
  "calc energy"
  "classify"
  "outcome"
  "search"
  "lang"
  "api openai"
  "cache"
  "metrics"
  "ledger"
  "meter telemetry"
  "config"
  "llm"
  "pipeline"
  "eval report"
  "server"
  "cli"
)

declare -A rank
for i in "${!layers[@]}"; do
  for m in ${layers[$i]}; do rank[$m]=$i; done
done

# `file module` for every `crate::module` (`crate::Error` is the error module) in non-test code.
uses() {
  git ls-files 'src/*.rs' | grep -v -E '^src/(lib|main)\.rs$' | while read -r file; do
    awk -v F="$file" '
      /#\[cfg\(test\)\]/ { exit }
      /^[[:space:]]*\/\// { next }
      {
        line = $0
        while (match(line, /crate::[A-Za-z_]+/)) {
          target = substr(line, RSTART + 7, RLENGTH - 7)
          if (target == "Error") target = "error"
          if (target ~ /^[a-z_]+$/) print F, target
          line = substr(line, RSTART + RLENGTH)
        }
      }' "$file"
  done
}

status=0
offenders=0
while read -r count file target; do
  module="${file#src/}"
  module="${module%%/*}"
  module="${module%.rs}"
  [ "$module" = "$target" ] && continue
  for m in "$module" "$target"; do
    if [ -z "${rank[$m]+set}" ]; then
      echo "imports.sh: module '$m' is in no layer; place it in scripts/ci/imports.sh" >&2
      status=1
    fi
  done
  [ -n "${rank[$module]+set}" ] && [ -n "${rank[$target]+set}" ] || continue
  if [ "${rank[$module]}" -lt "${rank[$target]}" ]; then
    printf '%-32s uses %-10s (%s)  [%s above %s]\n' "$file" "$target" "$count" "$target" "$module"
    offenders=$((offenders + 1))
  fi
done < <(uses | sort | uniq -c | awk '{print $1, $2, $3}')

if [ "$offenders" -gt 0 ]; then
  echo "$offenders upward imports (layers, bottom first: $(printf '%s | ' "${layers[@]}" | sed 's/ | $//'))"
  status=1
elif [ "$status" -eq 0 ]; then
  echo "no upward imports"
fi
exit "$status"
