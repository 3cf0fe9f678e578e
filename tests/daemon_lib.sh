# Sourced by the shell test drivers (test_examples.sh, test_php.sh): start_daemon DIR
# [DAEMON_LINES] starts hbpoold on $HBPOOL_SOCKET in front of the exported test gateway, with its
# config in DIR and more [daemon] lines if given, and sets pid; it waits up to 20 s for the socket.
start_daemon() {
  cat >"$1/hbpoold.conf" <<CONF
[daemon]
listen_socket = $HBPOOL_SOCKET
log_level = warning
${2:-}
[gateway]
host = ${HBPOOL_TEST_THRIFT_HOST:-127.0.0.1}
port = $HBPOOL_TEST_THRIFT_PORT
transport = $( ((${HBPOOL_TEST_THRIFT_FRAMED:-0})) && echo framed || echo buffered)
protocol = $( ((${HBPOOL_TEST_THRIFT_COMPACT:-0})) && echo compact || echo binary)
CONF
  "$top_builddir/daemon/hbpoold" -c "$1/hbpoold.conf" &
  pid=$!
  for _ in $(seq 400); do [[ -S $HBPOOL_SOCKET ]] || ! kill -0 "$pid" 2>/dev/null && break; sleep 0.05; done
}
