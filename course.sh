#!/usr/bin/env bash
# The course's one entry point.
#
#   bash course.sh          set up (first time only) and open the course in Jupyter Lab
#   bash course.sh run      set up, then execute every notebook headless into build/executed/
#   bash course.sh test     set up, then run the tests: unit tests and every notebook (nbval);
#                           any further arguments go to pytest (e.g. bash course.sh test notebooks/)
#   bash course.sh docs     set up, then build the course site into docs/site/ (index.html)
#
# Set-up creates a virtual environment in .venv (or $COURSE_VENV) with Python 3.11 (or
# $COURSE_PYTHON), installs requirements.txt (which includes this package, editable), and re-installs only
# when that file changes.
set -euo pipefail
cd "$(dirname "$0")"

command="${1:-start}"
venv="${COURSE_VENV:-.venv}"
python="${COURSE_PYTHON:-$(command -v python3.11 || command -v python3)}"
stamp="$venv/.requirements.sha256"
wanted="$(sha256sum < requirements.txt | cut -d' ' -f1)"

case "$command" in
  start|run|test|docs) ;;
  *) echo "usage: bash course.sh [start|run|test|docs]  (got '$command')" >&2; exit 2 ;;
esac

if [[ ! -x "$venv/bin/python" ]]; then
  echo "Creating a virtual environment in $venv with $("$python" --version)..."
  "$python" -m venv "$venv"
fi
if [[ "$(cat "$stamp" 2>/dev/null)" != "$wanted" ]]; then
  echo "Installing requirements.txt into $venv (the first time takes a few minutes: torch is large)..."
  "$venv/bin/python" -m pip install --quiet --upgrade pip
  "$venv/bin/python" -m pip install --quiet -r requirements.txt
  echo "$wanted" > "$stamp"
else
  # The environment is current; only point the editable course_utils at this checkout.
  "$venv/bin/python" -m pip install --quiet --no-deps --no-build-isolation -e .
fi

case "$command" in
  start) exec "$venv/bin/jupyter" lab notebooks/ ;;
  run)
    mkdir -p build/executed
    for notebook in notebooks/[0-9]*.ipynb; do
      start=$SECONDS
      "$venv/bin/jupyter" nbconvert --to notebook --execute --log-level=WARN \
        --output-dir build/executed "$notebook"
      echo "$notebook: $((SECONDS - start)) s"
    done ;;
  test) exec "$venv/bin/python" -m pytest "${@:2}" ;;
  docs) "$venv/bin/python" docs/build.py && echo "Open docs/site/index.html in a browser." ;;
esac
