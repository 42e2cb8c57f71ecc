#!/usr/bin/env bash
# The CLI as users install it: `npm pack` → install the tarball into a temp prefix → `--help` on
# Node 22 and 24 (npm's node@22 / node@24 packages); on an older Node (the machine's own, when it
# is one) one line naming the version needed and exit 1. Then the git install path
# (`npm install -g github:…` fetches the repository the same way as git+file): it must build
# nothing and install only the keyring binding beside the committed bundles.
set -euo pipefail
cd "$(dirname "$0")/.."
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail() { echo "check-package: $*" >&2; exit 1; }
# The minimum from package.json's engines (">=22.19.0"), which the launcher's message names.
need=$(sed -n 's/.*"node": ">=\([0-9.]*\)".*/\1/p' package.json)
[ -n "$need" ] || fail "package.json has no engines.node >= version"
need_num=$(awk -F. '{ print $1 * 1000 + $2 }' <<<"$need")

npm pack --pack-destination "$work" --silent >/dev/null
tarball=$(ls "$work"/*.tgz)
npm install -g --prefix "$work/prefix" --no-audit --no-fund --loglevel=error "$tarball" >/dev/null
bin="$work/prefix/bin/icloud-photos-action"
pkgdir=$(dirname "$(readlink -f "$bin")")/..
deps=$(cd "$pkgdir/node_modules" && ls -d */* 2>/dev/null | sort | tr '\n' ' ')
case "$deps" in
  "@napi-rs/keyring @napi-rs/keyring-"*) ;;
  *) fail "installed dependencies are '$deps', expected only @napi-rs/keyring and its binding" ;;
esac

# The chunks the CLI loads on demand (the S3 client) must ship with it.
for chunk in dist/[0-9]*.cli-main.js; do
  [ -e "$chunk" ] || continue
  [ -f "$pkgdir/$chunk" ] || fail "the package lacks $chunk (package.json files)"
done

# Node 24: the project's own dev dependency. Node 22: npm's node@22 package, in a temp dir.
npm install --no-save --no-package-lock --no-audit --no-fund --loglevel=error --prefix "$work/node22" node@22 >/dev/null
for nodebin in "$PWD/node_modules/node/bin" "$work/node22/node_modules/node/bin"; do
  v=$("$nodebin/node" --version)
  out=$(PATH="$nodebin:$PATH" "$bin" --help) || fail "--help failed on Node $v"
  grep -q '^Usage: icloud-photos-action' <<<"$out" || fail "--help on Node $v printed no usage"
  echo "Node $v: --help ok"
done

# An older Node: the machine's own when it is older than the minimum (Node 20 on this machine).
old=""
IFS=: read -ra dirs <<<"$PATH"
for d in "${dirs[@]}"; do
  [[ "$d" == *node_modules* || ! -x "$d/node" ]] && continue
  major=$("$d/node" -p 'process.versions.node.split(".").map(Number).reduce((a, n, i) => i < 2 ? a * 1000 + n : a, 0)')
  if [ "$major" -lt "$need_num" ]; then old="$d/node"; break; fi
done
if [ -n "$old" ]; then
  set +e
  PATH="$(dirname "$old"):$PATH" "$bin" --help >"$work/old.out" 2>"$work/old.err"
  code=$?
  set -e
  [ "$code" = 1 ] || fail "on Node $("$old" --version) the CLI exited $code, expected 1"
  [ ! -s "$work/old.out" ] || fail "on an old Node the CLI wrote to stdout"
  [ "$(wc -l <"$work/old.err")" = 1 ] || { cat "$work/old.err" >&2; fail "on an old Node the CLI printed more than one line"; }
  grep -qF "needs Node.js $need or later" "$work/old.err" || fail "the old-Node message does not name $need"
  echo "Node $("$old" --version): $(cat "$work/old.err")"
else
  echo "no Node older than $need on PATH: old-Node message not checked here"
fi

# The git install path, from this commit: no build, only the keyring beside the committed bundles.
if git rev-parse --verify -q HEAD >/dev/null && [ -z "$(git status --porcelain -- dist package.json)" ]; then
  npm install -g --prefix "$work/git" --no-audit --no-fund --loglevel=error "git+file://$PWD#$(git rev-parse HEAD)" >/dev/null
  gdir="$work/git/lib/node_modules/$(node -p 'require("./package.json").name')"
  [ -f "$gdir/dist/cli-main.js" ] || fail "git install has no dist/cli-main.js"
  [ ! -d "$gdir/src" ] || fail "git install carries the sources"
  gdeps=$(cd "$gdir/node_modules" && ls -d */* 2>/dev/null | sort | tr '\n' ' ')
  case "$gdeps" in "@napi-rs/keyring @napi-rs/keyring-"*) ;; *) fail "git install pulled in '$gdeps'" ;; esac
  out=$(PATH="$PWD/node_modules/node/bin:$PATH" "$work/git/bin/icloud-photos-action" --version)
  echo "git install: ok (version $out, dependencies: $gdeps)"
else
  echo "uncommitted changes in dist/ or package.json: git install path not checked"
fi
echo "check-package: ok"
