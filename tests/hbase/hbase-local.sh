#!/usr/bin/env bash
# Runs a throwaway standalone HBase (jars from Maven Central) and its Thrift1 gateways for hbpool's tests.
set -euo pipefail

# Must match the default <hbase.version> in pom.xml; it is passed to mvn as -Dhbase.version.
readonly VERSION=2.6.1

SCRIPT_DIR=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd -P)
readonly SCRIPT_DIR
readonly POM=$SCRIPT_DIR/pom.xml
readonly PROBE_SRC=$SCRIPT_DIR/ThriftProbe.java
readonly CACHE_DIR=${HBPOOL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/hbpool}/hbase-$VERSION
readonly LIB_DIR=$CACHE_DIR/lib
readonly STAMP=$CACHE_DIR/lib.stamp
# HBase's REST server, for bench/run-rest-bench.sh: a runtime of its own, fetched on first use.
readonly REST_POM=$SCRIPT_DIR/rest/pom.xml
readonly REST_LIB_DIR=$CACHE_DIR/rest-lib
readonly REST_STAMP=$CACHE_DIR/rest-lib.stamp
readonly JAVA=${HBPOOL_JAVA:-java}
readonly MVN=${HBPOOL_MVN:-mvn}
readonly START_TIMEOUT=${HBPOOL_HBASE_START_TIMEOUT:-180}
readonly HOST=127.0.0.1
readonly MARKER=.hbpool-hbase-run-dir
readonly PROBE_TABLE=hbpool_probe
readonly MASTER_READY_LINE='Master has completed initialization'

# What bin/hbase adds on Java 17, plus our heap-independent choices.
readonly JVM_FLAGS=(
  -XX:+UseG1GC -XX:-UsePerfData -Djava.net.preferIPv4Stack=true
  -Dorg.apache.hbase.thirdparty.io.netty.tryReflectionSetAccessible=true
  --add-modules jdk.unsupported
  --add-opens java.base/java.io=ALL-UNNAMED
  --add-opens java.base/java.nio=ALL-UNNAMED
  --add-opens java.base/sun.nio.ch=ALL-UNNAMED
  --add-opens java.base/java.lang=ALL-UNNAMED
  --add-opens java.base/jdk.internal.ref=ALL-UNNAMED
  --add-opens java.base/java.lang.reflect=ALL-UNNAMED
  --add-opens java.base/java.util=ALL-UNNAMED
  --add-opens java.base/java.util.concurrent=ALL-UNNAMED
  --add-exports java.base/jdk.internal.misc=ALL-UNNAMED
  --add-exports java.security.jgss/sun.security.krb5=ALL-UNNAMED
  --add-exports java.base/sun.net.dns=ALL-UNNAMED
  --add-exports java.base/sun.net.util=ALL-UNNAMED
)

# Set by parse_opts.
OPT_RUN_DIR="" OPT_NAME="" OPT_PORT="" OPT_FRAMED="" OPT_COMPACT="" OPT_HTTP="" OPT_IDLE="" OPT_SCANNER=""
OPT_KEEP=0
# The run dir in use, the start deadline (in $SECONDS), success flag, and whether this
# invocation launched a process (failure cleanup only stops what it launched).
RUN_DIR="" DEADLINE=0 STARTED=0 LAUNCHED=0 PROBE_PID=""
GW_NAME="" GW_PORT="" GW_FRAMED=0 GW_COMPACT=0 GW_HTTP=0 GW_IDLE="" GW_SCANNER=""

