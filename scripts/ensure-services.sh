#!/usr/bin/env bash
# Make sure what the tests need is on this machine and running: PostgreSQL on 127.0.0.1:5432
# (installed and started if need be), promtool (Debian `prometheus`), Alertmanager, Chromium and
# wrk. Idempotent and quiet when everything is already there.
set -euo pipefail

need_apt=()
command -v pg_ctlcluster >/dev/null 2>&1 || need_apt+=(postgresql)
command -v promtool >/dev/null 2>&1 || need_apt+=(prometheus)
command -v prometheus-alertmanager >/dev/null 2>&1 || need_apt+=(prometheus-alertmanager)
command -v chromium >/dev/null 2>&1 || need_apt+=(chromium)
command -v wrk >/dev/null 2>&1 || need_apt+=(wrk)

if [ ${#need_apt[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ] && ! command -v sudo >/dev/null 2>&1; then
    echo "ensure-services: please install: ${need_apt[*]}" >&2
    exit 1
  fi
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
  echo "ensure-services: installing ${need_apt[*]} (Debian packages)"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
  # The Debian packages start daemons on the default ports; the tests run their own.
  for svc in prometheus prometheus-alertmanager prometheus-node-exporter; do
    pkill -f "^/usr/bin/$svc" 2>/dev/null || true
  done
fi

if ! pg_isready -q -h 127.0.0.1 -p 5432; then
  echo "ensure-services: starting PostgreSQL"
  version=$(ls /etc/postgresql | sort -V | tail -n 1)
  pg_ctlcluster --skip-systemctl-redirect "$version" main start
  for _ in $(seq 1 50); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 0.2; done
fi
if ! pg_isready -q -h 127.0.0.1 -p 5432; then
  echo "ensure-services: PostgreSQL is not answering on 127.0.0.1:5432" >&2
  exit 1
fi
# Trust auth for user postgres over TCP is what this machine provides; check it works.
psql -h 127.0.0.1 -U postgres -d postgres -qAtc "select 1" >/dev/null
