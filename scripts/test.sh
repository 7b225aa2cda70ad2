#!/usr/bin/env bash
# The whole test suite, on SQLite and on PostgreSQL, with the browser test, the WebSocket
# conformance suite (scripts/autobahn.sh) and a short fuzz run (scripts/fuzz-smoke.sh).
# Installs what the suite needs when it is missing: Chromium and ChromeDriver from Debian, and
# the SMTP and S3 test servers from PyPI into a virtualenv under target/.
#
#   ./scripts/test.sh
#
# LOQUENT_TEST_DATABASE_URL names the PostgreSQL server to use (default: the local one at
# postgres://postgres@127.0.0.1:5432); each test creates and drops its own database there.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf '\n== %s\n' "$*"; }

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi
}

# 1. Browser for the end-to-end test.
if ! command -v chromedriver >/dev/null 2>&1 || ! command -v chromium >/dev/null 2>&1; then
  say "installing chromium and chromium-driver"
  as_root apt-get update -qq
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq chromium chromium-driver >/dev/null
fi

# 2. PostgreSQL for the second pass.
PG_URL="${LOQUENT_TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432}"
pg_up() {
  if command -v pg_isready >/dev/null 2>&1; then
    local hostport="${PG_URL#*@}"
    hostport="${hostport%%/*}"
    pg_isready -q -h "${hostport%%:*}" -p "${hostport##*:}"
  else
    (exec 3<>/dev/tcp/127.0.0.1/5432) 2>/dev/null
  fi
}
if ! pg_up && command -v pg_ctlcluster >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  say "starting the local PostgreSQL server"
  for version in /etc/postgresql/*; do
    pg_ctlcluster --skip-systemctl-redirect "$(basename "$version")" main start || true
  done
  sleep 2
fi
run_pg=1
if ! pg_up; then
  if [ "${CI:-}" = "true" ]; then
    echo "PostgreSQL is not reachable at $PG_URL" >&2
    exit 1
  fi
  echo "warning: PostgreSQL is not reachable at $PG_URL; running the SQLite pass only" >&2
  run_pg=0
fi

# 3. Test-only servers from PyPI, in a virtualenv of their own: a real SMTP server (aiosmtpd) for
# the e-mailed call reports and a real S3-compatible server (moto) for the S3 storage path. The
# tests find them through LOQUENT_TEST_VENV and fail, never skip, without them.
venv="${LOQUENT_TEST_VENV:-$PWD/target/test-venv}"
if ! "$venv/bin/python" -c 'import aiosmtpd, moto, flask_cors' >/dev/null 2>&1; then
  say "installing aiosmtpd and moto[server] into $venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check -r scripts/test-requirements.txt
fi
export LOQUENT_TEST_VENV="$venv"

# 4. Lints, licences and duplicate crates, then the suite twice.
say "cargo fmt --check"
cargo fmt --all -- --check

say "cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings

# cargo-deny is a developer tool, not a dependency of the suite: compiling it would double a CI
# run, so it runs where it is installed (`cargo install cargo-deny --locked`) and is named
# otherwise. Advisories are left out: they need the network.
if cargo deny --version >/dev/null 2>&1; then
  say "cargo deny check bans licenses"
  cargo deny --locked check bans licenses
else
  echo "note: cargo-deny is not installed; skipping the licence and duplicate-crate check" >&2
fi

# Snapshots are compared, never written (CI=true implies the same), and every stored snapshot
# must be asserted by some test: insta records each snapshot file a test reads in
# INSTA_SNAPSHOT_REFERENCES_FILE, and a stored file missing from that list is stale.
export INSTA_UPDATE=no
unset INSTA_FORCE_PASS
snapshot_refs="$(mktemp)"
trap 'rm -f "$snapshot_refs"' EXIT

say "tests on SQLite"
INSTA_SNAPSHOT_REFERENCES_FILE="$snapshot_refs" cargo test --workspace --locked

say "no unreferenced snapshots"
stored="$(find "$PWD" \( -path "$PWD/target" -o -path "$PWD/.git" \) -prune -o -name '*.snap' -type f -print | sort)"
referenced="$(xargs -r -d '\n' realpath -m -- <"$snapshot_refs" | sort -u)"
unreferenced="$(comm -23 <(printf '%s\n' "$stored" | sed '/^$/d') <(printf '%s\n' "$referenced" | sed '/^$/d'))"
if [ -n "$unreferenced" ]; then
  echo "snapshot files no test asserts any more (delete them or restore their test):" >&2
  sed 's/^/  /' <<<"$unreferenced" >&2
  exit 1
fi

say "WebSocket conformance (Autobahn TestSuite)"
./scripts/autobahn.sh

say "a short fuzz run (every target, 10 s)"
./scripts/fuzz-smoke.sh 10

if [ "$run_pg" = 1 ]; then
  say "tests on PostgreSQL ($PG_URL)"
  LOQUENT_TEST_DATABASE_URL="$PG_URL" cargo test --locked -p loquent
fi

say "all tests passed"
