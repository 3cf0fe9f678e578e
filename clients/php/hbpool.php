<?php
// hbpool: HBase for PHP through hbpoold, the local pooling daemon: one JSON line per request on
// its Unix socket, no Thrift, no dependency. Bytes go in and come out as PHP strings (base64 on
// the wire). Requests may be pipelined; replies are matched to them by id.

declare(strict_types=1);

namespace Hbpool;

/** A request that failed: hbpoold's error, or the link to hbpoold. */
class Error extends \RuntimeException
{
    /**
     * @param int $code the JSON-RPC code (docs/protocol.md), 0 for a link error
     * @param string $error hbpoold's stable error name (hbase_io_error, request_timeout...)
     * @param bool $retryable whether sending the same request again is safe
     * @param ?string $detail the Java stack when HBase gave one
     */
    public function __construct(
        string $message,
        int $code,
        public readonly string $error,
        public readonly bool $retryable,
        public readonly ?string $detail = null,
    ) {
        parent::__construct($message, $code);
    }
}

/** hbpoold cannot be reached, or the connection to it broke (error "daemon_unavailable"). */
class DaemonUnavailable extends Error
{
}

/** No reply came within the client's timeout (error "daemon_timeout"). The connection stays
 *  usable: a late reply is dropped when it comes. */
class DaemonTimeout extends Error
{
}

/** A reply not yet read: what Client::pipeline returns for each request made inside it. */
final class Pending
{
    /** @param ?\Closure $decode turns the wire's result into the caller's */
    public function __construct(public readonly int $id, public readonly ?\Closure $decode)
    {
    }
}

/**
 * One connection to hbpoold. Not shared between processes: open one per process (php-fpm keeps
 * it for the worker's life if it is kept in a static).
 */
final class Client
{
    public const DEFAULT_SOCKET = '/run/hbpool/hbpoold.sock';
    /** Requests sent and not yet answered before replies are read: hbpoold answers a client's
     *  requests past its max_requests_per_client (256 by default) with an error. */
    private const WINDOW = 128;

    /** @var resource */
    private $sock;
    private int $lastId = 0;
    /** @var array<int, true> ids sent and waited for, oldest first */
    private array $waiting = [];
    /** @var array<int, array> replies read before they were waited for */
    private array $replies = [];
    /** @var ?list<Pending> requests made inside pipeline() */
    private ?array $deferred = null;
    private string $path;

    /**
     * @param ?string $socket the daemon's socket; default $HBPOOL_SOCKET, else DEFAULT_SOCKET
     * @param float $timeout seconds that connecting, and each reply, may take (0: no limit)
     */
    public function __construct(?string $socket = null, private float $timeout = 30.0)
    {
        $this->path = $socket ?? (getenv('HBPOOL_SOCKET') ?: self::DEFAULT_SOCKET);
        $this->sock = $this->connect();
    }

    public function __destruct()
    {
        $this->close();
    }

    /** Closes the connection; hbpoold closes its scanners. Later calls fail. */
    public function close(): void
    {
        if (is_resource($this->sock)) {
            fclose($this->sock);
        }
    }

    // ---- the daemon ---------------------------------------------------------------------

    public function ping(): string|Pending
    {
        return $this->request('ping', []);
    }

    /** @return array{version: string, api: string} */
    public function version(): array|Pending
    {
        return $this->request('version', []);
    }

    /** The daemon's figures (docs/protocol.md, stats). */
    public function stats(): array|Pending
    {
        return $this->request('stats', []);
    }

    // ---- tables ---------------------------------------------------------------------------

    /** @return list<string> */
    public function tables(bool $usePrefix = true): array|Pending
    {
        return $this->request('tables', ['use_prefix' => $usePrefix]);
    }

    /** @param array<string, array> $families name => options (max_versions...), [] for none */
    public function createTable(string $table, array $families): ?Pending
    {
        $families = array_map(fn ($o) => (object) $o, $families);
        return $this->request('create_table', ['table' => $table, 'families' => $families]);
    }

    public function deleteTable(string $table, bool $disable = false): ?Pending
    {
        return $this->request('delete_table', ['table' => $table, 'disable' => $disable]);
    }

    public function enableTable(string $table): ?Pending
    {
        return $this->request('enable_table', ['table' => $table]);
    }

    public function disableTable(string $table): ?Pending
    {
        return $this->request('disable_table', ['table' => $table]);
    }

