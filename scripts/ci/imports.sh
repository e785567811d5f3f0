#!/usr/bin/env bash
# Import layers: every top-level module of src/ sits in a layer below, and may use only modules of
# its own layer or of layers under it. This prints every upward import (`crate::X` in a module of a
# lower layer than X, outside comments and before the file's `#[cfg(test)]`), one line per file and
# target with a count, and exits non-zero if there is one. A module missing from the list is an
# error too, so a new module must be placed.
#
# Inside a module too, where its files have grown into layers of their own (`inner` below), a
# file may use only siblings of its own layer or under it (`super::x`, `super::super::x` from a
# folder, `crate::module::x`); the module's own `mod.rs` is above all of them. This keeps the
# search answer ↔ reader cycle (issue #34) from coming back.
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

# Layers inside a module, bottom first, one string per module: layers split by `|`.
declare -A inner=(
  [search]="question pool http postgres breaker ingest | evidence settings | reader | answer | embedded"
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

# `file sibling` for every use of a sibling module of `parent` in the non-test code of its files.
inner_uses() {
  local parent=$1
  git ls-files "src/$parent/*.rs" | grep -v -E "^src/$parent/mod\.rs$" | while read -r file; do
    local rest=${file#"src/$parent/"}
    local depth=1
    case "$rest" in */mod.rs) ;; */*) depth=2 ;; esac
    awk -v F="$file" -v P="$parent" -v D="$depth" '
      /#\[cfg\(test\)\]/ { exit }
      /^[[:space:]]*\/\// { next }
      { text = text " " $0 }
      END {
        gsub("crate::" P "::", "PARENT::", text)
        if (D == 2) { gsub(/super::super::/, "PARENT::", text); gsub(/super::/, "SELF::", text) }
        else gsub(/super::/, "PARENT::", text)
        while (match(text, /PARENT::(\{[^}]*\}|[A-Za-z_]+)/)) {
          names = substr(text, RSTART + 8, RLENGTH - 8)
          text = substr(text, RSTART + RLENGTH)
          gsub(/[{}]/, "", names)
          n = split(names, parts, ",")
          for (i = 1; i <= n; i++) {
            name = parts[i]
            gsub(/^[[:space:]]+/, "", name)
            sub(/::.*/, "", name)
            if (name ~ /^[a-z_]+$/ && name != "self") print F, name
          }
        }
      }' "$file"
  done
}

for parent in "${!inner[@]}"; do
  declare -A srank=()
  i=0
  IFS='|' read -r -a parts <<<"${inner[$parent]}"
  for layer in "${parts[@]}"; do
    for m in $layer; do srank[$m]=$i; done
    i=$((i + 1))
  done
  # The module's files and folders: every one must be placed.
  siblings=$(git ls-files "src/$parent/*.rs" | sed -E "s#^src/$parent/##; s#/.*##; s#\.rs\$##" | grep -v -x mod | sort -u)
  for m in $siblings; do
    if [ -z "${srank[$m]+set}" ]; then
      echo "imports.sh: src/$parent/$m is in no layer of $parent; place it in scripts/ci/imports.sh" >&2
      status=1
    fi
  done
  while read -r count file target; do
    rest=${file#"src/$parent/"}
    module=${rest%%/*}
    module=${module%.rs}
    [ "$module" = "$target" ] && continue
    grep -q -x -- "$target" <<<"$siblings" || continue
    [ -n "${srank[$module]+set}" ] && [ -n "${srank[$target]+set}" ] || continue
    if [ "${srank[$module]}" -lt "${srank[$target]}" ]; then
      printf '%-32s uses %-10s (%s)  [%s above %s in %s]\n' "$file" "$target" "$count" "$target" "$module" "$parent"
      offenders=$((offenders + 1))
    fi
  done < <(inner_uses "$parent" | sort | uniq -c | awk '{print $1, $2, $3}')
done

if [ "$offenders" -gt 0 ]; then
  echo "$offenders upward imports (layers, bottom first: $(printf '%s | ' "${layers[@]}" | sed 's/ | $//'))"
  for parent in "${!inner[@]}"; do echo "  inside $parent, bottom first: ${inner[$parent]}"; done
  status=1
elif [ "$status" -eq 0 ]; then
  echo "no upward imports"
fi
exit "$status"