log() { printf 'hbase-local: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

usage() {
  cat >&2 <<EOF
usage: ${0##*/} COMMAND [OPTIONS]
  fetch
  start [--run-dir DIR] [GATEWAY OPTIONS]
  gateway-start --run-dir DIR --name NAME [GATEWAY OPTIONS]
  gateway-stop --run-dir DIR --name NAME
  rest-start --run-dir DIR [--port N]    (HBase's REST server, for bench/run-rest-bench.sh)
  rest-stop --run-dir DIR
  stop [--run-dir DIR] [--keep]          (default run dir: \$HBPOOL_HBASE_RUN_DIR)
  status --run-dir DIR
gateway options: --port N --framed --compact --http --idle-timeout-ms N --scanner-timeout-ms N
  (--http: the gateway serves Thrift over HTTP POST, hbase.regionserver.thrift.http; not with
  --framed)
EOF
  exit 2
}

# ---------------------------------------------------------------- options

need_uint() { [[ $2 =~ ^[0-9]+$ ]] || die "$1 needs a non-negative integer, got '$2'"; }

# parse_opts "ALLOWED OPTION NAMES" ARGS...: fills the OPT_* globals.
parse_opts() {
  local allowed=" $1 " opt
  shift
  while (($#)); do
    opt=${1#--}
    [[ $1 == --* && $allowed == *" $opt "* ]] || { log "unexpected argument '$1'"; usage; }
    case $opt in
      framed) OPT_FRAMED=1 ;;
      compact) OPT_COMPACT=1 ;;
      http) OPT_HTTP=1 ;;
      keep) OPT_KEEP=1 ;;
      *)
        (($# >= 2)) || die "$1 needs a value"
        parse_value "$opt" "$2"
        shift
        ;;
    esac
    shift
  done
}

parse_value() {
  case $1 in
    run-dir) OPT_RUN_DIR=$2 ;;
    name) [[ $2 =~ ^[A-Za-z0-9_-]+$ ]] || die "bad gateway name '$2'"; OPT_NAME=$2 ;;
    port) need_uint --port "$2"; ((${2} > 0 && ${2} < 65536)) || die "bad port $2"; OPT_PORT=$2 ;;
    idle-timeout-ms) need_uint --idle-timeout-ms "$2"; OPT_IDLE=$2 ;;
    scanner-timeout-ms) need_uint --scanner-timeout-ms "$2"; OPT_SCANNER=$2 ;;
  esac
}

# ---------------------------------------------------------------- fetch

# stamp_text POM: what a complete runtime resolved from POM records.
stamp_text() { printf 'hbase=%s pom-sha256=%s\n' "$VERSION" "$(sha256sum <"$1" | cut -d' ' -f1)"; }

# runtime_is_complete POM STAMP
runtime_is_complete() { [[ -f $2 && $(cat "$2") == "$(stamp_text "$1")" ]]; }

fetch_if_needed() { fetch_runtime "$POM" "$LIB_DIR" "$STAMP" check_jars; }

# fetch_runtime POM LIB STAMP CHECK: resolves POM's runtime jars into LIB unless STAMP says they
# are there; CHECK DIR vets them first. One fetch at a time per cache.
fetch_runtime() {
  runtime_is_complete "$1" "$3" && return 0
  mkdir -p "$CACHE_DIR"
  local lock_fd
  exec {lock_fd}>"$CACHE_DIR/fetch.lock"
  if command -v flock >/dev/null; then flock "$lock_fd"; fi
  runtime_is_complete "$1" "$3" || download_jars "$@"
  exec {lock_fd}>&-
}

# Resolves into a temporary dir, checks it, then swaps it in and writes the stamp.
download_jars() {
  local pom=$1 lib=$2 stamp=$3 check=$4 tmp=$2.tmp.$$ mvn_log=$CACHE_DIR/fetch.log
  rm -rf -- "$tmp"
  log "fetching HBase $VERSION jars with mvn into $lib"
  if ! "$MVN" -B -q -f "$pom" -Dhbase.version="$VERSION" dependency:copy-dependencies \
    -DincludeScope=runtime -DoutputDirectory="$tmp" >"$mvn_log" 2>&1; then
    tail -n 60 "$mvn_log" >&2
    rm -rf -- "$tmp"
    die "mvn failed; full output in $mvn_log"
  fi
  "$check" "$tmp"
  rm -rf -- "$lib"
  mv -- "$tmp" "$lib"
  stamp_text "$pom" >"$stamp"
}

check_jars() {
  local dir=$1 jar
  for jar in hbase-thrift-$VERSION hbase-server-$VERSION hbase-zookeeper-$VERSION log4j-core-2 \
    log4j-slf4j-impl-2 libthrift-; do
    compgen -G "$dir/$jar*.jar" >/dev/null || die "resolved jars lack $jar*.jar (see $dir)"
  done
  if compgen -G "$dir/slf4j-reload4j-*.jar" >/dev/null || compgen -G "$dir/slf4j-log4j12-*.jar" >/dev/null; then
    die "a second SLF4J binding was resolved into $dir: fix the exclusions in $POM"
  fi
}

