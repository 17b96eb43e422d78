#!/usr/bin/env bash
# What tests/test_site_browser.py needs besides Python: Debian's Chromium (the headless browser
# that loads every page of the site), a CJK font, fonts-noto-cjk, for the Chinese pages (the
# reader's font: the site ships none), and fontconfig's fc-list, which the test finds fonts with.
# Installed with apt-get only when missing and only as root; otherwise this says what to install,
# and the test skips (or fails with COURSE_REQUIRE_BROWSER=1).
set -euo pipefail
installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }
if ! command -v dpkg-query >/dev/null 2>&1; then
  echo "install_browser.sh: not a Debian system; install Chromium and a CJK font (Noto Sans CJK) yourself." >&2
  exit 0
fi
missing=()
for package in chromium fonts-noto-cjk fontconfig; do
  installed "$package" || missing+=("$package")
done
if (( ${#missing[@]} == 0 )); then
  exit 0
fi
if [[ "$EUID" -ne 0 ]]; then
  echo "install_browser.sh: the browser test needs ${missing[*]}: sudo apt-get install ${missing[*]}" >&2
  exit 0
fi
echo "Installing ${missing[*]} for the site's browser test (apt-get, a minute or two)..."
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" > /dev/null
