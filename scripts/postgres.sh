#!/usr/bin/env bash
# Run a private Postgres cluster in a directory: scripts/postgres.sh start|stop|status DIR PORT
# initdb on first use (trust auth on loopback only, superuser "mediagate"), a database
# "mediagate", socket in DIR. As root, the cluster runs as the "postgres" system user.
set -euo pipefail
cmd=${1:?start|stop|status}; dir=${2:?data dir}; port=${3:-54329}
bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
[ -n "$bin" ] || { echo "postgresql is not installed (run scripts/install.sh)" >&2; exit 1; }
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
case "$cmd" in
  start)
    if [ ! -f "$dir/PG_VERSION" ]; then
      [ "$(id -u)" = 0 ] && chown postgres: "$dir" && chmod 700 "$dir"
      as_pg "$bin/initdb" -D "$dir" -U mediagate --auth=trust -E UTF8 --locale=C.UTF-8 >/dev/null
      cat >> "$dir/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
unix_socket_directories = '$dir'
fsync = on
max_connections = 200
shared_buffers = 128MB
CONF
    fi
    if ! as_pg "$bin/pg_ctl" -D "$dir" status >/dev/null 2>&1; then
      as_pg "$bin/pg_ctl" -D "$dir" -o "-p $port" -l "$dir/server.log" -w -t 60 start >/dev/null
    fi
    psql_="psql -h 127.0.0.1 -p $port -U mediagate -d postgres -tAq"
    if [ "$($psql_ -c "SELECT 1 FROM pg_database WHERE datname='mediagate'")" != 1 ]; then
      $psql_ -c "CREATE DATABASE mediagate"
    fi
    echo "postgresql://mediagate@127.0.0.1:$port/mediagate"
    ;;
  stop) as_pg "$bin/pg_ctl" -D "$dir" -m fast -w stop >/dev/null 2>&1 || true ;;
  status) as_pg "$bin/pg_ctl" -D "$dir" status ;;
  *) echo "usage: $0 start|stop|status DIR PORT" >&2; exit 2 ;;
esac
