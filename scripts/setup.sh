#!/usr/bin/env bash
# Installs what a fresh Debian machine with Node and npm lacks, then returns quickly on later runs.
#   scripts/setup.sh          for `npm start`: npm dependencies (Node 22 comes with them), the console build, and the Debian packages
#                             the renderer and intake need (Chromium, Noto fonts for Indic scripts, WeasyPrint, poppler-utils, Tesseract, qpdf),
#                             and intake's text-layer reader build/pdf-text (g++ and poppler's C++ library)
#   scripts/setup.sh --test   the same, plus a running RabbitMQ (with its management API on :15672) for the tests that use the real broker, and a running
#                             PostgreSQL whose postgres role logs in on 127.0.0.1 with the password the tests use
set -euo pipefail
cd "$(dirname "$0")/.."

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

APT_PACKAGES=(chromium fonts-noto-core weasyprint poppler-utils)
# intake: OCR (Tesseract with English, Hindi, Marathi, Gujarati, Portuguese) and PDF checks (qpdf)
APT_PACKAGES+=(tesseract-ocr tesseract-ocr-eng tesseract-ocr-hin tesseract-ocr-mar tesseract-ocr-guj tesseract-ocr-por qpdf)
# intake: the long-lived text-layer reader (lib/intake/read/pdf-text.cc), compiled below
APT_PACKAGES+=(g++ pkg-config libpoppler-cpp-dev)
if [ "${1:-}" = "--test" ]; then APT_PACKAGES+=(rabbitmq-server curl); fi
# test/deploy/k8s.test.ts renders deploy/k8s with `kubectl kustomize`: Debian's kubectl (1.20, kustomize v2, which the
# manifests are written for) only where no kubectl is installed
if [ "${1:-}" = "--test" ] && ! command -v kubectl >/dev/null 2>&1; then APT_PACKAGES+=(kubernetes-client); fi
if [ "${1:-}" = "--test" ]; then APT_PACKAGES+=(postgresql); fi
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

# intake's text-layer reader: built when missing or older than its source (without it, pdftotext reads every PDF)
if [ ! -x build/pdf-text ] || [ lib/intake/read/pdf-text.cc -nt build/pdf-text ]; then
	echo "setup: building build/pdf-text"
	mkdir -p build
	# shellcheck disable=SC2046
	g++ -O2 -std=c++17 -Wall -Wextra -o build/pdf-text.tmp lib/intake/read/pdf-text.cc $(pkg-config --cflags --libs poppler-cpp)
	mv build/pdf-text.tmp build/pdf-text
fi

# the operator console (console/dist, served at /console): built when missing or older than its sources
if [ ! -f console/dist/index.html ] || [ -n "$(find console/src console/index.html console/vite.config.ts package-lock.json -newer console/dist/index.html -print -quit)" ]; then
	echo "setup: building the operator console"
	PATH="$PWD/node_modules/.bin:$PATH" vite build --config console/vite.config.ts
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
	# its management API on 127.0.0.1:15672 (guest/guest), which the queue counters' test reads
	# (RABBITMQ_MANAGEMENT_URL); the plugin ships with rabbitmq-server, enabling it again is a no-op
	if ! curl -fsS -o /dev/null -m 5 -u guest:guest http://127.0.0.1:15672/api/overview 2>/dev/null; then
		echo "setup: enabling RabbitMQ's management plugin"
		$SUDO timeout 120 rabbitmq-plugins enable --quiet rabbitmq_management >/dev/null
		for _ in $(seq 1 60); do
			curl -fsS -o /dev/null -m 5 -u guest:guest http://127.0.0.1:15672/api/overview 2>/dev/null && break
			sleep 1
		done
		curl -fsS -o /dev/null -m 5 -u guest:guest http://127.0.0.1:15672/api/overview || { echo "setup: RabbitMQ's management API does not answer on 127.0.0.1:15672" >&2; exit 1; }
	fi
fi

if [ "${1:-}" = "--test" ]; then
	# the tests create a database per run on 127.0.0.1:5432 as postgres/postgres (TEST_DATABASE_URL overrides it):
	# a running cluster, and that login working (a fresh Debian cluster has no password for the postgres role)
	PG_TEST_URL="${TEST_DATABASE_URL:-postgres://postgres:postgres@127.0.0.1:5432/postgres}"
	if ! (exec 3<>/dev/tcp/127.0.0.1/5432) 2>/dev/null; then
		echo "setup: starting PostgreSQL"
		cluster=$(pg_lsclusters --no-header 2>/dev/null | awk 'NR==1 {print $1" "$2}')
		if [ -z "$cluster" ]; then
			$SUDO pg_createcluster "$(ls /usr/lib/postgresql | sort -n | tail -1)" main >/dev/null
			cluster=$(pg_lsclusters --no-header | awk 'NR==1 {print $1" "$2}')
		fi
		# shellcheck disable=SC2086
		$SUDO pg_ctlcluster $cluster start
		for _ in $(seq 1 60); do
			(exec 3<>/dev/tcp/127.0.0.1/5432) 2>/dev/null && break
			sleep 1
		done
	fi
	if ! psql "$PG_TEST_URL" -Atqc "SELECT 1" >/dev/null 2>&1 && [ -z "${TEST_DATABASE_URL:-}" ]; then
		echo "setup: giving the postgres role the password the tests use"
		if [ "$(id -u)" -eq 0 ]; then as_postgres=(runuser -u postgres --); else as_postgres=(sudo -u postgres); fi
		(cd / && "${as_postgres[@]}" psql -Atqc "ALTER ROLE postgres PASSWORD 'postgres'" >/dev/null)
	fi
	psql "$PG_TEST_URL" -Atqc "SELECT 1" >/dev/null || { echo "setup: cannot log in to PostgreSQL as $PG_TEST_URL" >&2; exit 1; }
fi
