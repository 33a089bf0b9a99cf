#!/bin/sh
# Installs Debian's chromium for the browser tests when it is missing.
set -e
if [ -n "${CHROMIUM:-}" ] && [ -x "$CHROMIUM" ]; then exit 0; fi
for b in chromium chromium-browser google-chrome; do
	if command -v "$b" >/dev/null 2>&1; then exit 0; fi
done
if [ "$(id -u)" != 0 ]; then
	echo "The browser tests need Chromium: run 'sudo apt-get install -y chromium' (Debian) and try again." >&2
	exit 1
fi
echo "Installing chromium with apt-get..."
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq chromium >/dev/null
