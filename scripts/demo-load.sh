#!/usr/bin/env bash
# `make demo-load`: load whichever demo there is.
# - The sandbox demo is running (demo-output/current.json exists): play idle, ramp, spike and
#   drain on it, or set PHASE (today's behaviour, `claudescale demo-load`).
# - Otherwise, when kubectl has a current context: (re)start the load Job of manifests/demo in
#   that cluster (the previous Job is deleted first: a Job cannot be changed once made), after
#   applying the demo app it loads. kubectl is Debian's, fetched by scripts/fetch-kubectl.sh,
#   never one that happens to be on PATH, unless KUBECTL names one.
# Environment: BIN (the venv's bin), PHASE, KUBECTL, DEMO_OUTPUT (default demo-output).
set -euo pipefail
cd "$(dirname "$0")/.."
bin="${BIN:-.venv/bin}"
output="${DEMO_OUTPUT:-demo-output}"
if [ -f "$output/current.json" ]; then
    exec "$bin/claudescale" demo-load --output "$output" ${PHASE:+"$PHASE"}
fi
kubectl="${KUBECTL:-}"
if [ -z "$kubectl" ]; then
    kubectl="$(bash scripts/fetch-kubectl.sh | tail -n 1)"
fi
if ! context="$("$kubectl" config current-context 2>/dev/null)"; then
    echo "claudescale: no demo to load: no sandbox demo is running (start one with \`make demo\`)" \
        "and kubectl has no current context." >&2
    exit 2
fi
echo "claudescale: no sandbox demo is running; starting the demo load Job in kube context $context."
"$kubectl" delete job demo-load --namespace demo --ignore-not-found
"$kubectl" apply -k manifests/demo
echo "claudescale: follow it with: $kubectl logs --namespace demo --follow job/demo-load"
