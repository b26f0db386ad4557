#!/usr/bin/env bash
# tests/slurm/round_trip.sh [MMTORTURE]: deploy/slurm/campaign.sbatch against a real
# Slurm (issue 20 item 4). Starts a single-node cluster from Debian's slurm-wlm and
# munge (installed with apt-get when missing; munged, slurmctld -D, slurmd -D with a
# generated slurm.conf, everything in a scratch folder, ports of their own), then:
#  1. submits an array of 4 tasks over smoke seeds plus its merge job and checks that
#     the merged journal equals a single-machine run of the same seeds (seeds, outcomes,
#     trace hashes) and summary.json says complete;
#  2. cancels one task of a second submission: the merge job names that shard missing
#     and exits 1; re-submitting just that task (it runs with --resume) completes the
#     set, equal to the single-machine run again.
# Stops the daemons it started, by pid, on any exit. Needs root (as CI runs).
set -euo pipefail
cd "$(dirname "$0")/../.."
mmt=$(realpath "${1:-build/default/bin/mmtorture}")
[ -x "$mmt" ] || { echo "round_trip: no mmtorture at $mmt (build first)" >&2; exit 2; }
[ "$(id -u)" -eq 0 ] || { echo "round_trip: needs root (slurmd runs jobs as any user)" >&2; exit 2; }

if ! command -v slurmctld >/dev/null || ! command -v munged >/dev/null; then
  echo "round_trip: installing slurm-wlm and munge" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q >/dev/null || true
  apt-get install -y -q --no-install-recommends slurm-wlm munge >/dev/null
fi

