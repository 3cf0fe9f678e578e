<?php
// The PHP client against a real hbpoold and HBase gateway (tests/test_php.sh starts the daemon:
// HBPOOL_SOCKET is its socket, HBPOOL_TEST_DAEMON_PID its process).

declare(strict_types=1);

use Hbpool\Client;
use Hbpool\DaemonTimeout;
use Hbpool\DaemonUnavailable;
use Hbpool\Error;
use PHPUnit\Framework\TestCase;

final class ClientTest extends TestCase
{
    private static string $table;
    private Client $hb;

    public static function setUpBeforeClass(): void
    {
        self::$table = 'php' . getmypid();
        (new Client())->createTable(self::$table, ['cf' => ['max_versions' => 3], 'cg' => []]);
    }

    public static function tearDownAfterClass(): void
    {
        (new Client())->deleteTable(self::$table, disable: true);
    }

    protected function setUp(): void
    {
        $this->hb = new Client(timeout: 10.0);
    }

    public function testPingAndVersion(): void
    {
        $this->assertSame('pong', $this->hb->ping());
        $this->assertSame('hbase-thrift1', $this->hb->version()['api']);
        $this->assertContains(self::$table, $this->hb->tables());
        $this->assertTrue($this->hb->isTableEnabled(self::$table));
        $this->assertSame(3, $this->hb->families(self::$table)['cf']['max_versions']);
    }

    public function testBinaryBytesRoundTrip(): void
    {
        $row = "\x00\xffbin";
        $column = "cf:\x01q\x00";
        $value = "\xff\xfe\x00 and text \xe2\x82\xac";
        $this->hb->put(self::$table, $row, [$column => $value, 'cg:plain' => 'p']);
        $this->assertSame([$column => $value, 'cg:plain' => 'p'], $this->hb->row(self::$table, $row));
        $this->assertSame([$column => $value], $this->hb->row(self::$table, $row, columns: ['cf']));
        $this->assertSame([$row => ['cg:plain' => 'p']],
                          $this->hb->rows(self::$table, [$row, "missing\x80"], columns: ['cg:plain']));
        $this->assertSame([], $this->hb->row(self::$table, "no such row\xff"));
        $regions = $this->hb->regions(self::$table);
        $this->assertSame('', $regions[0]['start_key']);
    }

    public function testVersionsTimestampsAndDeletes(): void
    {
        $t = self::$table;
        $this->hb->put($t, 'v1', ['cf:a' => 'old'], timestamp: 1000);
        $this->hb->put($t, 'v1', ['cf:a' => 'new', 'cf:b' => 'b'], timestamp: 2000);
        $this->assertSame(['new', 'old'], $this->hb->cells($t, 'v1', 'cf:a'));
        $this->assertSame([['new', 2000]], $this->hb->cells($t, 'v1', 'cf:a', versions: 1,
                                                            includeTimestamp: true));
        $this->assertSame(['cf:a' => 'old'], $this->hb->row($t, 'v1', timestamp: 2000));
        $this->assertSame(['cf:a' => ['new', 2000], 'cf:b' => ['b', 2000]],
                          $this->hb->row($t, 'v1', includeTimestamp: true));
        $this->hb->delete($t, 'v1', columns: ['cf:b']);
        $this->assertSame(['cf:a' => 'new'], $this->hb->row($t, 'v1'));
        $this->hb->delete($t, 'v1');
        $this->assertSame([], $this->hb->row($t, 'v1'));
    }

    public function testCountersAppendAndCheckAndPut(): void
    {
        $t = self::$table;
        $this->assertSame(0, $this->hb->counterGet($t, 'c1', 'cf:n'));
        $this->assertSame(5, $this->hb->counterInc($t, 'c1', 'cf:n', 5));
        $this->assertSame(4, $this->hb->counterDec($t, 'c1', 'cf:n'));
        $this->hb->counterSet($t, 'c1', 'cf:n', -7);
        $this->assertSame(-7, $this->hb->counterGet($t, 'c1', 'cf:n'));
        $this->assertSame(['cf:s' => "ab\x00"], $this->hb->append($t, 'c1', ['cf:s' => "ab\x00"]));
        $this->assertSame(['cf:s' => "ab\x00cd"], $this->hb->append($t, 'c1', ['cf:s' => 'cd']));
        $this->assertTrue($this->hb->checkAndPut($t, 'lock', 'cf:owner', null, ['cf:owner' => 'w1']));
        $this->assertFalse($this->hb->checkAndPut($t, 'lock', 'cf:owner', null, ['cf:owner' => 'w2']));
        $this->assertTrue($this->hb->checkAndPut($t, 'lock', 'cf:owner', 'w1', ['cf:owner' => 'w3']));
        $this->assertSame(['cf:owner' => 'w3'], $this->hb->row($t, 'lock'));
    }

