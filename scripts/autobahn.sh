#!/usr/bin/env bash
# The Autobahn TestSuite's fuzzing client (cases 1-7, 9 and 10: framing, pings, reserved bits,
# opcodes, fragmentation, UTF-8, closing, large messages, auto-fragmentation) against an echo
# server built on the live call's WebSocket (examples/autobahn_echo.rs: the server's listener,
# the media stream's upgrade and loquent-ws framing). Every case must be OK, NON-STRICT or
# INFORMATIONAL; the report is kept in target/autobahn/report (index.html).
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
port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
target/debug/examples/autobahn_echo "127.0.0.1:$port" 2>"$root/echo.log" &
echo_pid=$!
trap 'kill "$echo_pid" 2>/dev/null || true' EXIT
for _ in $(seq 100); do
  (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
  sleep 0.1
done

rm -rf "$root/report"
cat >"$root/fuzzingclient.json" <<JSON
{
  "outdir": "$root/report",
  "servers": [{"agent": "loquent-ws", "url": "ws://127.0.0.1:$port"}],
  "cases": ["1.*", "2.*", "3.*", "4.*", "5.*", "6.*", "7.*", "9.*", "10.*"],
  "exclude-cases": [],
  "exclude-agent-cases": {}
}
JSON
(cd "$root" && "$python2" -c "
import site, sys
site.addsitedir('$site')
sys.argv = ['wstest', '--mode', 'fuzzingclient', '--spec', 'fuzzingclient.json']
from autobahntestsuite.wstest import run
run()
") >"$root/wstest.log" 2>&1 || {
  tail -n 30 "$root/wstest.log" >&2
  exit 1
}

python3 - "$root/report/index.json" <<'PY'
import json, sys
from collections import Counter

passing = {"OK", "NON-STRICT", "INFORMATIONAL"}
results = next(iter(json.load(open(sys.argv[1])).values()))
failed = {
    case: (r["behavior"], r["behaviorClose"])
    for case, r in results.items()
    if r["behavior"] not in passing or r["behaviorClose"] not in passing
}
counts = Counter(r["behavior"] for r in results.values())
print("autobahn: %d cases: %s" % (len(results), ", ".join("%s %d" % kv for kv in sorted(counts.items()))))
def key(case):
    return [int(part) for part in case.split(".")]
for case in sorted(failed, key=key):
    print("  case %s: %s (close: %s)" % (case, *failed[case]), file=sys.stderr)
sys.exit(1 if failed or not results else 0)
PY