scratch=$(mktemp -d /tmp/mmt-slurm.XXXXXX)
pids=()
stop() {
  local status=$?
  for ((i = ${#pids[@]} - 1; i >= 0; i--)); do kill "${pids[$i]}" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  done
  if [ $status -ne 0 ]; then
    echo "round_trip: FAILED; daemon logs:" >&2
    tail -n 20 "$scratch"/*.log >&2 2>/dev/null || true
  fi
  rm -rf "$scratch"
  exit $status
}
trap stop EXIT
fail() { echo "round_trip: FAIL: $*" >&2; exit 1; }

# munge: a key of our own, its socket in the scratch folder.
mkdir -p "$scratch/munge" "$scratch/state" "$scratch/spool"
chmod 755 "$scratch/munge"
head -c 1024 /dev/urandom >"$scratch/munge/munge.key"
chmod 400 "$scratch/munge/munge.key"
munged -F --force --key-file="$scratch/munge/munge.key" --socket="$scratch/munge/munge.socket" \
  --pid-file="$scratch/munge/munged.pid" --log-file="$scratch/munged.log" --seed-file="$scratch/munge/munged.seed" \
  2>>"$scratch/munged.log" &
pids+=($!)
for _ in $(seq 1 100); do [ -S "$scratch/munge/munge.socket" ] && break; sleep 0.05; done
[ -S "$scratch/munge/munge.socket" ] || fail "munged did not start"

host=$(hostname -s)
port=$((20000 + RANDOM % 20000))  # not the default 6817/6818: another cluster may run here
export SLURM_CONF="$scratch/slurm.conf"
cat >"$SLURM_CONF" <<CONF
ClusterName=mmt$port
SlurmctldHost=$host
SlurmUser=root
SlurmdUser=root
SlurmctldPort=$port
SlurmdPort=$((port + 1))
AuthType=auth/munge
AuthInfo=socket=$scratch/munge/munge.socket
CredType=cred/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
MpiDefault=none
ReturnToService=2
StateSaveLocation=$scratch/state
SlurmdSpoolDir=$scratch/spool
SlurmctldPidFile=$scratch/slurmctld.pid
SlurmdPidFile=$scratch/slurmd.pid
SlurmctldLogFile=$scratch/slurmctld.log
SlurmdLogFile=$scratch/slurmd.log
NodeName=$host CPUs=$(nproc) State=UNKNOWN
PartitionName=mmt Nodes=$host Default=YES MaxTime=INFINITE State=UP
CONF
slurmctld -D -i -f "$SLURM_CONF" 2>>"$scratch/slurmctld.log" &
pids+=($!)
slurmd -D -f "$SLURM_CONF" 2>>"$scratch/slurmd.log" &
pids+=($!)
for _ in $(seq 1 100); do sinfo -h -o %T 2>/dev/null | grep -q idle && break; sleep 0.1; done
sinfo -h -o %T | grep -q idle || fail "the node did not come up idle: $(sinfo 2>&1)"

# job_state ID: the state and exit code of a job once it has ended.
wait_job() {
  local id=$1 line=""
  for _ in $(seq 1 1200); do
    line=$(scontrol show job "$id" 2>/dev/null | tr ' ' '\n' | grep -E '^(JobState|ExitCode)=' | tr '\n' ' ')
    case "$line" in *JobState=COMPLETED* | *JobState=FAILED* | *JobState=CANCELLED* | *JobState=TIMEOUT*) echo "$line"; return 0 ;; esac
    sleep 0.1
  done
  fail "job $id did not end: $line"
}
# seed, outcome, trace hash and signature of each journal line, by seed.
facts() { jq -r '"\(.seed) \(.outcome) \(.trace_hash) \(.signature_id)"' "$1" | sort -n; }

seeds=1..40
run_args="--ops 1000 --quiet"
"$mmt" run configs/smoke.toml --seeds $seeds $run_args --jobs 2 --out "$scratch/local" >/dev/null
submit() {  # submit OUT TASKS [SBATCH OPTIONS...]: prints "ARRAY MERGE"
  local out=$1
  shift
  MMT_BIN="$mmt" MMT_OUT="$out" MMT_CONFIG=configs/smoke.toml MMT_SEEDS=$seeds MMT_RUN_ARGS="$run_args" \
    deploy/slurm/campaign.sbatch "$@" | sed -E 's/^array job ([0-9]+) .*merge job ([0-9]+):.*/\1 \2/'
}

# 1. The round trip.
started=$(date +%s%N)
read -r array merge < <(submit "$scratch/out" 4)
state=$(wait_job "$merge")
elapsed_ms=$((($(date +%s%N) - started) / 1000000))
echo "round_trip: array $array + merge $merge: $state(${elapsed_ms} ms from submit to merged summary)"
[[ "$state" == *"JobState=COMPLETED"*"ExitCode=0:0"* ]] || fail "merge job: $state; $(cat "$scratch"/out/logs/merge-*.out)"
for k in 1 2 3 4; do [ -f "$scratch/out/journal.shard-$k-of-4.jsonl" ] || fail "no journal for shard $k"; done
diff <(facts "$scratch/local/journal.jsonl") <(facts "$scratch/out/journal.jsonl") ||
  fail "the merged journal differs from the single-machine run"
[ "$(jq -r '.complete, .counts.seeds, .shards.count' "$scratch/out/summary.json" | tr '\n' ' ')" = "true 40 4 " ] ||
  fail "summary.json: $(cat "$scratch/out/summary.json")"
grep -q '^SUMMARY: 40 seeds, 40000 ops' "$scratch"/out/logs/merge-"$merge".out || fail "merge log"

# 2. A lost task: hold the array, cancel task 3 before it starts, release the rest.
read -r array merge < <(submit "$scratch/lost" 4 --hold)
scancel "${array}_3"
scontrol release "$array"
state=$(wait_job "$merge")
[[ "$state" == *"ExitCode=1:0"* ]] || fail "the merge of an incomplete set: $state (wanted exit 1)"
log="$scratch/lost/logs/merge-$merge.out"
grep -qx 'missing: shard 3/4: no journal (seeds 3..39 step 4, 10 seeds)' "$log" || fail "shard 3 not named: $(cat "$log")"
grep -q '^INCOMPLETE: 1 of 4 shards' "$log" || fail "no INCOMPLETE line: $(cat "$log")"
[ ! -e "$scratch/lost/journal.jsonl" ] || fail "an incomplete merge wrote a merged journal"
echo "round_trip: task ${array}_3 cancelled: the merge job named shard 3/4 missing and exited 1"
# Re-submit just that task (tasks run with --resume) and its merge.
read -r array merge < <(MMT_ARRAY=3 submit "$scratch/lost" 4)
state=$(wait_job "$merge")
[[ "$state" == *"JobState=COMPLETED"*"ExitCode=0:0"* ]] || fail "merge after the re-submission: $state; $(cat "$scratch/lost/logs/merge-$merge.out")"
diff <(facts "$scratch/local/journal.jsonl") <(facts "$scratch/lost/journal.jsonl") ||
  fail "the completed set differs from the single-machine run"
echo "round_trip: shard 3 re-submitted alone ($array): the set is complete and equals the single-machine run"
