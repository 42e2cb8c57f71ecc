#!/usr/bin/env bash
# Runs the committed bundle the way a runner does (INPUT_*, GITHUB_OUTPUT/STATE/STEP_SUMMARY):
# a valid example config passes `mode: validate-config`; a typo fails with its file:line message.
set -euo pipefail
cd "$(dirname "$0")/.."
NODE=./node_modules/.bin/node
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/ws/.github"
cp examples/icloud-photos.yml "$work/ws/.github/icloud-photos.yml"
printf 'account:\n  username: me@example.com\nphotos:\n  thraeds: 4\n' >"$work/ws/.github/typo.yml"

run() {
  local config=$1
  : >"$work/out"; : >"$work/state"; : >"$work/summary"
  env -i PATH="$PATH" HOME="$work/home" GITHUB_ACTIONS=true GITHUB_WORKSPACE="$work/ws" \
    GITHUB_OUTPUT="$work/out" GITHUB_STATE="$work/state" GITHUB_STEP_SUMMARY="$work/summary" \
    RUNNER_TEMP="$work/tmp" RUNNER_OS=Linux GITHUB_REPOSITORY=octo/photos-backup \
    INPUT_CONFIG="$config" INPUT_MODE=validate-config "$NODE" dist/index.js
}

echo "-- valid config"
run .github/icloud-photos.yml | tee "$work/log1"
grep -q 'is valid' "$work/log1"
grep -q '^status<<' "$work/out"

echo "-- config with a typo"
set +e
run .github/typo.yml | tee "$work/log2"
code=${PIPESTATUS[0]}
set -e
[ "$code" = 1 ] || { echo "expected exit 1, got $code" >&2; exit 1; }
grep -q '::error file=.github/typo.yml,line=4' "$work/log2" || { echo "missing file:line annotation" >&2; exit 1; }
grep -q 'did you mean `threads`' "$work/log2" || { echo "missing suggestion" >&2; exit 1; }
echo "smoke: ok"