check_rest_jars() {
  compgen -G "$1/hbase-rest-$VERSION*.jar" >/dev/null || die "resolved jars lack hbase-rest (see $1)"
  compgen -G "$1/log4j-slf4j-impl-2*.jar" >/dev/null || die "resolved jars lack log4j (see $1)"
  ! compgen -G "$1/slf4j-reload4j-*.jar" >/dev/null ||
    die "a second SLF4J binding was resolved into $1: fix the exclusions in $REST_POM"
}

check_java() {
  local spec
  spec=$("$JAVA" -XshowSettings:properties -version 2>&1 | sed -n 's/^ *java.specification.version = //p')
  [[ $spec =~ ^(11|17|21)$ ]] || die "$JAVA is Java '${spec:-?}'; HBase $VERSION needs Java 11, 17 or 21 (set HBPOOL_JAVA)"
}

# ---------------------------------------------------------------- ports and processes

# True when something listens on $HOST:$1.
port_listening() {
  if command -v ss >/dev/null && [[ -n $(ss -Htln "sport = :$1" 2>/dev/null) ]]; then return 0; fi
  (exec 3<>"/dev/tcp/$HOST/$1") 2>/dev/null
}

# True when any socket (any state) uses local port $1: such a port is not handed out.
port_used() {
  command -v ss >/dev/null && [[ -n $(ss -Htan "sport = :$1" 2>/dev/null) ]] && return 0
  port_listening "$1"
}

# Picks a free port below the ephemeral range (so HBase's own port-0 sockets do not take it).
pick_port() {
  local p tries
  for ((tries = 0; tries < 500; tries++)); do
    p=$((20000 + RANDOM % 12000))
    grep -qx "$p" "$RUN_DIR/ports" 2>/dev/null && continue
    port_used "$p" && continue
    echo "$p" >>"$RUN_DIR/ports"
    echo "$p"
    return 0
  done
  die "found no free port"
}

# True when PID $1 is alive and is one of this run dir's JVMs (guards against PID reuse and zombies).
pid_ours() {
  [[ $1 =~ ^[0-9]+$ ]] && kill -0 "$1" 2>/dev/null || return 1
  local args
  args=$(ps -ww -o args= -p "$1" 2>/dev/null) || return 1
  [[ $args == *"$RUN_DIR/"* ]] && return 0
  # A child just launched may not have reached its exec yet: it still shows this script's own
  # command line (a child that died shows "[java] <defunct>" instead).
  [[ $(ps -o ppid= -p "$1" 2>/dev/null | tr -d ' ') == "$$" && $args == "$(ps -ww -o args= -p $$)" ]]
}

read_pid() { [[ -f $1 ]] && cat "$1" || echo ""; }

# wait_pid_exit PID SECONDS: true once PID is gone, false if it outlives SECONDS.
wait_pid_exit() {
  local i
  for ((i = 0; i < $2 * 5; i++)); do
    pid_ours "$1" || return 0
    sleep 0.2
  done
  ! pid_ours "$1"
}

# stop_pid PIDFILE WHAT GRACE_SECONDS: TERM, wait, KILL, remove the PID file.
stop_pid() {
  local pidfile=$1 what=$2 grace=$3 pid began=$SECONDS
  pid=$(read_pid "$pidfile")
  if [[ -n $pid ]] && pid_ours "$pid"; then
    kill -TERM "$pid" 2>/dev/null || true
    if ! wait_pid_exit "$pid" "$grace"; then
      log "$what (pid $pid) did not exit within ${grace}s: killing it"
      kill -KILL "$pid" 2>/dev/null || true
      wait_pid_exit "$pid" 10 || { log "could not kill $what (pid $pid)"; return 1; }
    fi
    log "stopped $what (pid $pid) in $((SECONDS - began))s"
  fi
  rm -f -- "$pidfile"
}

# ---------------------------------------------------------------- configuration files

