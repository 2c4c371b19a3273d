# tools/lib.sh: shared shell functions of the run, test and bench commands.
# Sourced, not run.  Everything works as root (the server then runs as the
# postgres system user) or as a normal user with sudo for installing.

set -euo pipefail

JOBSPY_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PG_MAJOR=15
# JOBSPY_PGROOT points at a private copy of PostgreSQL (see docs/development.md);
# empty means the system's.
PG_BINDIR=${JOBSPY_PGROOT:-}/usr/lib/postgresql/$PG_MAJOR/bin
PG_CONFIG=$PG_BINDIR/pg_config
export PG_CONFIG
export PATH=$PG_BINDIR:$PATH

log() { printf '==> %s\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

# Debian packages each command needs; only missing ones are installed.
PKGS_BUILD="build-essential postgresql-$PG_MAJOR postgresql-server-dev-$PG_MAJOR libsodium-dev libsecp256k1-dev"
PKGS_TEST="postgresql-$PG_MAJOR-pgtap libtap-parser-sourcehandler-pgtap-perl python3 python3-nacl python3-argon2"
PKGS_BENCH="redis-server redis-tools"
PKGS_FUZZ="clang libclang-rt-14-dev"
# Release packaging (make dist, debian/): test/shell/package_*.sh.
PKGS_PACKAGE="zip unzip debhelper postgresql-server-dev-all"

install_packages() {
    local missing=()
    for p in "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing+=("$p")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    log "installing Debian packages: ${missing[*]}"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# Build with warnings as errors and install into PostgreSQL's directories.
# -Wno-unused-parameter: PostgreSQL's own headers trip it under -Wextra.
build_and_install() {
    log "building jobspy_core${JOBSPY_SANITIZE:+ with -fsanitize=$JOBSPY_SANITIZE}"
    make -C "$JOBSPY_ROOT" -s clean >/dev/null
    make -C "$JOBSPY_ROOT" -s PG_CONFIG="$PG_CONFIG" \
        PG_CFLAGS="-Wall -Wextra -Werror -Wno-unused-parameter $(sanitize_cflags)" >/dev/null
    if [ -w "$("$PG_CONFIG" --pkglibdir)" ]; then
        make -C "$JOBSPY_ROOT" -s PG_CONFIG="$PG_CONFIG" install >/dev/null
    else
        as_root make -C "$JOBSPY_ROOT" -s PG_CONFIG="$PG_CONFIG" install >/dev/null
    fi
    if [ -n "${JOBSPY_SANITIZE:-}" ]; then
        gcc -shared -fPIC -O1 -Wall -Werror -o "$JOBSPY_ROOT/tools/sanitize/longjmp_unpoison.so" \
            "$JOBSPY_ROOT/tools/sanitize/longjmp_unpoison.c" -ldl
        as_root install -m 755 "$JOBSPY_ROOT/tools/sanitize/longjmp_unpoison.so" "$(sanitize_shim)"
    fi
}

# JOBSPY_SANITIZE=address,undefined (or either): build the library with
# those sanitizers (gcc, like the rest of the build) and run every server
# started through as_server with tools/sanitize/longjmp_unpoison.so
# preloaded.  The runtimes come with the library, not LD_PRELOAD (an
# uninstrumented postgres with libasan preloaded hangs in bindtextdomain()
# at its first line, glibc 2.36); the small preloaded shim clears the
# stack's shadow at PostgreSQL's error jumps, as ASan's own siglongjmp
# would, and holds the sanitizers' options.  A report aborts the backend
# and goes to the server's log; tools/test counts each report there as a
# failure.
sanitize_cflags() {
    [ -n "${JOBSPY_SANITIZE:-}" ] || return 0
    echo "-fsanitize=$JOBSPY_SANITIZE -fno-sanitize-recover=all -fno-omit-frame-pointer -g"
}
sanitize_shim() { echo "$("$PG_CONFIG" --pkglibdir)/jobspy_longjmp_unpoison.so"; }
sanitize_env() {  # the environment a server needs, as NAME=VALUE words
    [ -n "${JOBSPY_SANITIZE:-}" ] || return 0
    echo "LD_PRELOAD=$(sanitize_shim)"
}
# The lines of a server log that are sanitizer reports.
SANITIZER_REPORT='ERROR: AddressSanitizer|runtime error: '

# The OS user the server runs as: postgres when we are root.
server_user() { if [ "$(id -u)" -eq 0 ]; then echo postgres; else id -un; fi; }
as_server() {
    local envs=()
    [ -n "${JOBSPY_SANITIZE:-}" ] && read -ra envs <<<"$(sanitize_env)"
    if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- env "${envs[@]}" "$@"; else env "${envs[@]}" "$@"; fi
}

# cluster_init DIR PORT [preload]: a new cluster in DIR listening on a Unix
# socket in DIR (and nothing else).  Sets PGHOST, PGPORT, PGUSER.
cluster_init() {
    local dir=$1 port=$2 preload=${3:-jobspy_core}
    mkdir -p "$dir"
    [ "$(id -u)" -eq 0 ] && chown "$(server_user)" "$dir"
    as_server "$PG_BINDIR/initdb" -D "$dir/data" -U postgres -A trust -E UTF8 --locale=C.UTF-8 >/dev/null
    cat >>"$dir/data/postgresql.conf" <<CONF
listen_addresses = ''
unix_socket_directories = '$dir'
port = $port
shared_preload_libraries = '$preload'
max_connections = 200
fsync = off
log_min_messages = warning
CONF
    export PGHOST=$dir PGPORT=$port PGUSER=postgres
}

cluster_start()   { as_server "$PG_BINDIR/pg_ctl" -D "$1/data" -l "$1/server.log" -w start >/dev/null; }
cluster_stop()    { as_server "$PG_BINDIR/pg_ctl" -D "$1/data" -m "${2:-fast}" -w stop >/dev/null 2>&1 || true; }
cluster_restart() { as_server "$PG_BINDIR/pg_ctl" -D "$1/data" -l "$1/server.log" -m fast -w restart ${2:+-o "$2"} >/dev/null; }

# A free-looking port: 54xx from the process id, to keep parallel runs apart.
pick_port() { echo $((54000 + $$ % 900)); }
