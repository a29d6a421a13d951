#!/usr/bin/env bash
# Post-deploy gate: after a deploy has (re)started its services, audit their pidfiles, leave a JUnit
# report for the CI system, and fail the job when pidaudit finds problems at or above the threshold.
#
#   post-deploy-check.sh [PIDAUDIT OPTIONS] [PATH...]
#
# Environment:
#   PIDAUDIT          the pidaudit binary (default: pidaudit on PATH)
#   PIDAUDIT_REPORT   where the JUnit XML goes (default: pidaudit-junit.xml)
#   PIDAUDIT_FAIL_ON  error|warning|info|never (default: error); also decides which JUnit cases fail
#
# Exit status: pidaudit's (0 clean, 1 findings at or above the threshold, 2 usage or internal error).
# Example (GitLab CI):
#   post_deploy:
#     script: sudo contrib/ci/post-deploy-check.sh /run/myapp /run/nginx.pid
#     artifacts: { when: always, reports: { junit: pidaudit-junit.xml } }
set -uo pipefail

pidaudit=${PIDAUDIT:-pidaudit}
report=${PIDAUDIT_REPORT:-pidaudit-junit.xml}
fail_on=${PIDAUDIT_FAIL_ON:-error}

tmp=$(mktemp "${report}.XXXXXX") || exit 2
"$pidaudit" --format junit --fail-on "$fail_on" "$@" >"$tmp"
status=$?
if [[ -s $tmp ]]; then
  mv -f "$tmp" "$report"
else
  rm -f "$tmp"
fi

case $status in
  0) echo "pidaudit: no findings at or above '$fail_on' (report: $report)" ;;
  1) echo "pidaudit: findings at or above '$fail_on'; failing test cases are in $report" >&2 ;;
  *) echo "pidaudit: could not audit (exit status $status)" >&2 ;;
esac
exit "$status"
