#!/usr/bin/env bash
# Stops what start-slurm.sh started (same SLURM_ROOT): cancels the cluster's jobs, then slurmd, slurmctld and
# (only if start-slurm.sh started it) munged, each by its recorded PID. --purge also removes
# the state, logs and config so the next start is from scratch.
set -uo pipefail

if [ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
  exec sudo -n env SLURM_ROOT="${SLURM_ROOT:-}" "$0" "$@"
fi

ROOT=${SLURM_ROOT:-/tmp/normlab-slurm}
RUN=$ROOT/run
export SLURM_CONF=$ROOT/etc/slurm.conf
t0=$(date +%s%N)
log() { local ms=$(( ($(date +%s%N) - t0) / 1000000 )); printf '[stop-slurm %3d.%02ds] %s\n' $((ms / 1000)) $((ms % 1000 / 10)) "$*"; }

# running PID: exists and is not a zombie (PID 1 here reaps orphans only every second or two)
running() { local st; st=$(awk '/^State:/{print $2}' /proc/"$1"/status 2>/dev/null); [ -n "$st" ] && [ "$st" != Z ]; }

# stop_pid NAME PIDFILE EXPECTED_COMM: TERM, wait up to 20 s, then KILL; never another process
stop_pid() {
  local name=$1 file=$2 comm=$3 pid
  [ -s "$file" ] || { log "$name: no pid file"; return 0; }
  pid=$(cat "$file")
  if ! running "$pid" || [ "$(cat /proc/"$pid"/comm 2>/dev/null)" != "$comm" ]; then
    log "$name: pid $pid not running (or not $comm)"; rm -f "$file"; return 0
  fi
  kill -TERM "$pid"
  for _ in $(seq 200); do running "$pid" || break; sleep 0.05; done
  if running "$pid"; then kill -KILL "$pid"; log "$name: pid $pid killed"; else log "$name: pid $pid stopped"; fi
  rm -f "$file"
}

# jobs first, so no slurmstepd/job process outlives slurmd
if [ -s "$RUN/slurmctld.pid" ] && running "$(cat "$RUN/slurmctld.pid")"; then
  jobs=$(squeue -h -o '%A' 2>/dev/null | tr '\n' ' ')
  if [ -n "${jobs// }" ]; then
    log "cancelling jobs: $jobs"
    # shellcheck disable=SC2086
    scancel $jobs
    for _ in $(seq 150); do [ -z "$(squeue -h 2>/dev/null)" ] && break; sleep 0.2; done
  fi
fi
stop_pid slurmd "$RUN/slurmd.pid" slurmd
stop_pid slurmctld "$RUN/slurmctld.pid" slurmctld
stop_pid munged "$RUN/munged.pid" munged

if [ "${1:-}" = "--purge" ]; then
  rm -rf "${ROOT:?}/spool" "${ROOT:?}/log" "${ROOT:?}/etc" "${ROOT:?}/run" "${ROOT:?}/env.sh"
  log "purged state, logs and config under $ROOT"
fi
log "done"
