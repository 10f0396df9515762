#!/usr/bin/env bash
# Run a generated 5-cohort study on a real single-node SLURM cluster and compare it with a local run.
#
#   bash tests/slurm/run_slurm_test.sh
#
# Needs root on Debian (installs slurm-wlm + munge with apt-get when missing, writes a private
# slurm.conf under a scratch directory, starts munged/slurmctld/slurmd). Anywhere else it prints
# "SKIPPED: <reason>" and exits 0. Steps:
#   0. generate the study (benchmarks/scale/generate.py, seeded): 3 array discovery cohorts
#      (3,000-probe platform), 1 RNA-seq discovery cohort (4,000 Ensembl IDs), 1 array
#      validation cohort, 40 samples each; 4 discovery cohorts, so leave-one-cohort-out
#      validation runs (4 folds); enrichment of the meta-analysis only, simple GSEA
#      (`enrichment.per_cohort: false`, `enrichment.gsea.method: simple`) to keep it short;
#   1. start the cluster and wait until the node is idle;
#   2. run the default target through `snakemake --profile profiles/slurm` (hard `timeout -s KILL`);
#   3. check every job was really submitted: sbatch job IDs in snakemake's log, each one known to
#      `scontrol show job` as COMPLETED and present in the slurmctld log;
#   4. run the same workflow locally (`--cores 2`) in a second scratch directory;
#   5. compare the sha256 of every TSV/Parquet file under results/ of the two runs.
# The daemons this script started are stopped (by their pid files) in an EXIT trap.
#
# Time: everything is bounded by SLURM_TEST_TOTAL seconds (default 1140); the SLURM run by
# SLURM_TEST_TIMEOUT (default 900) and the local run by LOCAL_TEST_TIMEOUT (default 300), each cut
# to what is left of the total; both runs are under `timeout -s KILL`.
# Environment: SNAKEMAKE (default: the venv of this checkout, then PATH), KEEP_SCRATCH=1 to keep
# the scratch directory, SLURM_TEST_STUDY=example to run the shipped example study instead
# (4 comparisons, multilevel GSEA: ~11 min), SLURM_TEST_TARGETS (default: the workflow's default
# target), SLURM_TEST_PROFILE (default: profiles/slurm), SLURM_TEST_ARGS (extra snakemake
# arguments).
set -euo pipefail

PROJECT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
SLURM_TIMEOUT=${SLURM_TEST_TIMEOUT:-900}
LOCAL_TIMEOUT=${LOCAL_TEST_TIMEOUT:-300}
TOTAL=${SLURM_TEST_TOTAL:-1140}
T0=$(date +%s)

skip() {
    echo "SKIPPED: $*"
    exit 0
}
fail() {
    echo "FAILED: $*" >&2
    exit 1
}
say() { echo "[slurm-test +$(($(date +%s) - T0))s] $*"; }
left() { # <wanted seconds>: the smaller of it and what is left of the total budget (>= 1)
    local rest=$((T0 + TOTAL - $(date +%s)))
    ((rest < 1)) && rest=1
    echo $(($1 < rest ? $1 : rest))
}

# --- Applicability -----------------------------------------------------------------------------
[[ $(id -u) -eq 0 ]] || skip "needs root to install and start SLURM (running as uid $(id -u))"
[[ -r /etc/os-release ]] || skip "no /etc/os-release: not a Debian system"
# shellcheck disable=SC1091
os_id=$(. /etc/os-release && echo "${ID:-}")
[[ $os_id == debian ]] || skip "needs Debian (this system is '${os_id:-unknown}')"
command -v apt-get >/dev/null || skip "apt-get not found"

if [[ -z ${SNAKEMAKE:-} ]]; then
    if [[ -x $PROJECT/.venv/bin/snakemake ]]; then
        SNAKEMAKE=$PROJECT/.venv/bin/snakemake
    else
        SNAKEMAKE=$(command -v snakemake) || fail "snakemake not found (set SNAKEMAKE)"
    fi
fi
"$SNAKEMAKE" --version >/dev/null || fail "cannot run $SNAKEMAKE"
# The jobs run `python -m snakemake` with the submitting interpreter; make it the first on PATH.
export PATH="$(dirname "$SNAKEMAKE"):$PATH"