    public function testBatch(): void
    {
        $t = self::$table;
        $this->hb->put($t, 'b-gone', ['cf:x' => 'x']);
        $this->hb->batch($t, [
            ['op' => 'put', 'row' => "b\x001", 'data' => ['cf:a' => '1']],
            ['op' => 'put', 'row' => 'b2', 'data' => ['cf:a' => '2', "cg:\xff" => "\x00"]],
            ['op' => 'delete', 'row' => 'b-gone'],
            ['op' => 'counter_inc', 'row' => 'b2', 'column' => 'cf:n', 'value' => 3],
            ['op' => 'counter_dec', 'row' => 'b2', 'column' => 'cf:n'],
        ], batchSize: 2);
        $this->assertSame(['cf:a' => '1'], $this->hb->row($t, "b\x001"));
        $this->assertSame(['cf:a' => '2', 'cf:n' => pack('J', 2), "cg:\xff" => "\x00"],
                          $this->hb->row($t, 'b2'));
        $this->assertSame([], $this->hb->row($t, 'b-gone'));
    }

    public function testScanReadsEveryRowInOrderThroughAScanner(): void
    {
        $t = self::$table;
        $ops = [];
        for ($i = 0; $i < 250; $i++) {
            $ops[] = ['op' => 'put', 'row' => sprintf("s\xff%03d", $i), 'data' => ['cf:i' => (string) $i]];
        }
        $this->hb->batch($t, $ops);
        $keys = [];
        foreach ($this->hb->scan($t, ['row_prefix' => "s\xff", 'batch_size' => 100]) as $key => $row) {
            $keys[] = $key;
            $this->assertSame(['cf:i' => (string) (count($keys) - 1)], $row);
        }
        $this->assertSame(array_map(fn ($i) => sprintf("s\xff%03d", $i), range(0, 249)), $keys);
        $limited = iterator_to_array($this->hb->scan($t, ['row_prefix' => "s\xff", 'limit' => 7,
                                                           'reverse' => true]));
        $this->assertSame([sprintf("s\xff%03d", 249), sprintf("s\xff%03d", 243)],
                          [array_key_first($limited), array_key_last($limited)]);
        $filtered = iterator_to_array($this->hb->scan($t, ['row_prefix' => "s\xff",
                                                            'filter' => "ValueFilter(=, 'binary:42')"]));
        $this->assertSame([sprintf("s\xff%03d", 42) => ['cf:i' => '42']], $filtered);
    }

    public function testLeavingAScanEarlyClosesItsScanner(): void
    {
        $t = self::$table;
        $this->hb->batch($t, [['op' => 'put', 'row' => 'e1', 'data' => ['cf:a' => '1']],
                              ['op' => 'put', 'row' => 'e2', 'data' => ['cf:a' => '2']]]);
        $before = $this->openScanners();
        foreach ($this->hb->scan($t, ['row_prefix' => 'e', 'batch_size' => 1]) as $key => $row) {
            $this->assertSame($before + 1, $this->openScanners());
            break;
        }
        gc_collect_cycles(); // the generator is gone: its finally closed the scanner
        $this->assertSame($before, $this->openScanners());
    }

    public function testPipelinedRequestsAreMatchedByIdInTheOrderMade(): void
    {
        $t = self::$table;
        $results = $this->hb->pipeline(function (Client $hb) use ($t) {
            for ($i = 0; $i < 300; $i++) {
                $hb->put($t, "p$i", ['cf:v' => "value $i"]);
            }
            for ($i = 0; $i < 300; $i++) {
                $hb->row($t, "p$i");
                $hb->counterInc($t, 'pc', 'cf:n');
            }
        });
        $this->assertCount(900, $results);
        $counts = [];
        for ($i = 0; $i < 300; $i++) {
            $this->assertSame(['cf:v' => "value $i"], $results[300 + 2 * $i]);
            $counts[] = $results[301 + 2 * $i];
        }
        // Increments are not ordered: each got a value of its own, and all of them happened.
        sort($counts);
        $this->assertSame(range(1, 300), $counts);
    }

    public function testAPipelineThrowsItsFirstFailureAfterReadingEveryReply(): void
    {
        $t = self::$table;
        try {
            $this->hb->pipeline(function (Client $hb) use ($t) {
                $hb->put($t, 'pf', ['cf:v' => 'kept']);
                $hb->row('no_such_table_' . getmypid(), 'r');
                $hb->put($t, 'pf2', ['nofamily:v' => 'x']);
                $hb->ping();
            });
            $this->fail('the pipeline did not throw');
        } catch (Error $e) {
            $this->assertSame('hbase_io_error', $e->error);
            $this->assertSame(-32001, $e->getCode());
        }
        $this->assertSame(['cf:v' => 'kept'], $this->hb->row($t, 'pf'));
        $this->assertSame('pong', $this->hb->ping());
    }

    public function testErrorsCarryCodeNameAndRetryable(): void
    {
        try {
            $this->hb->put(self::$table, '', ['cf:a' => 'x']);
            $this->fail('an empty row key was taken');
        } catch (Error $e) {
            $this->assertSame(-32602, $e->getCode());
            $this->assertSame('invalid_params', $e->error);
            $this->assertFalse($e->retryable);
            $this->assertStringContainsString('"row" is empty', $e->getMessage());
        }
        try {
            $this->hb->call('no_such_method');
            $this->fail('an unknown method was taken');
        } catch (Error $e) {
            $this->assertSame(-32601, $e->getCode());
        }
        $this->assertSame('pong', $this->hb->call('ping'));
    }

