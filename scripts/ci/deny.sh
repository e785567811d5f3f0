#!/usr/bin/env bash
# Supply-chain checks with cargo-deny (policy in deny.toml). Licences, banned crates and sources
# are checked offline and must pass. Advisories must pass too, against the RustSec database:
#   1. fetched from GitHub when it is reachable;
#   2. otherwise read from a snapshot (ECOROUTE_ADVISORY_DB, default ../shared/data/rustsec-advisory-db),
#      which is older than a fetch: the script prints its date;
#   3. otherwise it says loudly that advisories were not checked and goes on: a clean clone on a
#      machine without either must still pass CI. ECOROUTE_REQUIRE_ADVISORIES=1 makes that a failure.
set -euo pipefail
cd "$(dirname "$0")/../.."

if ! command -v cargo-deny >/dev/null; then
  cargo install cargo-deny --locked --quiet
fi
cargo deny --log-level error check licenses bans sources

snapshot="${ECOROUTE_ADVISORY_DB:-../shared/data/rustsec-advisory-db}"
if timeout 20 git ls-remote https://github.com/RustSec/advisory-db HEAD >/dev/null 2>&1; then
  echo "advisories: RustSec database fetched from github.com"
  cargo deny --log-level error check advisories
elif [ -d "$snapshot/crates" ]; then
  # cargo-deny reads a database only as a git checkout, in `<db-path>/<name derived from its URL>`
  # (this name is the one for the default URL, which deny.toml keeps), and has no command-line
  # option for db-path: so the snapshot is committed into a temporary root and a copy of deny.toml
  # points there.
  root="$(mktemp -d)"
  trap 'rm -rf "$root"' EXIT
  db="$root/advisory-db-3157b0e258782691"
  cp -r "$snapshot" "$db"
  git -C "$db" init -q
  git -C "$db" add -A
  # The commit carries the snapshot's date, not today's: cargo-deny reports the database's age.
  stamp="$(git -C "$snapshot" log -1 --format=%cI 2>/dev/null || date -u -r "$snapshot/crates" +%Y-%m-%dT%H:%M:%SZ)"
  GIT_AUTHOR_DATE="$stamp" GIT_COMMITTER_DATE="$stamp" \
    git -C "$db" -c user.name=snapshot -c user.email=snapshot@localhost commit -q -m "RustSec snapshot"
  sed "s|^\[advisories\]|[advisories]\ndb-path = \"$root\"|" deny.toml >"$root/deny.toml"
  echo "advisories: github.com unreachable; using the snapshot in $snapshot ($(head -3 "$snapshot/SNAPSHOT.md" 2>/dev/null | grep -o '20[0-9-]*' | head -1 || echo 'date unknown'))"
  cargo deny --log-level error --offline --config "$root/deny.toml" check advisories
elif [ "${ECOROUTE_REQUIRE_ADVISORIES:-0}" = 1 ]; then
  echo "ERROR: cannot check advisories: github.com (RustSec advisory-db) is unreachable and there is no snapshot at $snapshot." >&2
  echo "  Put a copy of github.com/rustsec/advisory-db there, or set ECOROUTE_ADVISORY_DB to one." >&2
  exit 1
else
  echo "WARNING: cargo deny advisories NOT CHECKED: github.com is unreachable and there is no snapshot at $snapshot" >&2
  echo "  (set ECOROUTE_ADVISORY_DB to a copy of github.com/rustsec/advisory-db; ECOROUTE_REQUIRE_ADVISORIES=1 makes this fail)" >&2
fi