    public function isTableEnabled(string $table): bool|Pending
    {
        return $this->request('is_table_enabled', ['table' => $table]);
    }

    public function compactTable(string $table, bool $major = false): ?Pending
    {
        return $this->request('compact_table', ['table' => $table, 'major' => $major]);
    }

    /** @return array<string, array> family => its options */
    public function families(string $table): array|Pending
    {
        return $this->request('families', ['table' => $table]);
    }

    /** @return list<array> start_key, end_key (bytes), id, name, version, server_name, port */
    public function regions(string $table): array|Pending
    {
        return $this->request('regions', self::bytes(['table' => $table]), function ($regions) {
            foreach ($regions as &$r) {
                $r['start_key'] = self::dec($r['start_key']);
                $r['end_key'] = self::dec($r['end_key']);
            }
            return $regions;
        });
    }

    // ---- reads ----------------------------------------------------------------------------

    /**
     * One row: column => value ([value, timestamp] with $includeTimestamp); [] if it is missing.
     * @param ?list<string> $columns "cf" for a family, "cf:q" for a column; null for all
     */
    public function row(string $table, string $row, ?array $columns = null, ?int $timestamp = null,
                        bool $includeTimestamp = false): array|Pending
    {
        $p = ['table' => $table, 'row' => self::enc($row)] +
            self::readOptions($columns, $timestamp, $includeTimestamp);
        return $this->request('row', self::bytes($p), fn ($r) => self::decRow($r));
    }

    /** Several rows: row key => row, in the order asked, missing ones left out. */
    public function rows(string $table, array $rows, ?array $columns = null, ?int $timestamp = null,
                         bool $includeTimestamp = false): array|Pending
    {
        $p = ['table' => $table, 'rows' => self::encList($rows)] +
            self::readOptions($columns, $timestamp, $includeTimestamp);
        return $this->request('rows', self::bytes($p), fn ($r) => self::decRows($r));
    }

    /** The versions of one cell, newest first (each [value, timestamp] with $includeTimestamp). */
    public function cells(string $table, string $row, string $column, ?int $versions = null,
                          ?int $timestamp = null, bool $includeTimestamp = false): array|Pending
    {
        $p = ['table' => $table, 'row' => self::enc($row), 'column' => self::enc($column)] +
            self::readOptions(null, $timestamp, $includeTimestamp);
        if ($versions !== null) {
            $p['versions'] = $versions;
        }
        return $this->request('cells', self::bytes($p), function ($cells) use ($includeTimestamp) {
            return array_map(fn ($c) => $includeTimestamp ? [self::dec($c[0]), $c[1]]
                                                          : self::dec($c), $cells);
        });
    }

    /**
     * Every row of a scan, as row key => row, read through a scanner $batchSize rows at a time;
     * the scanner is closed when the loop ends, early too.
     * @param array $options row_start, row_stop, row_prefix, columns, filter, timestamp,
     *   include_timestamp, batch_size, scan_batching, sorted_columns, reverse (docs/protocol.md)
     *   and limit: the most rows to yield
     */
    public function scan(string $table, array $options = []): \Generator
    {
        if ($this->deferred !== null) {
            throw new \LogicException('hbpool: scan() cannot be pipelined');
        }
        $limit = $options['limit'] ?? null;
        unset($options['limit']);
        $p = ['table' => $table] + self::scanOptions($options);
        $count = $options['batch_size'] ?? 1000;
        if ($limit !== null) {
            $count = min($count, $limit);
        }
        if ($limit === 0) {
            return;
        }
        $scanner = $this->request('scanner_open', self::bytes($p))['scanner'];
        try {
            $seen = 0;
            for (;;) {
                $page = $this->request('scanner_next', self::bytes(['scanner' => $scanner,
                                                                     'count' => $count]));
                foreach ($page['rows'] as [$key, $row]) {
                    yield self::dec($key) => self::decRow($row);
                    if ($limit !== null && ++$seen >= $limit) {
                        return;
                    }
                }
                if ($page['done']) {
                    return;
                }
            }
        } finally {
            if (is_resource($this->sock)) {
                $this->request('scanner_close', ['scanner' => $scanner]);
            }
        }
    }

    // ---- writes ---------------------------------------------------------------------------

