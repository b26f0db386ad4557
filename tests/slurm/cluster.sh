# tests/slurm/cluster.sh: sourced by tests/slurm/round_trip.sh and scripts/bench-slurm.
# Starts a single-node Slurm cluster from Debian's slurm-wlm and munge (installed with
# apt-get when missing): munged with a key of its own, slurmctld -D and slurmd -D with a
# generated slurm.conf (proctrack/linuxproc, task/none: no systemd or cgroups needed),
# everything in a scratch folder ($scratch) and on ports of its own, SLURM_CONF exported.
# An EXIT trap stops the daemons it started, by pid, and removes the scratch folder.
# Defines wait_job ID (waits for a job to end, prints its JobState and ExitCode) and
# fail MESSAGE. Needs root.
[ "$(id -u)" -eq 0 ] || { echo "${0##*/}: needs root (slurmd runs jobs as any user)" >&2; exit 2; }

if ! command -v slurmctld >/dev/null || ! command -v munged >/dev/null; then
  echo "${0##*/}: installing slurm-wlm and munge" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q >/dev/null || true
  apt-get install -y -q --no-install-recommends slurm-wlm munge >/dev/null
fi

fail() { echo "${0##*/}: FAIL: $*" >&2; exit 1; }
scratch=$(mktemp -d /tmp/mmt-slurm.XXXXXX)
pids=()
stop() {
  local status=$?
  for ((i = ${#pids[@]} - 1; i >= 0; i--)); do kill "${pids[$i]}" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  done
  if [ $status -ne 0 ]; then
    echo "${0##*/}: FAILED; daemon logs:" >&2
    tail -n 20 "$scratch"/*.log >&2 2>/dev/null || true
  fi
  rm -rf "$scratch"
  exit $status
}
trap stop EXIT

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