# --- Install SLURM + munge when missing --------------------------------------------------------
if ! command -v slurmctld >/dev/null || ! command -v slurmd >/dev/null || ! command -v munged >/dev/null; then
    say "installing slurm-wlm and munge with apt-get"
    export DEBIAN_FRONTEND=noninteractive
    apt_install() { timeout -s KILL "$(left 300)" apt-get install -y -q --no-install-recommends slurm-wlm munge; }
    apt_install >/dev/null || { timeout -s KILL "$(left 300)" apt-get update -q >/dev/null && apt_install >/dev/null; } ||
        fail "apt-get install slurm-wlm munge failed (no package mirror reachable?)"
fi
if pgrep -x slurmctld >/dev/null || pgrep -x slurmd >/dev/null; then
    fail "a slurmctld/slurmd is already running on this machine; this test starts its own cluster"
fi

# --- Scratch layout ------------------------------------------------------------------------------
SCRATCH=$(mktemp -d /tmp/markerflow-slurm.XXXXXX)
S=$SCRATCH/cluster
mkdir -p "$S/state" "$S/spool" "$S/log" "$SCRATCH/slurm_run" "$SCRATCH/local_run"
STARTED_MUNGED=0
LINKED_CONF=0

cleanup() {
    local rc=$?
    set +e
    if [[ -f $S/slurmctld.pid ]]; then
        # Jobs of this private cluster only; the cluster is ours.
        SLURM_CONF=$S/slurm.conf scancel --quiet --full --user=root 2>/dev/null
    fi
    for daemon in slurmd slurmctld; do
        if [[ -f $S/$daemon.pid ]]; then
            pid=$(cat "$S/$daemon.pid")
            kill "$pid" 2>/dev/null
            for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
            kill -0 "$pid" 2>/dev/null && kill -9 "$pid" 2>/dev/null
        fi
    done
    [[ $LINKED_CONF -eq 1 ]] && rm -f /etc/slurm/slurm.conf
    if [[ $STARTED_MUNGED -eq 1 && -f /run/munge/munged.pid ]]; then
        kill "$(cat /run/munge/munged.pid)" 2>/dev/null
    fi
    if [[ ${KEEP_SCRATCH:-0} == 1 || $rc -ne 0 ]]; then
        echo "scratch kept: $SCRATCH"
    else
        rm -rf "$SCRATCH"
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 143' TERM INT

# --- munge -----------------------------------------------------------------------------------------
if ! (munge -n </dev/null | unmunge >/dev/null) 2>/dev/null; then
    if [[ ! -s /etc/munge/munge.key ]]; then
        mungekey --create --keyfile=/etc/munge/munge.key
        chown munge:munge /etc/munge/munge.key
        chmod 0400 /etc/munge/munge.key
    fi
    mkdir -p /run/munge
    chown munge:munge /run/munge
    chmod 0755 /run/munge
    su -s /bin/sh munge -c /usr/sbin/munged
    STARTED_MUNGED=1
    for _ in $(seq 50); do (munge -n </dev/null | unmunge >/dev/null) 2>/dev/null && break; sleep 0.1; done
    (munge -n </dev/null | unmunge >/dev/null) 2>/dev/null || fail "munged did not start"
fi

# --- slurm.conf for this host ---------------------------------------------------------------------
# Written under the scratch directory; /etc/slurm/slurm.conf is a symlink to it while the test runs
# (srun inside a job step reads the default path, not SLURM_CONF), removed by the EXIT trap.
# A run killed with SIGKILL cannot run its EXIT trap and leaves its link behind: a link into an
# earlier scratch directory of this test, whose slurmctld is no longer running, is removed.
if [[ -L /etc/slurm/slurm.conf ]]; then
    stale_target=$(readlink /etc/slurm/slurm.conf)
    stale_pid_file=$(dirname "$stale_target")/slurmctld.pid
    if [[ $stale_target == /tmp/markerflow-slurm.*/cluster/slurm.conf ]] &&
        ! { [[ -f $stale_pid_file ]] && kill -0 "$(cat "$stale_pid_file")" 2>/dev/null; }; then
        say "removing the link left by an earlier killed run: /etc/slurm/slurm.conf -> $stale_target"
        rm -f /etc/slurm/slurm.conf
    fi
fi
[[ -e /etc/slurm/slurm.conf || -L /etc/slurm/slurm.conf ]] &&
    fail "/etc/slurm/slurm.conf exists: this machine has a SLURM setup; the test configures its own"
HOST=$(hostname -s)
NCPU=$(nproc)
MEM_MB=$(($(free -m | awk '/^Mem:/ {print $2}') - 1024))
export SLURM_CONF=$S/slurm.conf
cat >"$SLURM_CONF" <<EOF
ClusterName=markerflowtest
SlurmctldHost=$HOST
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
StateSaveLocation=$S/state
SlurmdSpoolDir=$S/spool
SlurmctldPidFile=$S/slurmctld.pid
SlurmdPidFile=$S/slurmd.pid
SlurmctldLogFile=$S/log/slurmctld.log
SlurmdLogFile=$S/log/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
MpiDefault=none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU=1000
MinJobAge=900
ReturnToService=2
NodeName=$HOST CPUs=$NCPU RealMemory=$MEM_MB State=UNKNOWN
PartitionName=debug Nodes=$HOST Default=YES MaxTime=INFINITE State=UP
EOF
mkdir -p /etc/slurm
ln -s "$SLURM_CONF" /etc/slurm/slurm.conf
LINKED_CONF=1

say "starting slurmctld and slurmd ($HOST: $NCPU CPUs, $MEM_MB MB)"
/usr/sbin/slurmctld -f "$SLURM_CONF"
/usr/sbin/slurmd -f "$SLURM_CONF"
state=""
for _ in $(seq 120); do
    state=$(sinfo -h -o %t 2>/dev/null | head -1 || true)
    [[ $state == idle ]] && break
    sleep 0.5
done
[[ $state == idle ]] || fail "node not idle after 60 s (state '$state'); see $S/log"
say "cluster up: $(sinfo -h -o '%P %D %c %m %t')"

# --- Scratch working directories: the generated study (or the example), twice ----------------------
PYTHON=$(dirname "$SNAKEMAKE")/python
[[ -x $PYTHON ]] || PYTHON=$(command -v python3)
if [[ ${SLURM_TEST_STUDY:-generated} == example ]]; then
    prepare() { # as tests/workflow_utils.py
        cp -r "$PROJECT/config" "$1/config"
        ln -s "$PROJECT/resources" "$1/resources"
        CONFIGFILE=config/config.yaml
    }
else
    say "generating the 5-cohort study"
    timeout -s KILL "$(left 120)" "$PYTHON" - "$SCRATCH/study" "$PROJECT" <<'PYEOF' || fail "generating the study failed"
import sys

sys.path.insert(0, f"{sys.argv[2]}/benchmarks/scale")
from generate import generate_study

generate_study(
    sys.argv[1], n_arrays=3, n_counts=1, n_validation=1, samples=40, n_probes=3000,
    n_ensembl=4000, n_markers=20, seed=5,
    config_overrides={"enrichment.per_cohort": False, "enrichment.gsea.method": "simple"},
)
PYEOF
    prepare() { # the inputs are shared (read-only); config and cohort sheet are copied
        local item
        for item in data platform resources truth; do ln -s "$SCRATCH/study/$item" "$1/$item"; done
        cp "$SCRATCH/study/config.yaml" "$SCRATCH/study/cohorts.tsv" "$1/"
        CONFIGFILE=config.yaml
    }
fi
prepare "$SCRATCH/slurm_run"
prepare "$SCRATCH/local_run"
# shellcheck disable=SC2206
TARGETS=(${SLURM_TEST_TARGETS:-})
export PYTHONHASHSEED=0

run_snakemake() { # <workdir> <timeout> <log> <args...>
    local dir=$1 limit=$2 log=$3
    shift 3
    (cd "$dir" && timeout -s KILL "$limit" "$SNAKEMAKE" -s "$PROJECT/Snakefile" --directory "$dir" \
        --configfile "$dir/$CONFIGFILE" "$@" "${TARGETS[@]}") >"$log" 2>&1
}

# --- 2. the SLURM run ---------------------------------------------------------------------------------
SLURM_TIMEOUT=$(left "$SLURM_TIMEOUT")
say "SLURM run (timeout ${SLURM_TIMEOUT}s)"
t=$(date +%s)
if ! run_snakemake "$SCRATCH/slurm_run" "$SLURM_TIMEOUT" "$SCRATCH/slurm_run.log" \
    --profile "${SLURM_TEST_PROFILE:-$PROJECT/profiles/slurm}" --workflow-profile none --slurm-keep-successful-logs ${SLURM_TEST_ARGS:-}; then
    tail -n 60 "$SCRATCH/slurm_run.log"
    squeue -a 2>/dev/null || true
    fail "the SLURM run failed or timed out (log: $SCRATCH/slurm_run.log)"
fi
SLURM_SECONDS=$(($(date +%s) - t))
say "SLURM run done in ${SLURM_SECONDS}s"

# --- 3. were the jobs really submitted? ---------------------------------------------------------------
mapfile -t JOBIDS < <(grep -oE 'submitted with SLURM jobid [0-9]+' "$SCRATCH/slurm_run.log" |
    awk '{print $NF}' | sort -un)
[[ ${#JOBIDS[@]} -gt 0 ]] || fail "no 'submitted with SLURM jobid' line in the snakemake log"
for id in "${JOBIDS[@]}"; do
    record=$(scontrol show job "$id" 2>&1) || fail "scontrol does not know job $id: $record"
    grep -q 'JobState=COMPLETED' <<<"$record" ||
        fail "job $id is not COMPLETED: $(grep -o 'JobState=[A-Z_]*' <<<"$record")"
    grep -qE "_job_complete: JobId=$id( |$)" "$S/log/slurmctld.log" ||
        fail "job $id missing from the slurmctld log"
done
say "${#JOBIDS[@]} SLURM jobs submitted, all COMPLETED: ${JOBIDS[*]}"
scontrol show job "${JOBIDS[@]:0:1}" | grep -oE '(JobName|Partition|NumCPUs|MinMemoryNode|TimeLimit)=[^ ]*' |
    tr '\n' ' '
echo

# --- 4. the local run -----------------------------------------------------------------------------------
LOCAL_TIMEOUT=$(left "$LOCAL_TIMEOUT")
say "local run --cores 2 (timeout ${LOCAL_TIMEOUT}s)"
t=$(date +%s)
if ! run_snakemake "$SCRATCH/local_run" "$LOCAL_TIMEOUT" "$SCRATCH/local_run.log" --cores 2; then
    tail -n 60 "$SCRATCH/local_run.log"
    fail "the local run failed or timed out (log: $SCRATCH/local_run.log)"
fi
LOCAL_SECONDS=$(($(date +%s) - t))
say "local run done in ${LOCAL_SECONDS}s"

# --- 5. identical results -------------------------------------------------------------------------------
# Every result table; results/logs (logs and benchmark timings) is not a result.
checksums() {
    (cd "$1" && find results -path results/logs -prune -o -type f \( -name '*.tsv' -o -name '*.parquet' \) -print0 | sort -z |
        xargs -0 sha256sum)
}
checksums "$SCRATCH/slurm_run" >"$SCRATCH/slurm.sha256"
checksums "$SCRATCH/local_run" >"$SCRATCH/local.sha256"
n=$(wc -l <"$SCRATCH/slurm.sha256")
[[ $n -gt 0 ]] || fail "no TSV/Parquet file under results/"
if ! diff -u "$SCRATCH/local.sha256" "$SCRATCH/slurm.sha256"; then
    fail "SLURM and local results differ (above: local vs SLURM sha256)"
fi
say "PASSED: $n TSV/Parquet files identical; ${#JOBIDS[@]} SLURM jobs;" \
    "SLURM ${SLURM_SECONDS}s vs local ${LOCAL_SECONDS}s"
