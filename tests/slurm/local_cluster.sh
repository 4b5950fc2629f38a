#!/bin/bash
# A real one-node SLURM cluster in a scratch directory, for testing jobs/ (docs/jobs.md §"Try it locally").
#   tests/slurm/local_cluster.sh start DIR     # munged + slurmctld + slurmd, all state under DIR
#   export SLURM_CONF=DIR/slurm.conf           # then sbatch / squeue / scontrol talk to it
#   tests/slurm/local_cluster.sh stop DIR      # cancels jobs, stops the three daemons by PID
#   tests/slurm/local_cluster.sh status DIR
# Nothing outside DIR is touched: munge runs with its own key, socket and pid file; Slurm with its own
# slurm.conf (SLURM_CONF), spool, state, logs and free TCP ports. Needs root (SlurmUser=root) and the
# Debian packages slurmctld slurmd slurm-client munge (scripts/setup.sh installs them).
set -euo pipefail

die() { echo "local_cluster: $*" >&2; exit 1; }

cmd=${1:-}
dir=${2:-}
[[ -n $cmd && -n $dir ]] || die "usage: $0 start|stop|status DIR"
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)

# A process is alive if it exists and is not a zombie (daemons re-parented to a non-reaping
# parent stay as zombies after exiting; kill -0 would still succeed on them).
alive() {
  local st
  st=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) || return 1
  [[ -n $st && $st != Z && $st != X ]]
}
pid_alive() { [[ -s $1 ]] && alive "$(cat "$1")"; }

# Stops the daemon whose pid file is $1 (SIGTERM, then SIGKILL after ~10 s); by PID only.
stop_daemon() {
  local pidfile=$1 name=$2 pid i
  [[ -s $pidfile ]] || return 0
  pid=$(cat "$pidfile")
  # Only a process of the expected name: a stale pid file must never hit an unrelated process.
  if alive "$pid" && [[ $(cat "/proc/$pid/comm" 2>/dev/null) == "$name" ]]; then
    kill -TERM "$pid" 2>/dev/null || true
    for i in $(seq 100); do alive "$pid" || break; sleep 0.1; done
    if alive "$pid"; then
      echo "local_cluster: $name (pid $pid) ignored SIGTERM, sending SIGKILL" >&2
      kill -KILL "$pid" 2>/dev/null || true
    fi
  fi
  rm -f "$pidfile"
}

