#!/usr/bin/env bash
# A table of malformed configs and repro files: each must be rejected with exit 2 and
# a one-line `file:line: key: reason` message on stderr, and never crash.
set -u
mmt="$1"
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
failures=0

# expect NAME EXPECTED-MESSAGE COMMAND...
expect() {
  local name="$1" want="$2"
  shift 2
  local err
  err=$("$@" 2>&1 >/dev/null)
  local rc=$?
  if [ $rc -ne 2 ] || ! grep -qF -- "$want" <<<"$err" || [ "$(wc -l <<<"$err")" -ne 1 ]; then
    echo "FAIL $name: exit $rc, stderr: $err (wanted exit 2 and: $want)"
    failures=$((failures + 1))
  fi
}

config() {  # config NAME EXPECTED TOML
  printf '%b' "$3" >"$dir/$1.toml"
  expect "$1" "$2" "$mmt" run "$dir/$1.toml" --seeds 1..1 --ops 10 --out "$dir/out" --quiet
}
config unknown_key         "$dir/unknown_key.toml:2: world.memory_page: unknown key" '[world]\nmemory_page = 4096\n'
config unknown_section     "$dir/unknown_section.toml:1: wrold: unknown section" '[wrold]\nmm_slots = 2\n'
config wrong_type_int      "$dir/wrong_type_int.toml:3: world.mm_slots: expected integer, got a string" '[world]\n\nmm_slots = "4"\n'
config wrong_type_bool     "$dir/wrong_type_bool.toml:2: world.kswapd: expected boolean, got an integer" '[world]\nkswapd = 1\n'
config out_of_range        "$dir/out_of_range.toml:2: faults.nowait_fail_probability: 1.5 is out of range 0..1" '[faults]\nnowait_fail_probability = 1.5\n'
config negative            "$dir/negative.toml:2: workload.workers: -3 is out of range 1..64" '[workload]\nworkers = -3\n'
config bad_enum            "$dir/bad_enum.toml:2: schedule.strategy: must be \"preempt\", \"uniform\", \"pct\" or \"bounded\"" '[schedule]\nstrategy = "dfs"\n'
config bad_job             "$dir/bad_job.toml:2: workload.job: must be \"world\", \"maple\", \"page_model\", \"cma\" or \"nommu\"" '[workload]\njob = "dma"\n'
config bad_seeds           "$dir/bad_seeds.toml:2: run.seeds: '9..2' is empty" '[run]\nseeds = "9..2"\n'
config syntax              "$dir/syntax.toml:2: toml:" '[world]\nmm_slots = = 3\n'
config not_a_table         "$dir/not_a_table.toml:1: world: expected a [section] table" 'world = 3\n'
config nested_value        "$dir/nested_value.toml:2: world.mm_slots: expected a value" '[world]\nmm_slots = [1, 2]\n'
config pageblock           "$dir/pageblock.toml:2: world.memory_pages: 1000 is not a multiple" '[world]\nmemory_pages = 1000\n'
config odd_board           "$dir/odd_board.toml:4: nommu.memory_mib: 33 is not a whole number of 2 MiB pageblocks" '[workload]\njob = "nommu"\n[nommu]\nmemory_mib = 33\n'
config bad_prealloc        "$dir/bad_prealloc.toml:2: nommu.prealloc: must be \"after\" or \"before\"" '[nommu]\nprealloc = "first"\n'
config reserved           "$dir/reserved.toml:3: world.reserved_pages: 500 of 512 pages reserved" '[world]\nmemory_pages = 512\nreserved_pages = 500\nmin_free_pages = 64\n'
config empty_mix           "workload.mix_*: every op weight is 0" '[workload]\nmix_mmap_fixed=0\nmix_mmap=0\nmix_munmap=0\nmix_mprotect=0\nmix_fault=0\nmix_mremap=0\nmix_brk=0\nmix_fork=0\nmix_exit=0\n'
config bad_mix_job         "$dir/bad_mix_job.toml:2: workload.job_mix: 'dma:1': the job must be" '[workload]\njob_mix = ["world:8", "dma:1"]\n'
config bad_mix_weight      "$dir/bad_mix_weight.toml:3: workload.job_mix: 'maple:x': the weight must be an integer in 1..1000" '[workload]\njob = "world"\njob_mix = ["world:8", "maple:x"]\n'
config bad_job_set         "$dir/bad_job_set.toml:3: workload.job_set: 'maple:cma.clients=99': cma.clients: 99 is out of range 1..16" '[workload]\njob_mix = ["world:8", "maple:1"]\njob_set = ["maple:cma.clients=99"]\n'
config job_set_not_mixed   "$dir/job_set_not_mixed.toml:3: workload.job_set: 'cma:cma.clients=2': the cma job is not in workload.job_mix" '[workload]\njob_mix = ["world:8", "maple:1"]\njob_set = ["cma:cma.clients=2"]\n'
expect missing_file "$dir/nope.toml: cannot open the config file" "$mmt" run "$dir/nope.toml"
expect bad_override "--set: schedule.pct_depth: 0 is out of range 1..16" "$mmt" run --set schedule.pct_depth=0
expect bad_override_key "--set: run.nope: unknown key" "$mmt" run --set run.nope=1
expect bad_shard "--shard: '3/2' is not K/N" "$mmt" run --shard 3/2 --seeds 1..1