    /** @param array<string, string> $data column => value */
    public function put(string $table, string $row, array $data, ?int $timestamp = null,
                        bool $wal = true): ?Pending
    {
        $p = ['table' => $table, 'row' => self::enc($row), 'data' => self::encData($data)];
        return $this->write('put', $p, $timestamp, $wal);
    }

    /** @param ?list<string> $columns null: the whole row */
    public function delete(string $table, string $row, ?array $columns = null,
                           ?int $timestamp = null, bool $wal = true): ?Pending
    {
        $p = ['table' => $table, 'row' => self::enc($row)];
        if ($columns !== null) {
            $p['columns'] = self::encList($columns);
        }
        return $this->write('delete', $p, $timestamp, $wal);
    }

    public function counterGet(string $table, string $row, string $column): int|Pending
    {
        return $this->request('counter_get', self::counter($table, $row, $column));
    }

    /** @return int|Pending the new value */
    public function counterInc(string $table, string $row, string $column, int $value = 1): int|Pending
    {
        return $this->request('counter_inc', self::counter($table, $row, $column, $value));
    }

    /** @return int|Pending the new value */
    public function counterDec(string $table, string $row, string $column, int $value = 1): int|Pending
    {
        return $this->request('counter_dec', self::counter($table, $row, $column, $value));
    }

    public function counterSet(string $table, string $row, string $column, int $value): ?Pending
    {
        return $this->request('counter_set', self::counter($table, $row, $column, $value));
    }

    /** Appends each value to its cell; @return array|Pending the new values, as a row */
    public function append(string $table, string $row, array $data,
                           bool $includeTimestamp = false): array|Pending
    {
        $p = ['table' => $table, 'row' => self::enc($row), 'data' => self::encData($data),
              'include_timestamp' => $includeTimestamp];
        return $this->request('append', self::bytes($p), fn ($r) => self::decRow($r));
    }

    /**
     * Puts $data (one cell) only if $column holds $value, or, with $value null, is absent.
     * @return bool|Pending whether it was put
     */
    public function checkAndPut(string $table, string $row, string $column, ?string $value,
                                array $data, bool $wal = true): bool|Pending
    {
        $p = ['table' => $table, 'row' => self::enc($row), 'column' => self::enc($column),
              'value' => $value === null ? null : self::enc($value),
              'data' => self::encData($data), 'wal' => $wal];
        return $this->request('check_and_put', self::bytes($p));
    }

    /**
     * Many mutations in few gateway calls.
     * @param list<array> $operations ['op' => 'put', 'row' => R, 'data' => [...]],
     *   ['op' => 'delete', 'row' => R, 'columns' => [...]] (no columns: the whole row),
     *   ['op' => 'counter_inc' or 'counter_dec', 'row' => R, 'column' => C, 'value' => N]
     * @param ?int $batchSize the most mutations per gateway call (null: all at once)
     */
    public function batch(string $table, array $operations, ?int $timestamp = null,
                          bool $wal = true, ?int $batchSize = null): ?Pending
    {
        $ops = array_map([self::class, 'encOperation'], array_values($operations));
        $p = ['table' => $table, 'operations' => $ops];
        if ($batchSize !== null) {
            $p['batch_size'] = $batchSize;
        }
        return $this->write('batch', $p, $timestamp, $wal);
    }

    // ---- pipelining and raw calls ---------------------------------------------------------

    /**
     * Sends every request $body makes on this client without waiting for its reply, then reads
     * the replies. Returns the results in the order the requests were made; if any failed, the
     * first failure is thrown once every reply has been read.
     * @param callable(Client): void $body
     */
    public function pipeline(callable $body): array
    {
        if ($this->deferred !== null) {
            throw new \LogicException('hbpool: pipeline() calls cannot nest');
        }
        $this->deferred = [];
        try {
            $body($this);
            $made = $this->deferred;
        } finally {
            $this->deferred = null;
        }
        $results = [];
        $failure = null;
        foreach ($made as $pending) {
            try {
                $results[] = $this->wait($pending);
            } catch (DaemonUnavailable $e) {
                throw $e;
            } catch (Error $e) {
                $failure ??= $e;
                $results[] = null;
            }
        }
        if ($failure !== null) {
            throw $failure;
        }
        return $results;
    }

    /** Any method with its params as docs/protocol.md gives them (utf8 unless they say). */
    public function call(string $method, array $params = []): mixed
    {
        return $this->request($method, $params);
    }

    // ---- the wire -------------------------------------------------------------------------

