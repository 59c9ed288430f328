#!/usr/bin/env bash
# Start the local PostgreSQL cluster the tests use, unless it already accepts connections.
set -euo pipefail
host=127.0.0.1
port=5432
if pg_isready -q -h "$host" -p "$port"; then
  exit 0
fi
version=$(ls /etc/postgresql | sort -V | tail -n 1)
echo "Starting PostgreSQL $version on $host:$port" >&2
pg_ctlcluster --skip-systemctl-redirect "$version" main start
for _ in $(seq 30); do
  pg_isready -q -h "$host" -p "$port" && exit 0
  sleep 1
done
echo "PostgreSQL did not come up on $host:$port" >&2
exit 1
