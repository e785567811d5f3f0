#!/usr/bin/env bash
# Public items: for each module of src/, the `pub fn`/`pub struct`/`pub enum`/`pub const`/`pub mod`
# it declares (`pub(crate)` and narrower are not counted; a module's own `mod tests` is skipped) and
# how many of them are named by code outside the library, which links the crate as `ecoroute::…`:
# src/main.rs, tests/, benches/, examples/ and fuzz/fuzz_targets/. An item is "used" when its name
# occurs as a word there (`git grep -w`), so the count is an upper bound: a `pub fn new` is used as
# soon as any outside file says `new`. An item not used outside should be `pub(crate)` or narrower,
# unless it is part of the signature of an item that stays `pub`.
#
#   scripts/ci/pub_items.sh            # module, pub items, used outside; then the crate's totals
#   scripts/ci/pub_items.sh 449d0f9    # the same for a commit (read from git, the tree untouched)
#   scripts/ci/pub_items.sh --unused   # file:line of every pub item whose name no outside file has
set -euo pipefail
cd "$(dirname "$0")/../.."

mode=count
rev=HEAD
case "${1:-}" in
  --unused) mode=unused ;;
  "") ;;
  *) rev=$1 ;;
esac

outside=(src/main.rs tests benches examples fuzz/fuzz_targets)

# Every identifier the outside code names, once.
words=$(mktemp)
trap 'rm -f "$words"' EXIT
git grep -h -o -w -E '[A-Za-z_][A-Za-z0-9_]*' "$rev" -- "${outside[@]}" | sort -u >"$words"

# `file line kind name` for each pub item, before the file's top-level `mod tests`.
items() {
  git ls-tree -r --name-only "$rev" -- src | grep -E '\.rs$' | grep -v -E '^src/main\.rs$' | while read -r file; do
    git show "$rev:$file" | awk -v F="$file" '
      /^mod tests/ { skip = 1 }
      skip { next }
      {
        if (match($0, /^[[:space:]]*pub[[:space:]]+((const|async|unsafe)[[:space:]]+)*fn[[:space:]]+[A-Za-z_][A-Za-z0-9_]*/) ||
            match($0, /^[[:space:]]*pub[[:space:]]+(struct|enum|const|mod)[[:space:]]+[A-Za-z_][A-Za-z0-9_]*/)) {
          n = split(substr($0, RSTART, RLENGTH), w, /[[:space:]]+/)
          print F, FNR, w[n - 1], w[n]
        }
      }'
  done
}

if [[ $mode == unused ]]; then
  items | while read -r file line kind name; do
    grep -qx -- "$name" "$words" || echo "$file:$line: pub $kind $name"
  done
  exit 0
fi

items | while read -r file line kind name; do
  module=${file#src/}
  module=${module%.rs}
  module=${module%/mod}
  module=${module//\//::}
  used=0
  grep -qx -- "$name" "$words" && used=1
  echo "$module $used"
done | awk '
  { pub[$1]++; used[$1] += $2; tp++; tu += $2 }
  END {
    for (m in pub) printf "%-28s %5d %14d\n", m, pub[m], used[m]
    printf "~total %d %d\n", tp, tu
  }' | sort | awk '
  BEGIN { printf "%-28s %5s %14s\n", "module", "pub", "used outside" }
  /^~total/ { printf "%-28s %5d %14d\n", "total", $2, $3; next }
  { print }'
