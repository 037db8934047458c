#!/usr/bin/env bash
# Installs what a fresh Debian machine with Node and npm lacks, then returns quickly on later runs.
#   scripts/setup.sh          for `npm start`: npm dependencies (Node 22 comes with them) and the Debian packages
#                             the renderer needs (Chromium, Noto fonts for Indic scripts, WeasyPrint, poppler-utils)
#   scripts/setup.sh --test   the same, plus a running RabbitMQ for the tests that use the real broker
set -euo pipefail
cd "$(dirname "$0")/.."

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

APT_PACKAGES=(chromium fonts-noto-core weasyprint poppler-utils)
# intake: OCR (Tesseract with English, Hindi, Marathi, Gujarati, Portuguese) and PDF checks (qpdf)
APT_PACKAGES+=(tesseract-ocr tesseract-ocr-eng tesseract-ocr-hin tesseract-ocr-mar tesseract-ocr-guj tesseract-ocr-por qpdf)
if [ "${1:-}" = "--test" ]; then APT_PACKAGES+=(rabbitmq-server); fi
# intake tests run a private IMAP server
if [ "${1:-}" = "--test" ]; then APT_PACKAGES+=(dovecot-imapd); fi

missing=()
for pkg in "${APT_PACKAGES[@]}"; do
	dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ "${#missing[@]}" -gt 0 ]; then
	echo "setup: installing Debian packages: ${missing[*]}"
	$SUDO apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# npm dependencies (they include Node 22 as the `node` package, first on the PATH of npm scripts)
if [ ! -x node_modules/.bin/node ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
	echo "setup: installing npm dependencies (npm ci)"
	npm ci --no-audit --no-fund --loglevel=error
fi

start_rabbitmq() {
	$SUDO rabbitmq-server -detached
	for _ in $(seq 1 90); do
		(exec 3<>/dev/tcp/127.0.0.1/5672) 2>/dev/null && break
		sleep 1
	done
	$SUDO timeout 120 rabbitmqctl await_startup >/dev/null
}

if [ "${1:-}" = "--test" ]; then
	# the tests use the real RabbitMQ on 127.0.0.1:5672: running, and answering (a broker whose queues stopped
	# answering accepts connections but times them out)
	if ! (exec 3<>/dev/tcp/127.0.0.1/5672) 2>/dev/null; then
		echo "setup: starting RabbitMQ"
		start_rabbitmq
	elif ! $SUDO timeout 60 rabbitmqctl list_queues --quiet name >/dev/null 2>&1; then
		echo "setup: RabbitMQ is not answering; restarting it"
		$SUDO timeout 60 rabbitmqctl stop >/dev/null 2>&1 || $SUDO pkill -9 -f 'beam.smp.*rabbit' || true
		for _ in $(seq 1 30); do pgrep -f 'beam.smp.*rabbit' >/dev/null || break; sleep 1; done
		start_rabbitmq
	fi
fi
