#!/usr/bin/env bash
# hbpoold from a shell with socat: ping, put, get, a scanner, and an error reply.
# Usage: HBPOOL_SOCKET=/path/to/hbpoold.sock clients/examples/shell.sh TABLE   (TABLE has family cf)
set -eu
sock=${HBPOOL_SOCKET:?set HBPOOL_SOCKET to the daemon socket}
table=${1:-${HBPOOL_TABLE:?give the table as argument or in HBPOOL_TABLE}}

# call REQUEST EXPECTED: sends one request line, fails unless the reply contains EXPECTED.
call() {
  reply=$(printf '%s\n' "$1" | socat -t 10 - "UNIX-CONNECT:$sock")
  case $reply in
    *"$2"*) printf '%s\n' "$reply" ;;
    *) printf 'unexpected reply: %s\n' "$reply" >&2; exit 1 ;;
  esac
}

call '{"jsonrpc":"2.0","id":1,"method":"ping"}' '"result":"pong"' >/dev/null
echo "ping: pong"
call '{"jsonrpc":"2.0","id":2,"method":"put","params":{"table":"'"$table"'","row":"r1","data":{"cf:greeting":"hello"}}}' '"result":null' >/dev/null
call '{"jsonrpc":"2.0","id":3,"method":"put","params":{"table":"'"$table"'","row":"r2","data":{"cf:greeting":"world"}}}' '"result":null' >/dev/null
echo "put: r1 cf:greeting=hello, r2 cf:greeting=world"
call '{"jsonrpc":"2.0","id":4,"method":"row","params":{"table":"'"$table"'","row":"r1"}}' '"result":{"cf:greeting":"hello"}' >/dev/null
echo "get: r1 cf:greeting=hello"

# A scanner belongs to the connection that opened it: keep one connection open (a coprocess)
# for scanner_open, scanner_next and scanner_close.
coproc SCAN { socat -t 10 - "UNIX-CONNECT:$sock"; }
scan_pid=$SCAN_PID # bash unsets SCAN_PID as soon as the coprocess has exited
printf '%s\n' '{"jsonrpc":"2.0","id":5,"method":"scanner_open","params":{"table":"'"$table"'","row_prefix":"r"}}' >&"${SCAN[1]}"
read -r reply <&"${SCAN[0]}"
scanner=$(printf '%s\n' "$reply" | sed -n 's/.*"id":5,"result":{"scanner":\([0-9]*\)}.*/\1/p')
[ -n "$scanner" ] || { echo "unexpected reply: $reply" >&2; exit 1; }
printf '%s\n' '{"jsonrpc":"2.0","id":6,"method":"scanner_next","params":{"scanner":'"$scanner"',"count":10}}' >&"${SCAN[1]}"
read -r rows <&"${SCAN[0]}"
case $rows in
  *'"id":6,"result":{"rows":[["r1",{"cf:greeting":"hello"}],["r2",{"cf:greeting":"world"}]]'*) ;;
  *) echo "unexpected rows: $rows" >&2; exit 1 ;;
esac
printf '%s\n' '{"jsonrpc":"2.0","id":7,"method":"scanner_close","params":{"scanner":'"$scanner"'}}' >&"${SCAN[1]}"
read -r reply <&"${SCAN[0]}"
case $reply in *'"id":7,"result":null'*) ;; *) echo "unexpected reply: $reply" >&2; exit 1 ;; esac
exec {SCAN[1]}>&-
wait "$scan_pid"
echo "scan: r1=hello r2=world (scanner $scanner closed)"

# An error reply: a missing table is -32001 hbase_io_error, not retryable.
err=$(call '{"jsonrpc":"2.0","id":8,"method":"row","params":{"table":"'"$table"'_missing","row":"r1"}}' '"error":')
case $err in
  *'"code":-32001'*'"error":"hbase_io_error","retryable":false'*) ;;
  *) echo "unexpected error: $err" >&2; exit 1 ;;
esac
echo "error: row of a missing table: hbase_io_error (not retryable)"

call '{"jsonrpc":"2.0","id":9,"method":"delete","params":{"table":"'"$table"'","row":"r1"}}' '"result":null' >/dev/null
call '{"jsonrpc":"2.0","id":10,"method":"delete","params":{"table":"'"$table"'","row":"r2"}}' '"result":null' >/dev/null
echo "deleted r1, r2"