xml_escape() {
  local v=$1
  v=${v//&/&amp;}
  v=${v//</&lt;}
  printf '%s' "${v//>/&gt;}"
}

# write_site FILE NAME VALUE...: an hbase-site.xml holding the given properties.
write_site() {
  local file=$1
  shift
  {
    printf '<?xml version="1.0"?>\n<!-- Written by hbase-local.sh -->\n<configuration>\n'
    while (($# >= 2)); do
      printf '  <property><name>%s</name><value>%s</value></property>\n' "$1" "$(xml_escape "$2")"
      shift 2
    done
    printf '</configuration>\n'
  } >"$file"
}

# Properties shared by the master and every gateway: one local-filesystem process, loopback only.
cluster_props() {
  local zk_port
  zk_port=$(cat "$RUN_DIR/zk-port")
  CLUSTER_PROPS=(
    hbase.cluster.distributed false
    hbase.rootdir "file://$RUN_DIR/hbase"
    hbase.tmp.dir "$RUN_DIR/tmp/hbase"
    hadoop.tmp.dir "$RUN_DIR/tmp/hadoop"
    hbase.zookeeper.quorum "$HOST"
    hbase.zookeeper.property.clientPort "$zk_port"
    hbase.zookeeper.property.dataDir "$RUN_DIR/zk"
    zookeeper.session.timeout.localHBaseCluster 30000
    hbase.unsafe.stream.capability.enforce false
    hbase.localcluster.assign.random.ports true
    hbase.master.hostname "$HOST"
    hbase.unsafe.regionserver.hostname "$HOST"
    hbase.master.ipc.address "$HOST"
    hbase.regionserver.ipc.address "$HOST"
    hbase.master.info.port -1
    hbase.regionserver.info.port -1
    hbase.thrift.info.port -1
  )
}

write_log4j2() {
  cat >"$1/log4j2.properties" <<'EOF'
# Written by hbase-local.sh: everything to stderr, which the script redirects to RUNDIR/logs/*.log.
status = warn
appender.console.type = Console
appender.console.name = STDERR
appender.console.target = SYSTEM_ERR
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = %d{ISO8601} %-5p [%t] %c{1}: %m%n
rootLogger.level = info
rootLogger.appenderRef.stderr.ref = STDERR
logger.hadoop.name = org.apache.hadoop
logger.hadoop.level = warn
logger.hbase.name = org.apache.hadoop.hbase
logger.hbase.level = info
logger.zookeeper.name = org.apache.zookeeper
logger.zookeeper.level = warn
EOF
}

# ---------------------------------------------------------------- run dir

new_run_dir() {
  if [[ -z $OPT_RUN_DIR ]]; then
    RUN_DIR=$(mktemp -d "${TMPDIR:-/tmp}/hbpool-hbase.XXXXXX")
  else
    mkdir -p -- "$OPT_RUN_DIR"
    [[ -z $(ls -A -- "$OPT_RUN_DIR") ]] || die "run dir $OPT_RUN_DIR is not empty: use a fresh one"
    RUN_DIR=$(cd -- "$OPT_RUN_DIR" && pwd -P)
  fi
  mkdir -p "$RUN_DIR"/{conf,logs,tmp,zk}
  : >"$RUN_DIR/$MARKER"
}

# use_run_dir DIR: an existing run dir made by this script.
use_run_dir() {
  [[ -n $1 ]] || die "no run dir: pass --run-dir DIR"
  [[ -d $1 ]] || die "run dir $1 does not exist"
  [[ -f $1/$MARKER ]] || die "$1 is not a run dir made by ${0##*/}"
  RUN_DIR=$(cd -- "$1" && pwd -P)
}

# shellcheck disable=SC2317 # only reached from the EXIT trap
# dump_logs [LOG NAME...]: the tail of the given logs (default: all of them) on stderr.
dump_logs() {
  local f files=("$@")
  ((${#files[@]})) || files=("$RUN_DIR"/logs/*.log)
  for f in "${files[@]}"; do
    [[ -f $f ]] || continue
    printf '\n===== last 60 lines of %s =====\n' "$f" >&2
    tail -n 60 -- "$f" >&2
  done
}

time_left() { echo $((DEADLINE - SECONDS)); }

# ---------------------------------------------------------------- master

start_master() {
  local pid
  pick_port >"$RUN_DIR/zk-port"
  cluster_props
  # On TERM the master's shutdown hook may stop the in-process ZooKeeper before the region server's
  # hook deletes its znode; with the default ZooKeeper retries (3, from 1 s) exit then takes ~20 s.
  write_site "$RUN_DIR/conf/hbase-site.xml" "${CLUSTER_PROPS[@]}" \
    zookeeper.recovery.retry 1 zookeeper.recovery.retry.intervalmill 200
  write_log4j2 "$RUN_DIR/conf"
  log "starting the standalone master in $RUN_DIR (ZooKeeper port $(cat "$RUN_DIR/zk-port"))"
  "$JAVA" "${JVM_FLAGS[@]}" -Xmx768m -Djava.io.tmpdir="$RUN_DIR/tmp" \
    -Dlog4j2.configurationFile="$RUN_DIR/conf/log4j2.properties" \
    -cp "$RUN_DIR/conf:$LIB_DIR/*" org.apache.hadoop.hbase.master.HMaster start \
    >"$RUN_DIR/logs/master.log" 2>&1 </dev/null &
  pid=$!
  LAUNCHED=1
  echo "$pid" >"$RUN_DIR/master.pid"
}

wait_master_ready() {
  local pid
  pid=$(read_pid "$RUN_DIR/master.pid")
  until grep -q "$MASTER_READY_LINE" "$RUN_DIR/logs/master.log"; do
    pid_ours "$pid" || die "the master exited during startup"
    (($(time_left) > 0)) || die "the master did not initialise within ${START_TIMEOUT}s"
    sleep 1
  done
  log "master initialised after ${SECONDS}s"
}

master_running() { pid_ours "$(read_pid "$RUN_DIR/master.pid")"; }

# ---------------------------------------------------------------- gateways

gw_dir() { echo "$RUN_DIR/gw-$1"; }

gateway_running() { pid_ours "$(read_pid "$(gw_dir "$1")/pid")"; }

# Stored settings of gateway $GW_NAME (if any), overridden by the options given now.
resolve_gateway_settings() {
  local file key value
  file=$(gw_dir "$GW_NAME")/settings
  if [[ -f $file ]]; then
    while IFS='=' read -r key value; do
      case $key in
        PORT) GW_PORT=$value ;; FRAMED) GW_FRAMED=$value ;; COMPACT) GW_COMPACT=$value ;;
        HTTP) GW_HTTP=$value ;;
        IDLE_TIMEOUT_MS) GW_IDLE=$value ;; SCANNER_TIMEOUT_MS) GW_SCANNER=$value ;;
      esac
    done <"$file"
  fi
  GW_PORT=${OPT_PORT:-$GW_PORT} GW_FRAMED=${OPT_FRAMED:-$GW_FRAMED} GW_COMPACT=${OPT_COMPACT:-$GW_COMPACT}
  GW_HTTP=${OPT_HTTP:-$GW_HTTP}
  ! ((GW_HTTP && GW_FRAMED)) || die "--http and --framed do not go together"
  GW_IDLE=${OPT_IDLE:-$GW_IDLE} GW_SCANNER=${OPT_SCANNER:-$GW_SCANNER}
  [[ -n $GW_PORT ]] || GW_PORT=$(pick_port)
}

save_gateway_settings() {
  printf 'PORT=%s\nFRAMED=%s\nCOMPACT=%s\nHTTP=%s\nIDLE_TIMEOUT_MS=%s\nSCANNER_TIMEOUT_MS=%s\n' \
    "$GW_PORT" "$GW_FRAMED" "$GW_COMPACT" "$GW_HTTP" "$GW_IDLE" "$GW_SCANNER" \
    >"$(gw_dir "$GW_NAME")/settings"
}

# The gateway reads these from hbase-site.xml only (it copies its configuration before -D applies).
write_gateway_conf() {
  local conf=$1
  local props=(hbase.regionserver.thrift.port "$GW_PORT" hbase.regionserver.thrift.ipaddress "$HOST"
    hbase.regionserver.thrift.server.type threadpool
    hbase.regionserver.thrift.framed "$( ((GW_FRAMED)) && echo true || echo false)"
    hbase.regionserver.thrift.compact "$( ((GW_COMPACT)) && echo true || echo false)"
    hbase.regionserver.thrift.http "$( ((GW_HTTP)) && echo true || echo false)")
  [[ -z $GW_IDLE ]] || props+=(hbase.thrift.server.socket.read.timeout "$GW_IDLE")
  [[ -z $GW_SCANNER ]] || props+=(hbase.client.scanner.timeout.period "$GW_SCANNER")
  mkdir -p "$conf"
  cluster_props
  write_site "$conf/hbase-site.xml" "${CLUSTER_PROPS[@]}" "${props[@]}"
  write_log4j2 "$conf"
}

launch_gateway() {
  local dir conf pid args=(-threadpool -b "$HOST" -p "$GW_PORT")
  dir=$(gw_dir "$GW_NAME")
  conf=$dir/conf
  ((GW_FRAMED)) && args+=(-f)
  ((GW_COMPACT)) && args+=(-c)
  [[ -z $GW_IDLE ]] || args+=(-t "$GW_IDLE")
  write_gateway_conf "$conf"
  log "starting Thrift1 gateway '$GW_NAME' on $HOST:$GW_PORT (framed=$GW_FRAMED compact=$GW_COMPACT http=$GW_HTTP)"
  "$JAVA" "${JVM_FLAGS[@]}" -Xmx384m -Djava.io.tmpdir="$RUN_DIR/tmp" \
    -Dlog4j2.configurationFile="$conf/log4j2.properties" \
    -cp "$conf:$LIB_DIR/*" org.apache.hadoop.hbase.thrift.ThriftServer "${args[@]}" start \
    >>"$RUN_DIR/logs/gw-$GW_NAME.log" 2>&1 </dev/null &
  pid=$!
  LAUNCHED=1
  echo "$pid" >"$dir/pid"
}

wait_gateway_port() {
  until port_listening "$GW_PORT"; do
    gateway_running "$GW_NAME" || die "gateway '$GW_NAME' exited during startup"
    (($(time_left) > 0)) || die "gateway '$GW_NAME' did not open port $GW_PORT within ${START_TIMEOUT}s"
    sleep 0.5
  done
}

# A real create/put/get through the gateway, retried by ThriftProbe until the start deadline.
probe_gateway() {
  local left args=(--host "$HOST" --port "$GW_PORT" --table "$PROBE_TABLE" --attempt-timeout-ms 10000)
  local probe_log=$RUN_DIR/logs/probe-$GW_NAME.log
  left=$(time_left)
  ((left > 0)) || die "no time left to probe gateway '$GW_NAME'"
  ((GW_FRAMED)) && args+=(--framed)
  ((GW_COMPACT)) && args+=(--compact)
  ((GW_HTTP)) && args+=(--http)
  # In the background so that a signal interrupts 'wait' (the traps then kill the probe).
  "$JAVA" -cp "$(gw_dir "$GW_NAME")/conf:$LIB_DIR/*" "$PROBE_SRC" "${args[@]}" \
    --deadline-ms "$((left * 1000))" >>"$probe_log" 2>&1 </dev/null &
  PROBE_PID=$!
  if ! wait "$PROBE_PID"; then
    PROBE_PID=""
    die "gateway '$GW_NAME' failed its readiness probe: $(tail -n 1 "$probe_log")"
  fi
  PROBE_PID=""
  log "gateway '$GW_NAME' ready after ${SECONDS}s"
}

# Starts gateway $GW_NAME and waits for it; writes gw-NAME/env (and RUNDIR/env for 'main').
start_gateway() {
  local dir
  dir=$(gw_dir "$GW_NAME")
  gateway_running "$GW_NAME" && die "gateway '$GW_NAME' is already running"
  resolve_gateway_settings
  port_listening "$GW_PORT" && die "port $GW_PORT is already in use"
  mkdir -p "$dir"
  save_gateway_settings
  launch_gateway
  wait_gateway_port
  probe_gateway
  env_lines >"$dir/env"
  [[ $GW_NAME != main ]] || cp -- "$dir/env" "$RUN_DIR/env"
}

# Stops gateway $1 if it runs, then waits until its port is closed.
stop_gateway() {
  local name=$1 dir port i
  dir=$(gw_dir "$name")
  gateway_running "$name" || { rm -f -- "$dir/pid"; return 0; }
  port=$(sed -n 's/^PORT=//p' "$dir/settings")
  stop_pid "$dir/pid" "gateway '$name'" 15 || return 1
  for ((i = 0; i < 50; i++)); do
    port_listening "$port" || return 0
    sleep 0.2
  done
  log "port $port of gateway '$name' is still open"
  return 1
}

env_lines() {
  printf 'HBPOOL_HBASE_RUN_DIR=%q\n' "$RUN_DIR"
  printf 'HBPOOL_TEST_THRIFT_HOST=%s\n' "$HOST"
  printf 'HBPOOL_TEST_THRIFT_PORT=%s\n' "$GW_PORT"
  printf 'HBPOOL_TEST_THRIFT_FRAMED=%s\n' "$GW_FRAMED"
  printf 'HBPOOL_TEST_THRIFT_COMPACT=%s\n' "$GW_COMPACT"
  printf 'HBPOOL_TEST_THRIFT_HTTP=%s\n' "$GW_HTTP"
}

# Gateways first, then the master; returns non-zero if something could not be stopped.
stop_everything() {
  local d rc=0
  stop_pid "$RUN_DIR/rest/pid" "REST server" 15 || rc=1
  for d in "$RUN_DIR"/gw-*/; do
    [[ -d $d ]] || continue
    d=${d%/}
    stop_gateway "${d##*/gw-}" || rc=1
  done
  stop_pid "$RUN_DIR/master.pid" master 15 || rc=1
  return "$rc"
}

# ---------------------------------------------------------------- commands

# shellcheck disable=SC2317 # only reached from the EXIT trap
kill_probe() { [[ -z $PROBE_PID ]] || kill "$PROBE_PID" 2>/dev/null || true; }

# shellcheck disable=SC2317 # only reached from the EXIT trap
on_start_exit() {
  local rc=$1
  ((rc == 0 && STARTED)) && return 0
  kill_probe
  ((LAUNCHED)) || exit $((rc == 0 ? 1 : rc))
  dump_logs
  stop_everything || true
  log "start failed; logs kept in $RUN_DIR/logs (remove with: $0 stop --run-dir $RUN_DIR)"
  exit $((rc == 0 ? 1 : rc))
}

# shellcheck disable=SC2317 # only reached from the EXIT trap
on_gateway_exit() {
  local rc=$1
  ((rc == 0 && STARTED)) && return 0
  kill_probe
  ((LAUNCHED)) || exit $((rc == 0 ? 1 : rc))
  dump_logs "$RUN_DIR"/logs/{gw-"$GW_NAME",probe-"$GW_NAME",master}.log
  stop_gateway "$GW_NAME" || true
  exit $((rc == 0 ? 1 : rc))
}

cmd_fetch() {
  parse_opts "" "$@"
  fetch_if_needed
}

cmd_start() {
  parse_opts "run-dir port framed compact http idle-timeout-ms scanner-timeout-ms" "$@"
  need_uint HBPOOL_HBASE_START_TIMEOUT "$START_TIMEOUT"
  DEADLINE=$((SECONDS + START_TIMEOUT))
  check_java
  fetch_if_needed
  new_run_dir
  trap 'on_start_exit $?' EXIT
  start_master
  wait_master_ready
  GW_NAME=main
  start_gateway
  STARTED=1
  env_lines
}

cmd_gateway_start() {
  parse_opts "run-dir name port framed compact http idle-timeout-ms scanner-timeout-ms" "$@"
  [[ -n $OPT_NAME ]] || die "gateway-start needs --name NAME"
  use_run_dir "$OPT_RUN_DIR"
  master_running || die "the master of $RUN_DIR is not running"
  need_uint HBPOOL_HBASE_START_TIMEOUT "$START_TIMEOUT"
  DEADLINE=$((SECONDS + START_TIMEOUT))
  GW_NAME=$OPT_NAME
  trap 'on_gateway_exit $?' EXIT
  start_gateway
  STARTED=1
  env_lines
}

cmd_gateway_stop() {
  parse_opts "run-dir name" "$@"
  [[ -n $OPT_NAME ]] || die "gateway-stop needs --name NAME"
  use_run_dir "$OPT_RUN_DIR"
  [[ -d $(gw_dir "$OPT_NAME") ]] || die "no gateway named '$OPT_NAME' in $RUN_DIR"
  stop_gateway "$OPT_NAME" || die "could not stop gateway '$OPT_NAME'"
}

# HBase's REST server beside the master, on loopback only (its info UI would bind 0.0.0.0:8085:
# off). Prints HBPOOL_TEST_REST_PORT=PORT once GET /version/cluster answers.
cmd_rest_start() {
  parse_opts "run-dir port" "$@"
  use_run_dir "$OPT_RUN_DIR"
  master_running || die "the master of $RUN_DIR is not running"
  need_uint HBPOOL_HBASE_START_TIMEOUT "$START_TIMEOUT"
  DEADLINE=$((SECONDS + START_TIMEOUT))
  local dir=$RUN_DIR/rest port pid
  [[ -z $(read_pid "$dir/pid") ]] || ! pid_ours "$(read_pid "$dir/pid")" ||
    die "the REST server of $RUN_DIR is already running"
  fetch_runtime "$REST_POM" "$REST_LIB_DIR" "$REST_STAMP" check_rest_jars
  port=${OPT_PORT:-$(pick_port)}
  port_listening "$port" && die "port $port is already in use"
  mkdir -p "$dir/conf"
  cluster_props
  write_site "$dir/conf/hbase-site.xml" "${CLUSTER_PROPS[@]}" hbase.rest.host "$HOST" \
    hbase.rest.port "$port" hbase.rest.info.port -1
  write_log4j2 "$dir/conf"
  log "starting the REST server on $HOST:$port"
  "$JAVA" "${JVM_FLAGS[@]}" -Xmx384m -Djava.io.tmpdir="$RUN_DIR/tmp" \
    -Dlog4j2.configurationFile="$dir/conf/log4j2.properties" \
    -cp "$dir/conf:$REST_LIB_DIR/*" org.apache.hadoop.hbase.rest.RESTServer start \
    >>"$RUN_DIR/logs/rest.log" 2>&1 </dev/null &
  pid=$!
  echo "$pid" >"$dir/pid"
  until curl -fsS -m 5 -o /dev/null "http://$HOST:$port/version/cluster" 2>/dev/null; do
    pid_ours "$pid" || { dump_logs "$RUN_DIR/logs/rest.log"; die "the REST server exited"; }
    (($(time_left) > 0)) || { stop_pid "$dir/pid" "REST server" 5 || true
      die "the REST server did not answer on port $port within ${START_TIMEOUT}s"; }
    sleep 0.5
  done
  log "REST server ready after ${SECONDS}s"
  printf 'HBPOOL_TEST_REST_PORT=%s\n' "$port"
}

cmd_rest_stop() {
  parse_opts "run-dir" "$@"
  use_run_dir "$OPT_RUN_DIR"
  stop_pid "$RUN_DIR/rest/pid" "REST server" 15 || die "could not stop the REST server"
}

cmd_stop() {
  parse_opts "run-dir keep" "$@"
  local dir=${OPT_RUN_DIR:-${HBPOOL_HBASE_RUN_DIR:-}}
  [[ -n $dir ]] || die "no run dir: pass --run-dir DIR or set HBPOOL_HBASE_RUN_DIR"
  [[ -d $dir ]] || { log "nothing to stop: $dir does not exist"; return 0; }
  use_run_dir "$dir"
  stop_everything || die "could not stop everything in $RUN_DIR; it is kept"
  ((OPT_KEEP)) || rm -rf -- "$RUN_DIR"
}

# Prints one line per process; exits 0 only when all of them are up.
cmd_status() {
  parse_opts "run-dir" "$@"
  use_run_dir "$OPT_RUN_DIR"
  local all_up=0 d name state
  state=$(master_running && echo up || echo down)
  [[ $state == up ]] || all_up=3
  printf 'master pid=%s zookeeper-port=%s %s\n' "$(read_pid "$RUN_DIR/master.pid")" \
    "$(cat "$RUN_DIR/zk-port" 2>/dev/null)" "$state"
  for d in "$RUN_DIR"/gw-*/; do
    [[ -d $d ]] || continue
    name=${d%/}
    name=${name##*/gw-}
    state=$(gateway_running "$name" && echo up || echo down)
    [[ $state == up ]] || all_up=3
    printf 'gateway %s pid=%s %s %s\n' "$name" "$(read_pid "${d}pid")" \
      "$(tr '\n' ' ' 2>/dev/null <"${d}settings" | sed 's/ $//')" "$state"
  done
  if [[ -f $RUN_DIR/rest/pid ]]; then
    state=$(pid_ours "$(read_pid "$RUN_DIR/rest/pid")" && echo up || echo down)
    [[ $state == up ]] || all_up=3
    printf 'rest pid=%s %s\n' "$(read_pid "$RUN_DIR/rest/pid")" "$state"
  fi
  return "$all_up"
}

main() {
  trap 'exit 130' INT
  trap 'exit 143' TERM
  (($#)) || usage
  local cmd=$1
  shift
  case $cmd in
    fetch) cmd_fetch "$@" ;;
    start) cmd_start "$@" ;;
    gateway-start) cmd_gateway_start "$@" ;;
    gateway-stop) cmd_gateway_stop "$@" ;;
    rest-start) cmd_rest_start "$@" ;;
    rest-stop) cmd_rest_stop "$@" ;;
    stop) cmd_stop "$@" ;;
    status) cmd_status "$@" ;;
    -h | --help | help) usage ;;
    *) log "unknown command '$cmd'"; usage ;;
  esac
  # Exit here: bash must not read past this point if the file changes while it runs.
  exit 0
}

main "$@"
