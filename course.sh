#!/usr/bin/env bash
# The course's one entry point.
#
#   bash course.sh          set up (first time only) and open the course in Jupyter Lab
#   bash course.sh start [JUPYTER OPTIONS]   the same, passing options to jupyter lab (e.g. --port=8890)
#   bash course.sh run      set up, then execute every notebook headless into build/executed/
#   bash course.sh test     set up, then run the tests: unit tests and every English notebook (nbval),
#                           then every notebook, English and Chinese, under ATEN_CPU_CAPABILITY=default;
#                           further arguments run just pytest with them (e.g. bash course.sh test notebooks/03_*)
#   bash course.sh docs     set up, then build the course site (Sphinx, both languages) into docs/site/
#                           (English: docs/site/index.html, Chinese: docs/site/zh/index.html)
#
# Set-up creates a virtual environment in .venv (or $COURSE_VENV) with Python 3.11 or later (python3.11
# if there is one, else python3, or $COURSE_PYTHON), installs requirements.txt (which includes this
# package, editable), and re-installs only when that file changes. It never reads standard input.
#
# Jupyter Lab starts wherever this runs: as root (a container, a cloud shell) it adds --allow-root,
# and without a display (no DISPLAY or WAYLAND_DISPLAY, not macOS, no $BROWSER) it adds --no-browser
# and tells you to open the address Jupyter prints.
set -euo pipefail
cd "$(dirname "$0")"

command="${1:-start}"
venv="${COURSE_VENV:-.venv}"
python="${COURSE_PYTHON:-$(command -v python3.11 || command -v python3 || echo python3)}"
stamp="$venv/.requirements.sha256"
wanted="$(sha256sum < requirements.txt | cut -d' ' -f1)"

case "$command" in
  start|run|test|docs) ;;
  *) echo "usage: bash course.sh [start|run|test|docs]  (got '$command')" >&2; exit 2 ;;
esac
if [[ "$command" != start && "$command" != test && $# -gt 1 ]]; then
  echo "usage: only 'bash course.sh start' (options for jupyter lab) and 'bash course.sh test' (options for pytest) take more arguments" >&2
  exit 2
fi

# Flower 1.42, which requirements.txt pins, needs Python 3.11 or later; so does the course.
require_python_311() {
  local version
  version="$("$1" --version 2>&1 || true)"
  if [[ ! "$version" =~ ^Python\ 3\.([0-9]+) ]] || (( BASH_REMATCH[1] < 11 )); then
    echo "The course needs Python 3.11 or later (Flower 1.42 does); $1 is '${version:-not found}'." >&2
    echo "Install Python 3.11+ and run again with COURSE_PYTHON=/path/to/python3.11 (delete $venv if it exists)." >&2
    exit 1
  fi
}

if [[ ! -x "$venv/bin/python" ]]; then
  require_python_311 "$python"
  echo "Creating a virtual environment in $venv with $("$python" --version)..."
  "$python" -m venv "$venv"
fi
require_python_311 "$venv/bin/python"
if [[ "$(cat "$stamp" 2>/dev/null)" != "$wanted" ]]; then
  echo "Installing requirements.txt into $venv (the first time takes a few minutes: torch is large)..."
  "$venv/bin/python" -m pip install --quiet --upgrade pip
  "$venv/bin/python" -m pip install --quiet -r requirements.txt
  echo "$wanted" > "$stamp"
else
  # The environment is current; only point the editable course_utils at this checkout.
  "$venv/bin/python" -m pip install --quiet --no-deps --no-build-isolation -e .
fi
# The tools of the course site and the Chinese edition (Sphinx, the translation catalogs) are a
# small second list, installed on top with a stamp of its own: changing it never rebuilds torch.
docs_stamp="$venv/.docs-requirements.sha256"
docs_wanted="$(sha256sum < docs/requirements.txt | cut -d' ' -f1)"
if [[ "$(cat "$docs_stamp" 2>/dev/null)" != "$docs_wanted" ]]; then
  echo "Installing docs/requirements.txt (the site's and the translations' tools) into $venv..."
  "$venv/bin/python" -m pip install --quiet -r docs/requirements.txt
  echo "$docs_wanted" > "$docs_stamp"
fi

case "$command" in
  start)
    options=()
    if [[ "$EUID" -eq 0 ]]; then
      options+=(--allow-root)  # Jupyter refuses root without it; containers and cloud shells run as root
    fi
    if [[ "$(uname -s)" != Darwin && -z "${DISPLAY:-}" && -z "${WAYLAND_DISPLAY:-}" && -z "${BROWSER:-}" ]]; then
      options+=(--no-browser)
      echo "No browser here: open the address Jupyter Lab prints below (http://127.0.0.1:PORT/lab?token=...) in a browser."
      echo "From another machine, forward the port first (ssh -L 8888:localhost:8888 ...); in a container, start with"
      echo "'bash course.sh start --ip=0.0.0.0' and publish the port."
    fi
    exec "$venv/bin/jupyter" lab notebooks/ ${options[@]+"${options[@]}"} "${@:2}" ;;
  run)
    mkdir -p build/executed
    for notebook in notebooks/[0-9]*.ipynb; do
      start=$SECONDS
      "$venv/bin/jupyter" nbconvert --to notebook --execute --log-level=WARN \
        --output-dir build/executed "$notebook"
      echo "$notebook: $((SECONDS - start)) s"
    done ;;
  test)
    if [[ $# -gt 1 ]]; then
      exec "$venv/bin/python" -m pytest "${@:2}"
    fi
    # Two passes. First the unit tests and the English notebooks; then every notebook, English and Chinese,
    # under torch's non-vectorized kernels (ATEN_CPU_CAPABILITY=default), which change float results the way
    # another CPU does: stored outputs must validate on any machine, not only on the one that stored them.
    # The Chinese notebooks run the English code (tests/test_translations.py checks that it is identical
    # but for the line that sets the language). Both passes run; either failing fails.
    status=0
    "$venv/bin/python" -m pytest --ignore=notebooks/zh || status=$?
    echo "Validating every notebook, English and Chinese, under ATEN_CPU_CAPABILITY=default, as on another CPU..."
    ATEN_CPU_CAPABILITY=default "$venv/bin/python" -m pytest notebooks || status=$?
    exit "$status" ;;
  docs) "$venv/bin/python" docs/build.py && echo "Open docs/site/index.html (English) or docs/site/zh/index.html (Chinese) in a browser." ;;
esac
