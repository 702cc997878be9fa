#!/usr/bin/env bash
# Run the top-K job on a standalone Flink cluster from the pip-installed PyFlink.
#
#   scripts/submit.sh cluster-start | cluster-stop      local standalone cluster (PIDs in .local/flink/pids)
#   scripts/submit.sh taskmanager-start                 one more TaskManager for the local cluster (after one died)
#   scripts/submit.sh run [job flags]                   submit detached: flink run -d -py jobs/topk_job.py
#                                                       (TOPK_JOB=archive: jobs/archive_job.py, the same way);
#                                                       refused where the job's results exist (jobs/start.py)
#   scripts/submit.sh list                              running and scheduled jobs
#   scripts/submit.sh stop JOB_ID                       stop with a savepoint (into the configured savepoint dir)
#   scripts/submit.sh resume SAVEPOINT|latest [flags]   submit again from a savepoint or retained checkpoint
#                                                       (latest: the job's newest retained checkpoint)
#   scripts/submit.sh replay --from FROM [--into NAME] [job flags]
#                                                       reprocess the topic from FROM (earliest, epoch ms,
#                                                       ISO-8601, or offsets:P=O,...) with a fresh consumer
#                                                       group, into Redis prefix and Cassandra keyspace NAME
#                                                       (a fresh namespace), or over the live results without --into;
#                                                       a replay raises no data alerts
#   scripts/submit.sh cancel JOB_ID                     cancel (its checkpoints are retained: resume latest)
#
# Cluster settings: conf/flink-conf.yaml (checkpoints and savepoints on S3: TOPK_S3_ENDPOINT, default the local
# server, and the S3 credentials from the environment, default scripts/local-s3.env). Job flags:
# python -m jobs.topk_job --help (both jobs).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
VENV=${TOPK_VENV:-$ROOT/.venv}
PY=$VENV/bin/python
PF=$("$PY" -c 'import pyflink,os;print(os.path.dirname(pyflink.__file__))')
export FLINK_CONF_DIR=${FLINK_CONF_DIR:-$ROOT/.local/flink/conf}
export FLINK_LOG_DIR=${FLINK_LOG_DIR:-$ROOT/.local/flink/log}
export FLINK_PID_DIR=${FLINK_PID_DIR:-$ROOT/.local/flink/pids}
# The local cluster's working dirs (job blobs, local state: 100-400 MB a TaskManager once jobs ran), one
# per cluster, next to its PIDs. Flink deletes a TaskManager's only when its shutdown completes; after a
# PyFlink job ran, that outlasts the 5 s Flink allows after SIGTERM before it halts the JVM. So
# cluster-stop removes them (under io.tmp.dirs, /tmp, one was left behind by every such cluster).
WORK_DIR=$FLINK_PID_DIR/work
export TOPK_S3_ENDPOINT=${TOPK_S3_ENDPOINT:-http://127.0.0.1:${S3_PORT:-8333}}
source "$ROOT/scripts/local-s3.env"  # keeps AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY if already set
# The job's packages (jobs/, udfs/, connectors/) are not installed: the flink client imports them from here,
# the Python workers get them as a zip the job ships (jobs/environment.py).
export PYTHONPATH=$ROOT${PYTHONPATH:+:$PYTHONPATH}

prepare_conf() {  # Flink's own log configs + our settings as config.yaml (exit 1 on bad YAML)
  mkdir -p "$FLINK_CONF_DIR" "$FLINK_LOG_DIR" "$FLINK_PID_DIR" "$ROOT/.local"
  cp "$PF"/conf/{log4j*.properties,logback*.xml,masters,workers} "$FLINK_CONF_DIR"/  # one JM, one TM, here
  TOPK_ROOT=$ROOT TOPK_PYTHON=$PY TOPK_S3_ENDPOINT=$TOPK_S3_ENDPOINT \
    FLINK_PROPERTIES="process.working-dir: $WORK_DIR"$'\n'"${FLINK_PROPERTIES:-}" \
    "$PY" -m jobs.flink_conf "$ROOT/conf/flink-conf.yaml" "$FLINK_CONF_DIR/config.yaml"
}

flink() { "$PF/bin/flink" "$@"; }
job=(-py "$ROOT/jobs/${TOPK_JOB:-topk}_job.py")

cmd=${1:-}; shift || true
case $cmd in
  cluster-start) prepare_conf; "$PF/bin/start-cluster.sh" ;;
  cluster-stop) "$PF/bin/stop-cluster.sh"; rm -rf "$WORK_DIR" ;;
  taskmanager-start) "$PF/bin/taskmanager.sh" start ;;
  run) prepare_conf; "$PY" -m jobs.settings_check "$@"; flink run -d "${job[@]}" "$@" ;;
  list) flink list ;;
  stop) flink stop "$1" ;;  # savepoint into execution.checkpointing.savepoint-dir
  resume) sp=$1; shift; prepare_conf; "$PY" -m jobs.settings_check "$@"; flink run -d "${job[@]}" --resume-from "$sp" "$@" ;;
  replay)
    [[ ${1:-} == --from && -n ${2:-} ]] || { sed -n '2,19p' "$0"; exit 2; }
    case $2 in earliest | offsets:*) from=$2 ;; *) from=timestamp:$2 ;; esac
    shift 2
    extra=(--start-from "$from" --group-id "replay-$(date +%s)" --alerts-topic "")  # a replay raises no alerts
    if [[ ${1:-} == --into ]]; then extra+=(--redis-prefix "$2" --cassandra-keyspace "$2"); shift 2; else extra+=(--overwrite); fi
    prepare_conf; "$PY" -m jobs.settings_check "$@" "${extra[@]}"; flink run -d "${job[@]}" "$@" "${extra[@]}" ;;
  cancel) flink cancel "$1" ;;
  *) sed -n '2,19p' "$0"; exit 2 ;;
esac