# Repro files: start from a valid one and break one thing at a time.
"$mmt" run --seeds 1..1 --ops 400 --set checks.selftest_plant_fork_after_op=50 --set run.shrink=false \
  --out "$dir/good" --quiet >/dev/null
good=$(ls "$dir"/good/failures/*/1.repro.json)
repro() {  # repro NAME EXPECTED SED-EXPRESSION
  sed "$3" "$good" >"$dir/$1.repro.json"
  expect "$1" "$2" "$mmt" replay "$dir/$1.repro.json"
}
repro not_json      "$dir/not_json.repro.json:4: json: not valid JSON" '4s/,/,,/'
repro wrong_format  "$dir/wrong_format.repro.json:2: format: expected \"mmtorture-repro/1\"" 's/mmtorture-repro\/1/mmtorture-repro\/9/'
repro missing_seed  "$dir/missing_seed.repro.json: seed: missing" '/"seed":/d'
repro bad_hash      "$dir/bad_hash.repro.json:5: trace_hash: expected 16 hex digits" 's/"trace_hash": "/"trace_hash": "zz/'
repro bad_kind      "$dir/bad_kind.repro.json:11: choices[1]: kind: unknown choice kind \"Bogus\"" '11s/\["[A-Za-z]*"/["Bogus"/'
repro bad_value     "$dir/bad_value.repro.json:11: choices[1]: value 99999 is not below bound" '11s/, [0-9]*\]/, 99999]/'
repro bad_config    "$dir/bad_config.repro.json:8: config.world.mm_slots: 0 is out of range 1..64" 's/"mm_slots":[0-9]*/"mm_slots":0/'
repro config_key    "$dir/config_key.repro.json:8: config.world.bogus: unknown key" 's/"mm_slots":/"bogus":/'
expect missing_repro "$dir/none.json: cannot open the file" "$mmt" replay "$dir/none.json"

# Replay takes a repro, or raw fuzz bytes only when asked (--fuzz-input) or when the
# name is a fuzz_world artifact's: nothing else "runs clean".
: >"$dir/empty.json"
expect replay_empty "$dir/empty.json: empty file, not a repro (a raw fuzz_world input? replay it with --fuzz-input)" \
  "$mmt" replay "$dir/empty.json"
expect replay_directory "$dir: is a directory, not a repro file" "$mmt" replay "$dir"
cp "$(dirname "$0")/../../configs/smoke.toml" "$dir/smoke.toml"
expect replay_config "$dir/smoke.toml:1: json: not valid JSON" "$mmt" replay "$dir/smoke.toml"
head -c 300 /dev/urandom | tr -d '{' >"$dir/random.bin"
expect replay_random "$dir/random.bin:" "$mmt" replay "$dir/random.bin"
printf 'x' >"$dir/fuzz_maple-crash-0123abcd"
expect replay_other_target "a fuzz_maple artifact: replay only runs fuzz_world inputs" \
  "$mmt" replay "$dir/fuzz_maple-crash-0123abcd"
expect replay_set_on_repro "--set and --write-repro apply to fuzz inputs only" \
  "$mmt" replay "$good" --set run.ops_per_seed=3
printf '8e508' >"$dir/overflow.repro.json"
expect repro_number_overflow "$dir/overflow.repro.json:" "$mmt" replay "$dir/overflow.repro.json"
expect shrink_directory "$dir: is a directory, not a file" "$mmt" shrink "$dir" -o "$dir/m.json"

expect shrink_zero_attempts "--attempts: Value 0 not in range 1 to 1000000" "$mmt" shrink "$good" --attempts 0

# Output paths are checked before any work: nothing runs, nothing is written.
expect dump_tree_out_dir "--dump-tree-out: $dir/nodir/t.dot: the directory $dir/nodir does not exist" \
  "$mmt" replay "$good" --dump-tree-out "$dir/nodir/t.dot"
expect dump_tree_out_is_dir "--dump-tree-out: $dir: is a directory" "$mmt" replay "$good" --dump-tree-out "$dir"
expect shrink_out_dir "shrink --out: $dir/nodir/m.json: the directory $dir/nodir does not exist" \
  "$mmt" shrink "$good" -o "$dir/nodir/m.json"
expect export_out_dir "export-fuzz: $dir/nodir/f.bin: the directory $dir/nodir does not exist" \
  "$mmt" export-fuzz "$good" "$dir/nodir/f.bin"

if [ $failures -ne 0 ]; then
  echo "$failures malformed input(s) not rejected as they should be"
  exit 1
fi
echo "all malformed inputs rejected with exit 2 and their messages"
