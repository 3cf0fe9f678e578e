# hbpoold from Ruby (stdlib socket and json only): put, get, a scanner, an error reply, pipelined
# ids, binary bytes in base64.
# Usage: HBPOOL_SOCKET=/path/to/hbpoold.sock ruby clients/examples/ruby.rb TABLE  (family cf)
require 'base64'
require 'json'
require 'socket'

table = ARGV[0] || ENV['HBPOOL_TABLE']
if ENV['HBPOOL_SOCKET'].nil? || table.nil?
  warn 'usage: HBPOOL_SOCKET=... ruby ruby.rb TABLE'
  exit 2
end

# While hbpoold's listen queue is full (a burst of clients while it is busy), a Unix socket
# refuses a non-blocking connect with EAGAIN at once: try again, 5 ms apart doubling to 100 ms,
# for up to 5 s.
def connect(path, timeout = 5.0)
  deadline = Process.clock_gettime(Process::CLOCK_MONOTONIC) + timeout
  delay = 0.005
  begin
    sock = Socket.new(:UNIX, :STREAM)
    sock.connect_nonblock(Socket.sockaddr_un(path))
    sock
  rescue IO::EAGAINWaitWritable
    sock.close
    raise if Process.clock_gettime(Process::CLOCK_MONOTONIC) >= deadline
    sleep delay
    delay = [2 * delay, 0.1].min
    retry
  end
end

SOCK = connect(ENV['HBPOOL_SOCKET'])
$next_id = 0
$replies = {}

# send_request writes one request line and returns its id; replies come back in the order they
# complete, so take_reply matches them to their requests by id.
def send_request(method, params = nil)
  id = ($next_id += 1)
  request = { jsonrpc: '2.0', id: id, method: method }
  request[:params] = params if params
  SOCK.write(JSON.generate(request) + "\n")
  id
end

def take_reply(id)
  until $replies.key?(id)
    line = SOCK.gets or raise 'hbpoold closed the connection'
    reply = JSON.parse(line)
    $replies[reply['id']] = reply
  end
  $replies.delete(id)
end

def call(method, params = nil)
  take_reply(send_request(method, params))
end

def ok(method, params = nil)
  reply = call(method, params)
  raise "#{method}: #{reply['error'].to_json}" if reply['error']
  reply['result']
end

def expect(what, got, want)
  raise "#{what}: got #{got.inspect}, want #{want.inspect}" unless got == want
end

expect('ping', ok('ping'), 'pong')
# Pipelined: both puts are written before either reply is read.
ids = [send_request('put', table: table, row: 'r1', data: { 'cf:lang' => 'ruby' }),
       send_request('put', table: table, row: 'r2', data: { 'cf:lang' => 'rb' })]
ids.each do |id|
  reply = take_reply(id)
  raise "put: #{reply.to_json}" if reply['error']
end
puts 'put: r1 cf:lang=ruby, r2 cf:lang=rb (pipelined)'
row = ok('row', table: table, row: 'r1')
expect('get r1', row, { 'cf:lang' => 'ruby' })
puts "get: r1 cf:lang=#{row['cf:lang']}"

# Bytes that are not UTF-8 travel in base64, both ways.
b64 = ->(s) { Base64.strict_encode64(s) }
key = "\x00\xffbin".b
ok('put', table: table, row: b64[key], data: { b64['cf:raw'] => b64["\xfe\x00".b] }, encoding: 'base64')
raw = ok('row', table: table, row: b64[key], encoding: 'base64')
expect('get binary', raw.to_h { |c, v| [Base64.strict_decode64(c), Base64.strict_decode64(v)] },
       { 'cf:raw' => "\xfe\x00".b })
puts 'binary: 00ff62696e cf:raw=fe00'

scanner = ok('scanner_open', table: table, row_prefix: 'r')['scanner']
rows = []
loop do
  page = ok('scanner_next', scanner: scanner, count: 1)
  rows.concat(page['rows'])
  break if page['done']
end
ok('scanner_close', scanner: scanner)
expect('scan', rows, [['r1', { 'cf:lang' => 'ruby' }], ['r2', { 'cf:lang' => 'rb' }]])
puts "scan: #{rows.map { |k, r| "#{k}=#{r['cf:lang']}" }.join(' ')}"

bad = call('row', table: "#{table}_missing", row: 'r1')
unless bad['error'] && bad['error']['data']['error'] == 'hbase_io_error'
  raise "expected hbase_io_error, got #{bad.to_json}"
end
puts "error: row of a missing table: #{bad['error']['data']['error']} " \
     "(retryable #{bad['error']['data']['retryable']})"

[send_request('delete', table: table, row: 'r1'), send_request('delete', table: table, row: 'r2'),
 send_request('delete', table: table, row: b64[key], encoding: 'base64')].each do |id|
  reply = take_reply(id)
  raise "delete: #{reply.to_json}" if reply['error']
end
puts 'deleted r1, r2 and the binary row'
SOCK.close
