#!/usr/bin/env bash
# Supply-chain checks with cargo-deny (policy in deny.toml). Licences, banned crates and sources
# are checked offline and must pass. Advisories need the RustSec database from GitHub: where it
# can be fetched they must pass too; where it cannot (a closed network), the check says so loudly
# instead of pretending.
set -euo pipefail
cd "$(dirname "$0")/../.."

if ! command -v cargo-deny >/dev/null; then
  cargo install cargo-deny --locked --quiet
fi
cargo deny --log-level error check licenses bans sources
if timeout 20 git ls-remote https://github.com/RustSec/advisory-db HEAD >/dev/null 2>&1; then
  cargo deny --log-level error check advisories
else
  echo "WARNING: cargo deny advisories skipped: the RustSec advisory database (github.com) is unreachable from this machine" >&2
fi
