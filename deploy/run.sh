#!/usr/bin/env bash
# Start one piece of the `distributed` profile (deploy/README.md). Every piece reads the same
# environment: deploy/.env (a filled-in copy of deploy/env.template), or variables already set.
#
#   deploy/run.sh migrate                 create/upgrade the Postgres schema (once, before the rest)
#   deploy/run.sh code-server             the code location's gRPC server; the run workers are its children
#   deploy/run.sh webserver [PORT]        the UI (default port 3000)
#   deploy/run.sh daemon                  run queue, run monitoring and retries, sensors, schedules
#   deploy/run.sh worker NAME [N]         a Celery worker with N step processes (default: 1 per CPU)
#   deploy/run.sh backfill JOB KEY,KEY..  an asset backfill, one run per partition (e.g. label_job 'r1|BTC/USDT,r1|ETH/USDT')
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
if [[ -f "$here/.env" ]]; then
    set -a
    # shellcheck disable=SC1091
    . "$here/.env"
    set +a
fi
: "${DAGSTER_HOME:?set DAGSTER_HOME (deploy/env.template)}"
: "${LABEL_PIPELINE_PROFILE:=distributed}"
export LABEL_PIPELINE_PROFILE
config="${LABEL_PIPELINE_CELERY_CONFIG:-$here/celery.yaml}"
queue="$(python -c 'import sys, yaml; print(yaml.safe_load(open(sys.argv[1]))["execution"]["config"]["config_source"]["task_default_queue"])' "$config")"
mkdir -p "$DAGSTER_HOME"
[[ -f "$DAGSTER_HOME/dagster.yaml" ]] || cp "$here/dagster.yaml" "$DAGSTER_HOME/dagster.yaml"

case "${1:-}" in
    migrate) exec dagster instance migrate ;;
    code-server)
        exec dagster api grpc -m label_pipeline.definitions -a defs --location-name label_pipeline \
            -h "${LABEL_PIPELINE_CODE_SERVER_HOST:?}" -p "${LABEL_PIPELINE_CODE_SERVER_PORT:?}"
        ;;
    webserver) exec dagster-webserver -w "$here/workspace.yaml" -h 0.0.0.0 -p "${2:-3000}" ;;
    daemon) exec dagster-daemon run -w "$here/workspace.yaml" ;;
    worker)
        name="${2:?worker name, unique per machine}"
        exec dagster-celery worker start -A dagster_celery.app -y "$config" -q "$queue" -n "$name" \
            -i label_pipeline.definitions -l INFO -- --concurrency="${3:-$(nproc)}" --without-gossip --without-mingle
        ;;
    backfill) exec python -m label_pipeline.automation.queue -w "$here/workspace.yaml" "${2:?job}" "${3:?partition keys}" ;;
    *) sed -n '2,10p' "$0"; exit 2 ;;
esac
