#!/usr/bin/env bash
# The run step of action.yml: `gapify lint` with the action's inputs, which arrive as INPUT_*
# variables (action.yml maps them). Kept out of the YAML so the tests can run it as the runner does,
# with a made-up GITHUB_WORKSPACE and GITHUB_OUTPUT.
#
#   INPUT_PATHS        models, folders or globs, separated by spaces or newlines; globs are left to
#                      gapify (noglob here), so quote nothing
#   INPUT_FORMAT       stylish | json | sarif | github (the job log / annotations)
#   INPUT_FAIL_ON      error | warning | info | never
#   INPUT_ARGS         more lint options, split on spaces (--rule fixed-input-size=off …)
#   INPUT_SARIF        true: also write SARIF to INPUT_SARIF_FILE for upload-sarif
#   INPUT_COMMAND      how to run gapify (default: npx --yes gapify@<the action's version>)
#   INPUT_WORKING_DIRECTORY  where to run (paths are relative to it; output paths stay
#                      relative to GITHUB_WORKSPACE)
# Writes exit-code and sarif-file to GITHUB_OUTPUT; exits with gapify's exit code.

set -u -o pipefail
set -f # globs are gapify's to expand: a shell glob would skip .gapifyignore and say nothing on no match

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
version=$(sed -n 's/^[[:space:]]*"version":[[:space:]]*"\([^"]*\)".*/\1/p' "$here/../package.json" | head -n 1)
# onnxruntime-node's postinstall fetches CUDA libraries from outside the npm registry; lint needs none.
export ONNXRUNTIME_NODE_INSTALL=skip

read -r -a command <<< "${INPUT_COMMAND:-npx --yes gapify@$version}"
read -r -d '' -a paths <<< "${INPUT_PATHS:-.}"
read -r -a extra <<< "${INPUT_ARGS:-}"
format=${INPUT_FORMAT:-github}
fail_on=${INPUT_FAIL_ON:-error}
sarif_file=${INPUT_SARIF_FILE:-gapify.sarif}

cd "${INPUT_WORKING_DIRECTORY:-.}" || exit 2
case "$sarif_file" in /*) ;; *) sarif_file="$(pwd)/$sarif_file" ;; esac

status=0
if [ "${INPUT_SARIF:-false}" = "true" ]; then
  # The SARIF log for code scanning: every finding, whatever --fail-on says about the job.
  "${command[@]}" lint "${paths[@]}" ${extra[@]+"${extra[@]}"} --format sarif --output-file "$sarif_file" --fail-on never || status=$?
  if [ "$status" -ne 0 ]; then
    echo "exit-code=$status" >> "${GITHUB_OUTPUT:-/dev/null}"
    exit "$status"
  fi
  echo "sarif-file=$sarif_file" >> "${GITHUB_OUTPUT:-/dev/null}"
fi
"${command[@]}" lint "${paths[@]}" ${extra[@]+"${extra[@]}"} --format "$format" --fail-on "$fail_on" || status=$?
echo "exit-code=$status" >> "${GITHUB_OUTPUT:-/dev/null}"
exit "$status"
