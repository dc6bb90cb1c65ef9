#!/usr/bin/env bash
# sqlfocus as a dependency, the way a new user meets it (the README's "Use it in your project"):
#   npm pack this repository → a fresh project in a temporary folder → a plain `npm i <tarball>` (no SQLFOCUS_* or
#   other variables, no .npmrc) → there: the library flow (initTinyModel, finetune, merge), `npx sqlfocus --version`,
#   `npx sqlfocus quantize … --type Q4_K_M`, `npx sqlfocus serve` + one POST /text2sql, require('sqlfocus') from
#   CommonJS, and a strict tsc (no skipLibCheck) of a TypeScript consumer file.
# Run by .ci/run; alone: bash scripts/consumer-check.sh (SQLFOCUS_CONSUMER_KEEP=1 keeps the scratch folder).
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
work="$(mktemp -d "${TMPDIR:-/tmp}/sqlfocus-consumer-XXXXXX")"
server_pid=""
cleanup() {
  if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
  if [ "${SQLFOCUS_CONSUMER_KEEP:-0}" = 1 ]; then echo "consumer check: kept $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT
t0=$SECONDS
step() { echo; echo "=== consumer check [$((SECONDS - t0)) s]: $*"; }
# a user's shell: none of this repository's build switches, no npm_config_* from an enclosing npm
clean_env=(env -i "PATH=$PATH" "HOME=$HOME" "TMPDIR=${TMPDIR:-/tmp}" "LANG=${LANG:-C.UTF-8}")

step "npm pack (prepack builds the prebuilt addon)"
(cd "$repo" && "${clean_env[@]}" npm pack --pack-destination "$work" >"$work/pack.log" 2>&1) || { tail -40 "$work/pack.log"; exit 1; }
tarball="$(ls "$work"/sqlfocus-*.tgz)"
version="$(node -p "require('$repo/package.json').version")"
listing="$(tar tzf "$tarball")"
grep -qx "package/prebuilds/linux-x64/node.napi.glibc.node" <<<"$listing" || { echo "the tarball has no linux-x64 prebuilt addon"; exit 1; }
if grep -q '\.map$' <<<"$listing"; then echo "the tarball ships .map files"; exit 1; fi
grep -qx "package/LICENSE" <<<"$listing" || { echo "the tarball has no LICENSE"; exit 1; }
echo "$(basename "$tarball"): $(wc -l <<<"$listing") files, $(du -k "$tarball" | cut -f1) KiB"

step "a fresh project: npm i $(basename "$tarball")"
app="$work/app"
mkdir -p "$app"
cp "$repo"/test/consumer/{library.mjs,require.cjs,consumer.ts,tsconfig.json} "$app/"
cd "$app"
printf '{ "name": "consumer-app", "version": "1.0.0", "private": true, "type": "module" }\n' > package.json
"${clean_env[@]}" npm i "$tarball" --no-audit --no-fund 2>&1 | tee "$work/install.log" | tail -5
# npm runs the install hook quietly: a source build (or a failed one) would have left node_modules/sqlfocus/build
if [ -d node_modules/sqlfocus/build ]; then echo "the install built the addon from source instead of using the prebuilt one"; ls -R node_modules/sqlfocus/build | head; exit 1; fi
for heavy in onnxruntime-node onnxruntime-web sharp @huggingface/transformers; do
  if [ -d "node_modules/$heavy" ]; then echo "node_modules/$heavy was installed"; exit 1; fi
done
echo "node_modules: $(du -sm node_modules | cut -f1) MB"

step "library: import { initTinyModel, finetune, merge } from 'sqlfocus'"
"${clean_env[@]}" node library.mjs

step "npx sqlfocus --version"
got="$("${clean_env[@]}" npx sqlfocus --version)"
[ "$got" = "$version" ] || { echo "sqlfocus --version printed '$got', expected $version"; exit 1; }
echo "$got"

step "npx sqlfocus quantize ./new-model ./model.Q4_K_M.gguf --type Q4_K_M"
"${clean_env[@]}" npx sqlfocus quantize ./new-model ./model.Q4_K_M.gguf --type Q4_K_M
[ -s model.Q4_K_M.gguf ] || { echo "no model.Q4_K_M.gguf"; exit 1; }

step "npx sqlfocus serve --model ./model.Q4_K_M.gguf + POST /text2sql"
port="$(node -e "const s=require('net').createServer().listen(0,'127.0.0.1',()=>{console.log(s.address().port);s.close()})")"
"${clean_env[@]}" npx sqlfocus serve --model ./model.Q4_K_M.gguf --port "$port" --max-tokens 16 >"$work/serve.log" 2>&1 &
server_pid=$!
for _ in $(seq 1 240); do
  if curl -fsS "http://127.0.0.1:$port/health" >/dev/null 2>&1; then break; fi
  if ! kill -0 "$server_pid" 2>/dev/null; then cat "$work/serve.log"; echo "serve exited"; exit 1; fi
  sleep 0.5
done
reply="$(curl -fsS --max-time 120 "http://127.0.0.1:$port/text2sql" -H 'content-type: application/json' \
  -d '{"question":"How many customers are there?","db_schema":"CREATE TABLE customer(id INT, name TEXT);","max_tokens":16}')"
node -e "const r=JSON.parse(process.argv[1]); if (typeof r.sql !== 'string') throw new Error('no sql in ' + process.argv[1]); console.log('text2sql: 200, sql field of', r.sql.length, 'chars')" "$reply"
kill "$server_pid"; wait "$server_pid" 2>/dev/null || true; server_pid=""

step "require('sqlfocus') from CommonJS"
"${clean_env[@]}" node require.cjs

step "strict tsc (no skipLibCheck) of a TypeScript consumer"
ts_version="$(node -p "require('$repo/package.json').devDependencies.typescript")"
types_node="$(node -p "require('$repo/package.json').devDependencies['@types/node']")"
"${clean_env[@]}" npm i -D "typescript@$ts_version" "@types/node@$types_node" --no-audit --no-fund 2>&1 | tail -1
"${clean_env[@]}" npx tsc -p tsconfig.json
echo "tsc: no errors"

echo
echo "=== consumer check passed in $((SECONDS - t0)) s"