    /** Sends a request; waits for its result, or inside pipeline() returns a Pending. */
    private function request(string $method, array $params, ?\Closure $decode = null): mixed
    {
        $pending = new Pending($this->send($method, $params), $decode);
        if ($this->deferred !== null) {
            $this->deferred[] = $pending;
            return $pending;
        }
        return $this->wait($pending);
    }

    private function write(string $method, array $p, ?int $timestamp, bool $wal): ?Pending
    {
        if ($timestamp !== null) {
            $p['timestamp'] = $timestamp;
        }
        $p['wal'] = $wal;
        return $this->request($method, self::bytes($p));
    }

    private function send(string $method, array $params): int
    {
        if (!is_resource($this->sock)) {
            throw new DaemonUnavailable('hbpool: the connection is closed', 0, 'daemon_unavailable',
                                        false);
        }
        while (count($this->waiting) >= self::WINDOW) {
            $this->readReply();
        }
        $id = ++$this->lastId;
        $request = ['jsonrpc' => '2.0', 'id' => $id, 'method' => $method];
        if ($params) {
            $request['params'] = $params;
        }
        try {
            $line = json_encode($request, JSON_UNESCAPED_SLASHES | JSON_THROW_ON_ERROR) . "\n";
        } catch (\JsonException $e) {
            throw new \InvalidArgumentException("hbpool: $method: " . $e->getMessage() .
                                                ' (table names must be UTF-8)');
        }
        for ($off = 0, $len = strlen($line); $off < $len; $off += $n) {
            $n = @fwrite($this->sock, $off === 0 ? $line : substr($line, $off));
            if ($n === false || $n === 0) {
                $this->broken($this->timedOut() ? 'sending timed out' : 'sending failed');
            }
        }
        $this->waiting[$id] = true;
        return $id;
    }

    /** The result of a request sent, its reply read first if it has not been. */
    public function wait(Pending $pending): mixed
    {
        $id = $pending->id;
        while (!isset($this->replies[$id])) {
            if (!isset($this->waiting[$id])) {
                throw new \LogicException("hbpool: request $id was already waited for");
            }
            $this->readReply($id);
        }
        $reply = $this->replies[$id];
        unset($this->replies[$id]);
        if (isset($reply['error'])) {
            $e = $reply['error'];
            $data = is_array($e['data'] ?? null) ? $e['data'] : [];
            throw new Error((string) ($e['message'] ?? 'error'), (int) ($e['code'] ?? 0),
                            (string) ($data['error'] ?? 'unknown'), (bool) ($data['retryable'] ?? false),
                            $data['detail'] ?? null);
        }
        $result = $reply['result'] ?? null;
        return $pending->decode !== null ? ($pending->decode)($result) : $result;
    }

    /** Reads one reply line and files it under its id; $for is the request waited for, which a
     *  timeout gives up. */
    private function readReply(?int $for = null): void
    {
        $line = fgets($this->sock);
        if ($line === false) {
            if ($this->timedOut()) {
                $this->giveUp($for);
            }
            $this->broken('hbpoold closed the connection');
        }
        $reply = json_decode($line, true);
        if (!is_array($reply)) {
            $this->broken('hbpoold sent a line that is not a JSON object');
        }
        $id = $reply['id'] ?? null;
        if ($id === null) {
            // A line hbpoold could not read at all: answered without its id, in order.
            $id = array_key_first($this->waiting);
        }
        if (!isset($this->waiting[$id])) {
            return; // the late reply of a request given up on
        }
        unset($this->waiting[$id]);
        $this->replies[$id] = $reply;
    }

    private function giveUp(?int $for): never
    {
        if ($for !== null) {
            unset($this->waiting[$for]); // its reply, when it comes, is dropped
        }
        throw new DaemonTimeout(sprintf('hbpool: no reply from hbpoold within %.3f s',
                                        $this->timeout), 0, 'daemon_timeout', false);
    }

    private function broken(string $why): never
    {
        $this->close();
        $this->waiting = [];
        throw new DaemonUnavailable("hbpool: $why ($this->path)", 0, 'daemon_unavailable', false);
    }

    private function timedOut(): bool
    {
        return is_resource($this->sock) && (stream_get_meta_data($this->sock)['timed_out'] ?? false);
    }