check_packages() {
  local missing=() b
  for b in /usr/sbin/munged /usr/sbin/slurmctld /usr/sbin/slurmd /usr/bin/sbatch /usr/bin/scontrol /usr/bin/squeue; do
    [[ -x $b ]] || missing+=("$b")
  done
  if ((${#missing[@]})); then
    die "the SLURM packages are not installed (missing: ${missing[*]}).
  Install them with:  apt-get install --no-install-recommends slurmctld slurmd slurm-client munge
  (scripts/setup.sh does this)."
  fi
  [[ -e /usr/lib/x86_64-linux-gnu/slurm-wlm/mpi_pmix.so || -n $(compgen -G "/usr/lib/*/slurm-wlm/mpi_pmix*.so") ]] ||
    die "Slurm's PMIx plugin (mpi_pmix.so) is missing; srun --mpi=pmix will not work"
  [[ $(id -u) == 0 ]] || die "must run as root (the scratch cluster runs with SlurmUser=root)"
}

free_port() {
  /usr/bin/python3 - <<'EOF'
import socket
s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()
EOF
}

start() {
  check_packages
  # Leftovers of an earlier run in the same directory (e.g. a killed test) are stopped first.
  stop >/dev/null 2>&1 || true
  rm -rf "$dir/state" "$dir/spool" "$dir/munge" "$dir/munge-run" "$dir/log" "$dir/tmp"
  mkdir -p "$dir/state" "$dir/spool" "$dir/log" "$dir/munge" "$dir/munge-run" "$dir/tmp"
  chmod 700 "$dir/munge"      # the key directory must be private
  chmod 755 "$dir/munge-run"  # munged requires the socket directory to be world-executable

  # 1. munge with a scratch key (never /etc/munge): clients find it through AuthInfo=socket=…
  mungekey --create --bits=1024 --keyfile="$dir/munge/munge.key" 2>/dev/null ||
    dd if=/dev/urandom of="$dir/munge/munge.key" bs=128 count=1 status=none
  chmod 600 "$dir/munge/munge.key"
  /usr/sbin/munged --force --key-file="$dir/munge/munge.key" --socket="$dir/munge-run/munge.socket" \
    --pid-file="$dir/munge-run/munged.pid" --log-file="$dir/log/munged.log" --seed-file="$dir/munge/munged.seed" ||
    die "munged failed to start; see $dir/log/munged.log"

  # 2. slurm.conf: the essentials of a one-node cluster + scratch paths, free ports, fast turnaround.
  local cpus ctld_port slurmd_port
  cpus=$(nproc); ((cpus >= 2)) || cpus=2
  ctld_port=$(free_port); slurmd_port=$(free_port)
  while [[ $slurmd_port == "$ctld_port" ]]; do slurmd_port=$(free_port); done
  cat >"$dir/slurm.conf" <<EOF
# Scratch one-node cluster written by tests/slurm/local_cluster.sh (not a production configuration).
ClusterName=attnlocal
SlurmctldHost=localhost
SlurmctldPort=$ctld_port
SlurmdPort=$slurmd_port
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$dir/munge-run/munge.socket,cred_expire=5
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
MpiDefault=pmix
ReturnToService=2
MailProg=/bin/true
SlurmdParameters=config_overrides
DependencyParameters=kill_invalid_depend
MinJobAge=3600
KillWait=10
InactiveLimit=0
SchedulerParameters=sched_interval=2,bf_interval=2
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
TmpFS=$dir/tmp
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
NodeName=localhost NodeAddr=127.0.0.1 CPUs=$cpus Sockets=1 CoresPerSocket=$cpus ThreadsPerCore=1 RealMemory=4000
PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP
EOF
  export SLURM_CONF=$dir/slurm.conf

  # 3. the daemons (each forks into the background and writes its pid file)
  /usr/sbin/slurmctld -c || die "slurmctld failed to start; see $dir/log/slurmctld.log"
  /usr/sbin/slurmd -N localhost -c || die "slurmd failed to start; see $dir/log/slurmd.log"

  # 4. wait (≤ 30 s) until the node is idle
  local i state=""
  for i in $(seq 300); do
    state=$(sinfo -h -n localhost -o %T 2>/dev/null || true)
    [[ $state == idle ]] && break
    sleep 0.1
  done
  if [[ $state != idle ]]; then
    echo "--- slurmctld.log" >&2; tail -20 "$dir/log/slurmctld.log" >&2 || true
    echo "--- slurmd.log" >&2; tail -20 "$dir/log/slurmd.log" >&2 || true
    die "the node did not become idle (state '${state:-unknown}')"
  fi
  echo "local_cluster: up in $dir (SLURM_CONF=$dir/slurm.conf, $cpus CPUs, ports $ctld_port/$slurmd_port)"
}

stop() {
  export SLURM_CONF=$dir/slurm.conf
  # Cancel every job first so that slurmd ends their job steps (slurmstepd) itself.
  if [[ -f $SLURM_CONF ]] && pid_alive "$dir/slurmctld.pid"; then
    scancel --full --quiet --partition=debug 2>/dev/null || true
    local i
    for i in $(seq 150); do
      [[ -z $(squeue -h -t running,completing,configuring -o %i 2>/dev/null) ]] && break
      sleep 0.2
    done
  fi
  stop_daemon "$dir/slurmd.pid" slurmd
  stop_daemon "$dir/slurmctld.pid" slurmctld
  stop_daemon "$dir/munge-run/munged.pid" munged
  echo "local_cluster: stopped ($dir)"
}

status() {
  local f
  for f in munge-run/munged.pid slurmctld.pid slurmd.pid; do
    if pid_alive "$dir/$f"; then echo "$f: running (pid $(cat "$dir/$f"))"; else echo "$f: not running"; fi
  done
}

case $cmd in
  start) start ;;
  stop) stop ;;
  status) status ;;
  *) die "unknown command '$cmd' (start|stop|status)" ;;
esac
