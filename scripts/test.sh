#!/usr/bin/env bash
# The whole test suite from a fresh machine: installs the dev requirements, Debian's Chromium, the
# CJK font and nginx when missing, makes sure MariaDB is up, lints, then runs every test on SQLite and
# again on MariaDB. Extra arguments go to both pytest runs (e.g. -x, -k name).
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
MARIADB_URL=${AIHELPER_MARIADB_URL:-mysql+pymysql://root@127.0.0.1:3306/test?charset=utf8mb4}

echo "== installing dev requirements"
"$PYTHON" -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt

if ! dpkg -s chromium fonts-wqy-microhei >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ]; then
    echo "== installing Chromium and fonts-wqy-microhei"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-wqy-microhei >/dev/null
  else
    echo "!! Chromium / fonts-wqy-microhei missing and not root: browser tests will be skipped."
    echo "   Install them with: sudo apt-get install chromium fonts-wqy-microhei"
  fi
fi

if ! command -v nginx >/dev/null 2>&1 && [ ! -x /usr/sbin/nginx ]; then
  if [ "$(id -u)" = 0 ]; then
    echo "== installing nginx"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx >/dev/null
    # Where the package's own start was allowed, the system nginx it started (port 80) is stopped
    # again: the tests run theirs on free ports. Only that one, by the pid it wrote.
    if [ -s /run/nginx.pid ]; then kill "$(cat /run/nginx.pid)" 2>/dev/null || true; fi
  else
    echo "!! nginx missing and not root: the behind-nginx tests will be skipped."
    echo "   Install it with: sudo apt-get install nginx"
  fi
fi

mariadb_up() { "$PYTHON" - "$MARIADB_URL" <<'PY'
import sys
from sqlalchemy import create_engine
engine = create_engine(sys.argv[1])
with engine.connect():
    pass
PY
}
if ! mariadb_up 2>/dev/null && [ -x /usr/sbin/mariadbd ] && [ "$(id -u)" = 0 ]; then
  echo "== starting MariaDB"
  start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd
  for _ in $(seq 60); do mariadb_up 2>/dev/null && break; sleep 0.5; done
fi

echo "== ruff"
"$PYTHON" -m ruff check .
"$PYTHON" -m ruff format --check .

echo "== tests on SQLite"
"$PYTHON" -m pytest "$@"

echo "== tests on MariaDB ($MARIADB_URL)"
AIHELPER_TEST_DATABASE_URL="$MARIADB_URL" "$PYTHON" -m pytest "$@"