    /**
     * Connects, trying again while the daemon's listen queue is full (EAGAIN: it is busy
     * accepting others), 5 ms apart and doubling up to 100 ms, within the timeout.
     * @return resource
     */
    private function connect()
    {
        $deadline = $this->timeout > 0 ? microtime(true) + $this->timeout : INF;
        $delay = 0.005;
        for (;;) {
            $left = $deadline - microtime(true);
            $sock = @stream_socket_client('unix://' . $this->path, $errno, $errstr,
                                          is_finite($left) ? max($left, 0.001) : null);
            if ($sock !== false) {
                break;
            }
            if ($errno !== 11 /* EAGAIN */) {
                throw new DaemonUnavailable("hbpool: cannot connect to hbpoold at $this->path: " .
                                            "$errstr (is hbpoold running? the socket comes from " .
                                            '$socket or HBPOOL_SOCKET)', 0, 'daemon_unavailable', true);
            }
            if ($left <= 0) {
                throw new DaemonUnavailable(sprintf('hbpool: cannot connect to hbpoold at %s: ' .
                                                    'its listen queue stayed full for %d ms',
                                                    $this->path, $this->timeout * 1000),
                                            0, 'daemon_unavailable', true);
            }
            usleep((int) (min($delay, $left) * 1e6));
            $delay = min($delay * 2, 0.1);
        }
        if ($this->timeout > 0) {
            $s = (int) $this->timeout;
            stream_set_timeout($sock, $s, (int) (($this->timeout - $s) * 1e6));
        }
        return $sock;
    }

    // ---- bytes ------------------------------------------------------------------------------

    private static function enc(string $b): string
    {
        return base64_encode($b);
    }

    private static function dec(string $s): string
    {
        return base64_decode($s, true);
    }

    /** A list of byte strings, each in base64. */
    private static function encList(array $list): array
    {
        return array_map([self::class, 'enc'], array_values($list));
    }

    /** Params whose byte strings are base64. */
    private static function bytes(array $p): array
    {
        return $p + ['encoding' => 'base64'];
    }

    private static function encData(array $data): array
    {
        $out = [];
        foreach ($data as $column => $value) {
            $out[self::enc((string) $column)] = self::enc((string) $value);
        }
        return $out ?: (object) [];
    }

    private static function encOperation(array $op): array
    {
        foreach (['row', 'column'] as $k) {
            if (isset($op[$k])) {
                $op[$k] = self::enc((string) $op[$k]);
            }
        }
        if (isset($op['data'])) {
            $op['data'] = self::encData($op['data']);
        }
        if (isset($op['columns'])) {
            $op['columns'] = self::encList($op['columns']);
        }
        return $op;
    }

    private static function readOptions(?array $columns, ?int $timestamp, bool $withTs): array
    {
        $p = [];
        if ($columns !== null) {
            $p['columns'] = self::encList($columns);
        }
        if ($timestamp !== null) {
            $p['timestamp'] = $timestamp;
        }
        if ($withTs) {
            $p['include_timestamp'] = true;
        }
        return $p;
    }

    private static function scanOptions(array $o): array
    {
        foreach (['row_start', 'row_stop', 'row_prefix', 'filter'] as $k) {
            if (isset($o[$k])) {
                $o[$k] = self::enc($o[$k]);
            }
        }
        if (isset($o['columns'])) {
            $o['columns'] = self::encList($o['columns']);
        }
        return $o;
    }

    private static function counter(string $table, string $row, string $column, ?int $value = null): array
    {
        $p = ['table' => $table, 'row' => self::enc($row), 'column' => self::enc($column)];
        if ($value !== null) {
            $p['value'] = $value;
        }
        return self::bytes($p);
    }

    /** A row as the wire has it (an object, or [column, value] pairs with sorted_columns). */
    private static function decRow(array $row): array
    {
        $out = [];
        if (array_is_list($row) && $row !== []) {
            foreach ($row as [$column, $value]) {
                $out[] = [self::dec($column), self::decValue($value)];
            }
            return $out;
        }
        foreach ($row as $column => $value) {
            $out[self::dec((string) $column)] = self::decValue($value);
        }
        return $out;
    }

    private static function decValue(string|array $v): string|array
    {
        return is_array($v) ? [self::dec($v[0]), $v[1]] : self::dec($v);
    }

    private static function decRows(array $rows): array
    {
        $out = [];
        foreach ($rows as [$key, $row]) {
            $out[self::dec($key)] = self::decRow($row);
        }
        return $out;
    }
}
