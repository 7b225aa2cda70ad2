#!/usr/bin/env bash
# The Autobahn TestSuite (cases 1-7, 9 and 10: framing, pings, reserved bits, opcodes,
# fragmentation, UTF-8, closing, large messages, auto-fragmentation) against both roles of the
# live call's WebSocket:
#   - server: its fuzzing client against an echo server built on the media stream's code
#     (examples/autobahn_echo.rs: the server's listener, the media stream's upgrade, loquent-ws);
#   - client: its fuzzing server against an echo client built on the provider sockets' code
#     (crates/loquent-ai/examples/autobahn_client.rs: the sessions' opening, loquent-ws as client).
# Every case must be OK, NON-STRICT or INFORMATIONAL; the reports are kept in
# target/autobahn/report/{server,client} (index.html).
#
#   ./scripts/autobahn.sh
#
# The suite runs on Python 2.7 only: PYTHON2 names the interpreter, otherwise python2.7 on the
# PATH or pyenv's 2.7 is used. It is installed into target/autobahn/site on first use.
set -euo pipefail
cd "$(dirname "$0")/.."

root="$PWD/target/autobahn"
site="$root/site"
mkdir -p "$root"

python2="${PYTHON2:-}"
if [ -z "$python2" ]; then
  # pyenv's shim for python2.7 is on the PATH even where 2.7 is not the selected version: each
  # candidate must run.
  for candidate in "${PYENV_ROOT:-$HOME/.pyenv}"/versions/2.7*/bin/python python2.7; do
    if "$candidate" -c 'import sys; sys.exit(sys.version_info[:2] != (2, 7))' >/dev/null 2>&1; then
      python2="$candidate"
      break
    fi
  done
fi
if [ -z "$python2" ]; then
  echo "the Autobahn TestSuite needs Python 2.7: set PYTHON2 or install 2.7 with pyenv" >&2
  exit 1
fi

if ! "$python2" -c "import site; site.addsitedir('$site'); import autobahntestsuite" >/dev/null 2>&1; then
  echo "installing the Autobahn TestSuite into $site"
  "$python2" -m pip install -q --disable-pip-version-check --no-warn-script-location \
    --target "$site" -r scripts/autobahn-requirements.txt 2>&1 | grep -v DEPRECATION || true
  "$python2" -c "import site; site.addsitedir('$site'); import autobahntestsuite"
fi

cargo build --quiet --locked --example autobahn_echo
cargo build --quiet --locked -p loquent-ai --example autobahn_client

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
wait_for() {
  for _ in $(seq 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    sleep 0.1
  done
  echo "nothing listens on port $1" >&2
  return 1
}
# The suite's entry point, as a Python program for `python2 -c`.
wstest_program() {
  cat <<PY
import site, sys
site.addsitedir('$site')
sys.argv = ['wstest', '--mode', '$1', '--spec', '$2']
from autobahntestsuite.wstest import run
run()
PY
}
# Every case passing, from a report's index.json; prints a summary line for the role.
check() {
  python3 - "$1" "$2" <<'PY'
import json, sys
from collections import Counter

passing = {"OK", "NON-STRICT", "INFORMATIONAL"}
results = next(iter(json.load(open(sys.argv[2])).values()))
failed = {
    case: (r["behavior"], r["behaviorClose"])
    for case, r in results.items()
    if r["behavior"] not in passing or r["behaviorClose"] not in passing
}
counts = Counter(r["behavior"] for r in results.values())
print("autobahn %s: %d cases: %s" % (sys.argv[1], len(results), ", ".join("%s %d" % kv for kv in sorted(counts.items()))))
def key(case):
    return [int(part) for part in case.split(".")]
for case in sorted(failed, key=key):
    print("  case %s: %s (close: %s)" % (case, *failed[case]), file=sys.stderr)
sys.exit(1 if failed or not results else 0)
PY
}

cases='["1.*", "2.*", "3.*", "4.*", "5.*", "6.*", "7.*", "9.*", "10.*"]'
rm -rf "$root/report"
pids=()
trap 'kill "${pids[@]}" 2>/dev/null || true' EXIT

# Server role: the suite connects to our echo server.
port="$(free_port)"
target/debug/examples/autobahn_echo "127.0.0.1:$port" 2>"$root/echo.log" &
pids+=($!)
wait_for "$port"
cat >"$root/fuzzingclient.json" <<JSON
{
  "outdir": "$root/report/server",
  "servers": [{"agent": "loquent-ws", "url": "ws://127.0.0.1:$port"}],
  "cases": $cases,
  "exclude-cases": [],
  "exclude-agent-cases": {}
}
JSON
(cd "$root" && exec "$python2" -c "$(wstest_program fuzzingclient fuzzingclient.json)") \
  >"$root/wstest-server.log" 2>&1 || {
  tail -n 30 "$root/wstest-server.log" >&2
  exit 1
}
check server "$root/report/server/index.json"

# Client role: our echo client connects to the suite's server.
port="$(free_port)"
cat >"$root/fuzzingserver.json" <<JSON
{
  "url": "ws://127.0.0.1:$port",
  "outdir": "$root/report/client",
  "cases": $cases,
  "exclude-cases": [],
  "exclude-agent-cases": {}
}
JSON
# The subshell execs the suite, so `$!` is the process the exit trap stops.
(cd "$root" && exec "$python2" -c "$(wstest_program fuzzingserver fuzzingserver.json)") \
  >"$root/wstest-client.log" 2>&1 &
pids+=($!)
wait_for "$port"
target/debug/examples/autobahn_client "ws://127.0.0.1:$port" loquent-ws-client 2>"$root/client.log" || {
  tail -n 30 "$root/client.log" >&2
  exit 1
}
check client "$root/report/client/index.json"