    public function testATimeoutDropsTheLateReplyAndKeepsTheConnection(): void
    {
        $hb = new Client(timeout: 0.3);
        $pid = (int) getenv('HBPOOL_TEST_DAEMON_PID');
        $this->assertGreaterThan(0, $pid);
        posix_kill($pid, SIGSTOP);
        try {
            $start = microtime(true);
            $hb->counterInc(self::$table, 'late', 'cf:n');
            $this->fail('no timeout');
        } catch (DaemonTimeout $e) {
            $this->assertSame('daemon_timeout', $e->error);
            $this->assertGreaterThanOrEqual(0.25, microtime(true) - $start);
        } finally {
            posix_kill($pid, SIGCONT);
        }
        // The late reply (the counter's 1) is dropped; the next request gets its own reply.
        $hb->put(self::$table, 'after-late', ['cf:a' => 'mine']);
        $this->assertSame(['cf:a' => 'mine'], $hb->row(self::$table, 'after-late'));
        $this->assertSame(1, $hb->counterGet(self::$table, 'late', 'cf:n'));
    }

    public function testConnectWaitsWhileTheListenQueueIsFull(): void
    {
        $dir = sys_get_temp_dir() . '/hbpool-php-' . getmypid();
        @mkdir($dir);
        $path = "$dir/full.sock";
        @unlink($path);
        $listener = socket_create(AF_UNIX, SOCK_STREAM, 0);
        $this->assertTrue(socket_bind($listener, $path) && socket_listen($listener, 1));
        $fillers = $this->fillListenQueue($path);
        $this->assertNotEmpty($fillers);

        // Nobody accepts: the client gives up after its timeout, naming why.
        $start = microtime(true);
        try {
            new Client($path, timeout: 0.2);
            $this->fail('connected to a full listen queue');
        } catch (DaemonUnavailable $e) {
            $this->assertStringContainsString('listen queue stayed full for 200 ms', $e->getMessage());
            $this->assertTrue($e->retryable);
        }
        $this->assertGreaterThan(0.15, microtime(true) - $start);

        // A child starts accepting after 0.3 s and relays to hbpoold: the client got in.
        $child = pcntl_fork();
        if ($child === 0) {
            usleep(300000);
            self::relay($listener, getenv('HBPOOL_SOCKET'), 5.0);
            exit(0);
        }
        $start = microtime(true);
        $hb = new Client($path, timeout: 5.0);
        $this->assertGreaterThanOrEqual(0.25, microtime(true) - $start);
        $this->assertSame('pong', $hb->ping());
        $hb->close();
        posix_kill($child, SIGTERM);
        pcntl_waitpid($child, $status);
        foreach ($fillers as $f) {
            socket_close($f);
        }
        socket_close($listener);
        @unlink($path);
        @rmdir($dir);
    }

    public function testNoDaemonIsDaemonUnavailable(): void
    {
        try {
            new Client('/nonexistent/hbpoold.sock', timeout: 1.0);
            $this->fail('connected to nothing');
        } catch (DaemonUnavailable $e) {
            $this->assertSame('daemon_unavailable', $e->error);
            $this->assertStringContainsString('is hbpoold running?', $e->getMessage());
        }
    }

    private function openScanners(): int
    {
        return $this->hb->stats()['scanners'];
    }

    /** Non-blocking connects until the listen queue refuses one (EAGAIN). @return list<Socket> */
    private function fillListenQueue(string $path): array
    {
        $fillers = [];
        for ($i = 0; $i < 64; $i++) {
            $s = socket_create(AF_UNIX, SOCK_STREAM, 0);
            socket_set_nonblock($s);
            if (!@socket_connect($s, $path)) {
                socket_close($s);
                return $fillers;
            }
            $fillers[] = $s;
        }
        return $fillers;
    }

    /** Accepts every connection on $listener and relays each to $to, for $seconds. */
    private static function relay(Socket $listener, string $to, float $seconds): void
    {
        $pairs = [];
        $end = microtime(true) + $seconds;
        socket_set_nonblock($listener);
        while (microtime(true) < $end) {
            $read = [$listener];
            foreach ($pairs as [$a, $b]) {
                $read[] = $a;
                $read[] = $b;
            }
            $w = $e = null;
            if (socket_select($read, $w, $e, 0, 50000) < 1) {
                continue;
            }
            foreach ($read as $s) {
                if ($s === $listener) {
                    while (($c = @socket_accept($listener)) !== false) {
                        $d = socket_create(AF_UNIX, SOCK_STREAM, 0);
                        socket_connect($d, $to);
                        $pairs[] = [$c, $d];
                    }
                    continue;
                }
                foreach ($pairs as [$a, $b]) {
                    if ($s === $a || $s === $b) {
                        $bytes = @socket_read($s, 65536);
                        if ($bytes !== false && $bytes !== '') {
                            socket_write($s === $a ? $b : $a, $bytes);
                        }
                    }
                }
            }
        }
    }
}
