#!/usr/bin/env bash
# A one-node Slurm (munge + slurmctld + slurmd) on this machine, without systemd, for the tests
# and for trying `normlab study --executor slurm` (see README, "Studies on Slurm").
# Idempotent: installs Debian's packages when they are missing (as root, or through passwordless
# sudo), writes a one-node config on 127.0.0.1, starts only what is not already running, and
# waits until the node is idle. Use the cluster with:
#   export SLURM_CONF=$SLURM_ROOT/etc/slurm.conf     (or: source $SLURM_ROOT/env.sh)
# Stop with stop-slurm.sh (kills only the PIDs recorded here).
# Exit status: 0 up, 1 failed (logs on stderr), 3 cannot run here (not root, no sudo).
set -euo pipefail

if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
    exec sudo -n env SLURM_ROOT="${SLURM_ROOT:-}" SLURM_NODE_MEM_MB="${SLURM_NODE_MEM_MB:-}" \
      SLURM_START_TIMEOUT="${SLURM_START_TIMEOUT:-}" SLURM_TASK_PLUGIN="${SLURM_TASK_PLUGIN:-}" "$0" "$@"
  fi
  echo "start-slurm: needs root (or passwordless sudo) to run munged, slurmctld and slurmd" >&2
  exit 3
fi

ROOT=${SLURM_ROOT:-/tmp/normlab-slurm}
NODE=$(hostname -s)
CPUS=$(nproc)
MEM_MB=${SLURM_NODE_MEM_MB:-4096}          # advertised memory; must not exceed the real amount
WAIT_S=${SLURM_START_TIMEOUT:-60}
TASK_PLUGIN=${SLURM_TASK_PLUGIN:-task/affinity}  # pins each task to its CPUs; task/none also works (no pinning)
CONF=$ROOT/etc/slurm.conf
RUN=$ROOT/run
export SLURM_CONF=$CONF
t0=$(date +%s%N)
log() { local ms=$(( ($(date +%s%N) - t0) / 1000000 )); printf '[start-slurm %3d.%02ds] %s\n' $((ms / 1000)) $((ms % 1000 / 10)) "$*"; }
# alive PIDFILE COMM: the recorded process still runs and is what we expect (not a reused PID)
alive() {
  local pid st; [ -s "$1" ] || return 1; pid=$(cat "$1")
  st=$(awk '/^State:/{print $2}' /proc/"$pid"/status 2>/dev/null)
  [ -n "$st" ] && [ "$st" != Z ] && [ "$(cat /proc/"$pid"/comm)" = "$2" ]   # zombies linger here: PID 1 reaps slowly
}
fail() { echo "start-slurm: $*" >&2; tail -n 20 "$ROOT"/log/*.log /var/log/munge/munged.log 2>/dev/null >&2; exit 1; }

# 1. packages (Debian 12: slurm 22.05.8, munge 0.5.15)
if ! command -v slurmctld >/dev/null || ! command -v slurmd >/dev/null \
   || ! command -v sbatch >/dev/null || ! command -v munged >/dev/null; then
  log "installing slurmctld slurmd slurm-client munge"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends slurmctld slurmd slurm-client munge >/dev/null
fi

# 2. munge: key (0400, owned by munge), runtime dir, daemon (runs as user munge)
install -d -o munge -g munge -m 0700 /etc/munge /var/log/munge
install -d -o munge -g munge -m 0711 /var/lib/munge
install -d -o munge -g munge -m 0755 /run/munge
if [ ! -s /etc/munge/munge.key ]; then
  log "creating munge key"
  mungekey --create --keyfile=/etc/munge/munge.key
fi
chown munge:munge /etc/munge/munge.key && chmod 0400 /etc/munge/munge.key
mkdir -p "$ROOT"/{etc,run,log,spool/ctld,spool/d}
if munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then
  log "munged already answering (left as is)"
else
  rm -f /run/munge/munged.pid
  runuser -u munge -- /usr/sbin/munged --force    # --force: get past a stale socket left by a killed munged
  for _ in $(seq 50); do [ -s /run/munge/munged.pid ] && break; sleep 0.1; done
  cp /run/munge/munged.pid "$RUN/munged.pid"
  munge -n | unmunge >/dev/null || fail "munged does not answer"
  log "munged started, pid $(cat "$RUN/munged.pid")"
fi

# 3. config (rewritten every time; same content for the same machine)
[ "$MEM_MB" -le "$(free -m | awk '/^Mem:/{print $2}')" ] || MEM_MB=$(free -m | awk '/^Mem:/{print $2}')
cat > "$CONF.new" <<EOF
ClusterName=ci
SlurmctldHost=$NODE(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
MailProg=/bin/true
MpiDefault=none
ProctrackType=proctrack/linuxproc
TaskPlugin=$TASK_PLUGIN
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/backfill
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
StateSaveLocation=$ROOT/spool/ctld
SlurmdSpoolDir=$ROOT/spool/d
SlurmctldPidFile=$RUN/slurmctld.pid
SlurmdPidFile=$RUN/slurmd.pid
SlurmctldLogFile=$ROOT/log/slurmctld.log
SlurmdLogFile=$ROOT/log/slurmd.log
ReturnToService=2
SlurmctldTimeout=30
SlurmdTimeout=30
InactiveLimit=0
KillWait=5
MinJobAge=600
NodeName=$NODE NodeAddr=127.0.0.1 CPUs=$CPUS RealMemory=$MEM_MB State=UNKNOWN
PartitionName=debug Nodes=$NODE Default=YES MaxTime=INFINITE State=UP
EOF
if ! cmp -s "$CONF.new" "$CONF"; then
  mv "$CONF.new" "$CONF"
  if alive "$RUN/slurmctld.pid" slurmctld; then scontrol reconfigure; fi
else
  rm -f "$CONF.new"
fi
echo "export SLURM_CONF=$CONF" > "$ROOT/env.sh"

# 4. daemons (they fork themselves and write their pid files)
if alive "$RUN/slurmctld.pid" slurmctld; then
  log "slurmctld already running, pid $(cat "$RUN/slurmctld.pid")"
else
  rm -f "$RUN/slurmctld.pid"
  slurmctld -c -f "$CONF"               # -c: start with a clean job/node state
  for _ in $(seq $((WAIT_S * 5))); do scontrol ping 2>/dev/null | grep -q 'is UP' && break; sleep 0.2; done
  scontrol ping | grep -q 'is UP' || fail "slurmctld did not come up"
  log "slurmctld up, pid $(cat "$RUN/slurmctld.pid")"
fi
if alive "$RUN/slurmd.pid" slurmd; then
  log "slurmd already running, pid $(cat "$RUN/slurmd.pid")"
else
  rm -f "$RUN/slurmd.pid"
  slurmd -N "$NODE" -f "$CONF"          # -N: node name explicitly, whatever hostname resolves to
  for _ in $(seq 50); do [ -s "$RUN/slurmd.pid" ] && break; sleep 0.1; done
  log "slurmd started, pid $(cat "$RUN/slurmd.pid")"
fi

# 5. wait until the node takes jobs
for _ in $(seq $((WAIT_S * 5))); do
  state=$(sinfo -h -n "$NODE" -o '%T' 2>/dev/null || true)
  case $state in
    idle|mixed|allocated) break ;;
    drain*|down*) scontrol update NodeName="$NODE" State=RESUME 2>/dev/null || true ;;
  esac
  sleep 0.2
done
case ${state:-} in idle|mixed|allocated) ;; *) fail "node $NODE is '${state:-unknown}', not idle" ;; esac
log "node $NODE $state with $CPUS CPUs; export SLURM_CONF=$CONF"
sinfo
