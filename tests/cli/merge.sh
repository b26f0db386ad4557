#!/usr/bin/env bash
# merge: an output root's shards merge to exactly
# the unsharded run (same seeds, outcomes, trace hashes) with summary.json; anything
# that is not a campaign's journal is refused (exit 2, one line naming the file); a
# missing shard or missing seeds are named and exit 1, and resuming them completes the
# set; one signature failing in several shards is one group, shrunk once (--shrink).
set -eu
mmt="$1"
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
expect_refusal() {  # WANT COMMAND...: exit 2, one line on stderr containing WANT
  local want="$1" rc=0
  shift
  "$@" >/dev/null 2>"$dir/err.log" || rc=$?
  [ $rc -eq 2 ] || fail "exit $rc (wanted 2): $*"
  [ "$(wc -l <"$dir/err.log")" -eq 1 ] || fail "stderr is not one line: $(cat "$dir/err.log")"
  grep -qF -- "$want" "$dir/err.log" || fail "stderr lacks '$want': $(cat "$dir/err.log")"
}
# seed, outcome and trace hash of each journal line, sorted by seed.
facts() { jq -r '"\(.seed) \(.outcome) \(.trace_hash) \(.signature_id)"' "$1" | sort -n; }

run=(run --seeds 1..30 --ops 300 --quiet --jobs 2)
"$mmt" "${run[@]}" --out "$dir/whole" >/dev/null
for k in 1 2 3; do "$mmt" "${run[@]}" --shard $k/3 --out "$dir/root" >/dev/null; done
"$mmt" merge "$dir/root" >"$dir/merge.log" || fail "complete clean merge exited $?"
grep -q '^mmtorture merge: 3 of 3 shards, seeds 1..30' "$dir/merge.log" || fail "merge banner"
grep -q '^SUMMARY: 30 seeds, 9000 ops' "$dir/merge.log" || fail "merge summary: $(cat "$dir/merge.log")"
diff <(facts "$dir/whole/journal.jsonl") <(facts "$dir/root/journal.jsonl") || fail "merged journal differs from the whole run"
s="$dir/root/summary.json"
[ "$(jq -r '.kind, .complete, .shards.count, (.shards.present | length), .counts.seeds, .ops' "$s" | tr '\n' ' ')" = \
  "merge true 3 3 30 9000 " ] || fail "merged summary: $(cat "$s")"
[ "$(jq -r .config_hash "$s")" = "$(jq -r .config_hash "$dir/whole/summary.json")" ] || fail "config hash"
[ "$(jq -r '.throughput.tasks' "$s")" = 3 ] || fail "throughput of 3 tasks"
# Merging again (the merged journal.jsonl beside the shards is output, not input) is the same.
"$mmt" merge "$dir/root" >/dev/null || fail "second merge"
diff <(facts "$dir/whole/journal.jsonl") <(facts "$dir/root/journal.jsonl") || fail "second merge differs"
# Explicit journals, output elsewhere.
"$mmt" merge "$dir"/root/journal.shard-*-of-3.jsonl --out "$dir/elsewhere" | grep -q '^SUMMARY: 30 seeds' ||
  fail "merge of explicit journals"
[ -f "$dir/elsewhere/journal.jsonl" ] && [ -f "$dir/elsewhere/summary.json" ] || fail "merge --out"

