#!/usr/bin/env bash
# Run cdk-nag's AwsSolutions rule pack on the compiled CloudFormation templates of one or
# more environments and print its findings. Not part of the test suite: needs Node.js + npm.
#
#   scripts/nag.sh [OUT_ENV_DIR ...]     default: out/prod
#   e.g. scripts/nag.sh examples/fillup/out/prod
#
# Exit: 0 no unsuppressed errors, 1 unsuppressed errors (or a template that could not be
# loaded), 2 node/npm missing or the install failed.
# Dependencies (pinned in scripts/nag/package.json + package-lock.json) are installed into
# scripts/nag/node_modules on first run.
set -euo pipefail

for tool in node npm; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "nag.sh: '$tool' not found. This script needs Node.js (>= 20) and npm," >&2
    echo "        e.g. 'apt-get install nodejs npm'; it is not part of the test suite." >&2
    exit 2
  fi
done

if ! node -e 'process.exit(+process.versions.node.split(".")[0] >= 20 ? 0 : 1)'; then
  echo "nag.sh: Node.js $(node --version) is too old; aws-cdk-lib needs Node.js >= 20." >&2
  exit 2
fi

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
nag="$here/nag"

# (Re)install when node_modules is missing or older than the lock file.
stamp="$nag/node_modules/.package-lock.json"
if [[ ! -f "$stamp" || "$nag/package-lock.json" -nt "$stamp" || "$nag/package.json" -nt "$stamp" ]]; then
  echo "nag.sh: installing cdk-nag and aws-cdk-lib into scripts/nag/node_modules (first run) ..." >&2
  if [[ -f "$nag/package-lock.json" ]]; then cmd=ci; else cmd=install; fi
  if ! (cd "$nag" && npm "$cmd" --no-audit --no-fund --loglevel=error >&2); then
    echo "nag.sh: 'npm $cmd' failed in scripts/nag" >&2
    exit 2
  fi
fi

# Default: the repository's own out/prod, wherever this is run from.
if [[ $# -eq 0 ]]; then cd "$here/.."; set -- out/prod; fi
exec node "$nag/nag.js" "$@"
