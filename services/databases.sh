#!/usr/bin/env bash
# `make services`: PostgreSQL, PgBouncer and Redis on 127.0.0.1 for the tests and benchmarks.
#
# Installs them from Debian's packages when missing and starts what does not answer yet;
# a second run changes nothing. PostgreSQL is Debian's own cluster (5432) with a local role
# `callcenter` (password `callcenter`, loopback only, not a superuser) that may create the
# test databases;
# PgBouncer (6432) pools connections to it in transaction mode, as a deployment with many
# calls runs it (every job process holds a connection); Redis listens on 6379 with the
# password in var/redis_password and keeps nothing on disk (no snapshots, no append-only file).
set -euo pipefail
cd "$(dirname "$0")/.."

SUDO=""
[ "$(id -u)" = 0 ] || SUDO=sudo
PG_PORT=5432
PGBOUNCER_PORT=6432
REDIS_PORT=6379
mkdir -p var/log var/pgbouncer

answers() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

as_postgres() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else sudo -u postgres "$@"; fi
}

wait_for() {  # port, name
  for _ in $(seq 1 50); do answers "$1" && return 0; sleep 0.2; done
  echo "$2 did not answer on 127.0.0.1:$1 (its log is under var/log/)" >&2
  return 1
}

missing=()
command -v pg_ctlcluster >/dev/null || missing+=(postgresql)
dpkg-query -W -f '${Status}' pgbouncer 2>/dev/null | grep -q ' installed$' || missing+=(pgbouncer)
command -v redis-server >/dev/null || missing+=(redis-server)
if [ ${#missing[@]} -gt 0 ]; then
  echo "Installing ${missing[*]} from Debian's packages"
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
  if [[ " ${missing[*]} " == *" pgbouncer "* ]]; then
    # The package starts a service of its own on 6432 (serving no database): the project
    # runs its own PgBouncer there instead, so the one just installed is stopped and disabled.
    $SUDO systemctl disable --now pgbouncer >/dev/null 2>&1 \
      || $SUDO invoke-rc.d pgbouncer stop >/dev/null 2>&1 || true
    $SUDO update-rc.d pgbouncer disable >/dev/null 2>&1 || true
  fi
fi

# PostgreSQL: start the Debian cluster on 5432 (the package creates it on install).
if answers "$PG_PORT"; then
  echo "PostgreSQL already answers on 127.0.0.1:$PG_PORT"
else
  cluster=$(pg_lsclusters -h | awk -v port="$PG_PORT" '$3 == port {print $1, $2; exit}')
  if [ -z "$cluster" ]; then
    echo "No PostgreSQL cluster on port $PG_PORT: create one (pg_createcluster --port $PG_PORT <version> main) or set DATABASE_URL" >&2
    exit 1
  fi
  # shellcheck disable=SC2086
  $SUDO pg_ctlcluster $cluster start
  wait_for "$PG_PORT" PostgreSQL
  echo "PostgreSQL $cluster started on 127.0.0.1:$PG_PORT"
fi
# The role the tests and benchmarks connect as (only on a cluster of this machine's).
if pg_lsclusters -h | awk -v port="$PG_PORT" '$3 == port && $4 == "online" {found=1} END {exit !found}'; then
  as_postgres psql -qAt -p "$PG_PORT" -d postgres -c "
    DO \$\$ BEGIN
      IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'callcenter') THEN
        CREATE ROLE callcenter LOGIN PASSWORD 'callcenter';
      END IF;
      -- Only what the tests need: to create (and so own and drop) their databases.
      ALTER ROLE callcenter NOSUPERUSER NOCREATEROLE CREATEDB;
    END \$\$;" >/dev/null
fi

# PgBouncer: an instance of the project's own (the package's service is off), pooling every
# database of the cluster in transaction mode: a client holds a server connection only while a
# transaction runs. The product uses it with DATABASE_TRANSACTION_POOLING=on.
serves_the_cluster() {
  PGPASSWORD=callcenter psql -h 127.0.0.1 -p "$PGBOUNCER_PORT" -U callcenter -d postgres \
    -qAtc "SELECT 1" >/dev/null 2>&1
}
if answers "$PGBOUNCER_PORT"; then
  if ! serves_the_cluster; then
    echo "Something answers on 127.0.0.1:$PGBOUNCER_PORT that does not pool this PostgreSQL (Debian's own pgbouncer service?): stop it, and \`make services\` starts the project's" >&2
    exit 1
  fi
  echo "PgBouncer already answers on 127.0.0.1:$PGBOUNCER_PORT"
else
  (
    umask 077
    printf '"%s" "%s"\n' callcenter callcenter > var/pgbouncer/userlist.txt
    cat > var/pgbouncer/pgbouncer.ini <<EOF
[databases]
* = host=127.0.0.1 port=$PG_PORT

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $PGBOUNCER_PORT
unix_socket_dir =
auth_type = scram-sha-256
auth_file = $PWD/var/pgbouncer/userlist.txt
pool_mode = transaction
default_pool_size = 20
max_client_conn = 2000
log_connections = 0
log_disconnections = 0
EOF
  )
  # It refuses to run as root: it reads its files first, then becomes the postgres user (a
  # change to them takes a restart, not a reload). Debian installs it where only root's PATH
  # looks; the package knows where.
  as_user=()
  [ "$(id -u)" = 0 ] && as_user=(-u postgres)
  pgbouncer=$(command -v pgbouncer || dpkg -L pgbouncer | grep -m1 '/bin/pgbouncer$')
  setsid "$pgbouncer" "${as_user[@]}" var/pgbouncer/pgbouncer.ini \
    >>var/log/pgbouncer.log 2>&1 </dev/null &
  wait_for "$PGBOUNCER_PORT" PgBouncer
  echo "PgBouncer started on 127.0.0.1:$PGBOUNCER_PORT (transaction pooling)"
fi

# Redis: a server of the project's own, nothing kept on disk, with a password: it carries
# LiveKit's internal RPC and the supervisors' control groups, which no other local user may
# reach. The password is made once (var/redis_password, 0600) and given to redis-server in a
# 0600 config file, never on its command line.
[ -f var/redis_password ] || python3 services/new_secret.py var/redis_password
if answers "$REDIS_PORT"; then
  if redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping 2>/dev/null | grep -q PONG; then
    echo "Redis on 127.0.0.1:$REDIS_PORT answers without a password: stop it (redis-cli -p $REDIS_PORT shutdown), and \`make services\` starts the project's with one" >&2
    exit 1
  fi
  if ! REDISCLI_AUTH="$(cat var/redis_password)" redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping 2>/dev/null | grep -q PONG; then
    echo "Redis on 127.0.0.1:$REDIS_PORT wants another password than var/redis_password (another checkout's?): copy that checkout's var/redis_password here, or stop it (redis-cli -p $REDIS_PORT shutdown) and run \`make services\` again" >&2
    exit 1
  fi
  echo "Redis already answers on 127.0.0.1:$REDIS_PORT"
else
  (
    umask 077
    cat > var/redis.conf <<EOF
bind 127.0.0.1
port $REDIS_PORT
save ""
appendonly no
daemonize yes
logfile $PWD/var/log/redis.log
dir $PWD/var
requirepass $(cat var/redis_password)
EOF
  )
  redis-server var/redis.conf
  wait_for "$REDIS_PORT" Redis
  echo "Redis started on 127.0.0.1:$REDIS_PORT (a password, nothing kept on disk)"
fi