# Not a campaign's journal: exit 2, one line naming the file.
mkdir "$dir/empty-dir"
expect_refusal "$dir/empty-dir: no journal.jsonl or journal.shard-K-of-N.jsonl in this directory" "$mmt" merge "$dir/empty-dir"
head -c 300 /dev/urandom >"$dir/random.bin"
expect_refusal "$dir/random.bin: not a journal's name" "$mmt" merge "$dir/random.bin"
: >"$dir/empty.jsonl"
expect_refusal "$dir/empty.jsonl: not a journal's name" "$mmt" merge "$dir/empty.jsonl"
expect_refusal "$dir/nope: no such file or directory" "$mmt" merge "$dir/nope"
mkdir "$dir/bytes" && { head -c 300 /dev/urandom; echo; } >"$dir/bytes/journal.jsonl"
expect_refusal "$dir/bytes/journal.jsonl: no summary.json beside it" "$mmt" merge "$dir/bytes"
cp "$dir/whole/summary.json" "$dir/bytes/summary.json"
printf 'garbage\n{"seed": 1}\n' >"$dir/bytes/journal.jsonl"
expect_refusal "$dir/bytes/journal.jsonl:1: journal: not a journal line" "$mmt" merge "$dir/bytes"
head -c 200 /dev/urandom >"$dir/bytes/summary.json"
expect_refusal "$dir/bytes/summary.json: summary: not a mmtorture-summary/1 file" "$mmt" merge "$dir/bytes"
# Shards of different campaigns (another --ops is another config hash).
mkdir "$dir/mixed" && cp "$dir"/root/*shard-1-of-3* "$dir/mixed/"
"$mmt" run --seeds 1..30 --ops 301 --quiet --shard 2/3 --out "$dir/mixed" >/dev/null
expect_refusal "journal.shard-2-of-3.jsonl: config_hash:" "$mmt" merge "$dir/mixed"
[ ! -e "$dir/mixed/journal.jsonl" ] && [ ! -e "$dir/mixed/summary.json" ] || fail "a refused merge wrote output"

# Incomplete sets: a shard never ran, a shard cut short. Exit 1, each named.
mkdir "$dir/part"
one=(run --seeds 1..20 --ops 300 --quiet --jobs 1)
"$mmt" "${one[@]}" --shard 1/3 --out "$dir/part" >/dev/null
"$mmt" "${one[@]}" --shard 3/3 --out "$dir/part" >/dev/null
head -n 5 "$dir/part/journal.shard-1-of-3.jsonl" >"$dir/cut" && mv "$dir/cut" "$dir/part/journal.shard-1-of-3.jsonl"
rc=0; "$mmt" merge "$dir/part" >"$dir/part.log" || rc=$?
[ $rc -eq 1 ] || fail "incomplete merge exited $rc"
grep -qx 'missing: shard 1/3: 2 of 7 seeds not journaled: seeds 16..19 step 3' "$dir/part.log" || fail "shard 1 cut: $(cat "$dir/part.log")"
grep -qx 'missing: shard 2/3: no journal (seeds 2..20 step 3, 7 seeds)' "$dir/part.log" || fail "shard 2 missing: $(cat "$dir/part.log")"
grep -q '^INCOMPLETE: 2 of 3 shards lack seeds; no merged journal written' "$dir/part.log" || fail "INCOMPLETE line"
[ ! -e "$dir/part/journal.jsonl" ] || fail "an incomplete merge wrote a merged journal"
[ "$(jq -r '.complete, (.missing | length)' "$dir/part/summary.json" | tr '\n' ' ')" = "false 2 " ] || fail "incomplete summary"
"$mmt" "${one[@]}" --shard 1/3 --out "$dir/part" --resume | grep -q '^resuming: 5 seeds already' || fail "resume shard 1"
"$mmt" "${one[@]}" --shard 2/3 --out "$dir/part" >/dev/null
"$mmt" merge "$dir/part" >"$dir/part.log" || fail "completed set exited $?"
[ "$(jq -r .complete "$dir/part/summary.json")" = true ] || fail "completed summary"

# One signature failing in several shards: one group naming both shards, shrunk once.
planted=(run --seeds 1..4 --ops 400 --quiet --set checks.selftest_plant_fork_after_op=50 --set run.shrink=false)
for k in 1 2; do "$mmt" "${planted[@]}" --shard $k/2 --out "$dir/fail" >/dev/null || [ $? -eq 1 ]; done
rc=0; "$mmt" merge "$dir/fail" --shrink >"$dir/fail.log" || rc=$?
[ $rc -eq 1 ] || fail "merge of failing shards exited $rc"
[ "$(grep -c '^shrunk ' "$dir/fail.log")" -eq 1 ] || fail "not one shrink: $(cat "$dir/fail.log")"
grep -qE '^  4 +[0-9a-f]{16} seed 1 +1,2 +selftest.planted' "$dir/fail.log" || fail "group row: $(cat "$dir/fail.log")"
[ "$(jq -r '.signatures | length' "$dir/fail/summary.json")" = 1 ] || fail "signatures"
[ "$(jq -c '.signatures[0].shards' "$dir/fail/summary.json")" = '[1,2]' ] || fail "shards of the signature"
min=$(jq -r '.signatures[0].shrunk.path' "$dir/fail/summary.json")
[ -f "$min" ] && [ "$(jq -r '.signatures[0].shrunk.choices' "$dir/fail/summary.json")" = "$(jq '.choices | length' "$min")" ] ||
  fail "shrunk repro"
# A second --shrink finds it shrunk.
"$mmt" merge "$dir/fail" --shrink | grep -q ': already shrunk to ' || fail "second --shrink"
echo "merge: equal to the whole run, bad inputs refused, missing shards named, failures grouped"
