#!/usr/bin/env bash
# Import Parley's Kibana saved objects (data view, saved searches, error and
# latency dashboards). Usage: infra/kibana/import.sh [KIBANA_URL]
# (default http://127.0.0.1:5601; set KIBANA_AUTH=user:password if secured).
set -euo pipefail
KIBANA_URL="${1:-${KIBANA_URL:-http://127.0.0.1:5601}}"
here="$(cd "$(dirname "$0")" && pwd)"
auth=()
[[ -n "${KIBANA_AUTH:-}" ]] && auth=(-u "$KIBANA_AUTH")
curl -fsS "${auth[@]}" -X POST "$KIBANA_URL/api/saved_objects/_import?overwrite=true" \
  -H 'kbn-xsrf: parley' --form file=@"$here/saved-objects.ndjson"
echo
