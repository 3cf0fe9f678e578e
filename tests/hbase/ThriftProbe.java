// Readiness probe for an HBase Thrift1 gateway: create a table, put a cell, read it back, until a deadline.
//
// Run as a single-file source program with the HBase jars on the class path:
//   java -cp "CONF:LIB/*" tests/hbase/ThriftProbe.java --port N [--host H] [--framed | --http] [--compact]
//        [--deadline-ms N] [--attempt-timeout-ms N] [--table NAME]
// Exit status: 0 once a value written through the gateway was read back; 1 at the deadline (the last
// error is printed on stderr); 2 on a usage error.

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.Collections;
import java.util.List;
import java.util.Map;

import org.apache.hadoop.hbase.thrift.generated.AlreadyExists;
import org.apache.hadoop.hbase.thrift.generated.ColumnDescriptor;
import org.apache.hadoop.hbase.thrift.generated.Hbase;
import org.apache.hadoop.hbase.thrift.generated.IOError;
import org.apache.hadoop.hbase.thrift.generated.IllegalArgument;
import org.apache.hadoop.hbase.thrift.generated.Mutation;
import org.apache.hadoop.hbase.thrift.generated.TCell;
import org.apache.hadoop.hbase.thrift.generated.TRowResult;
import org.apache.thrift.protocol.TBinaryProtocol;
import org.apache.thrift.protocol.TCompactProtocol;
import org.apache.thrift.protocol.TProtocol;
import org.apache.thrift.transport.THttpClient;
import org.apache.thrift.transport.TSocket;
import org.apache.thrift.transport.TTransport;
import org.apache.thrift.transport.layered.TFramedTransport;

public final class ThriftProbe {
  private static final String FAMILY = "f:";
  private static final String COLUMN = "f:probe";
  private static final long PAUSE_MS = 1000;

  private String host = "127.0.0.1";
  private int port = -1;
  private boolean framed;
  private boolean compact;
  private boolean http;
  private long deadlineMs = 120_000;
  private int attemptTimeoutMs = 10_000;
  private String table = "hbpool_probe";

  public static void main(String[] args) {
    ThriftProbe probe = new ThriftProbe();
    try {
      probe.parse(args);
    } catch (IllegalArgumentException e) {
      System.err.println("ThriftProbe: " + e.getMessage());
      System.exit(2);
    }
    System.exit(probe.run());
  }

  private void parse(String[] args) {
    for (int i = 0; i < args.length; i++) {
      switch (args[i]) {
        case "--host": host = value(args, ++i); break;
        case "--port": port = Integer.parseInt(value(args, ++i)); break;
        case "--framed": framed = true; break;
        case "--compact": compact = true; break;
        case "--http": http = true; break;
        case "--deadline-ms": deadlineMs = Long.parseLong(value(args, ++i)); break;
        case "--attempt-timeout-ms": attemptTimeoutMs = Integer.parseInt(value(args, ++i)); break;
        case "--table": table = value(args, ++i); break;
        default: throw new IllegalArgumentException("unknown argument " + args[i]);
      }
    }
    if (port <= 0 || port > 65535) {
      throw new IllegalArgumentException("--port N is required");
    }
  }

  private static String value(String[] args, int i) {
    if (i >= args.length) {
      throw new IllegalArgumentException(args[i - 1] + " needs a value");
    }
    return args[i];
  }

  /** Retries one full create/put/get round until it succeeds or the deadline passes. */
  private int run() {
    long start = System.nanoTime();
    long deadline = start + deadlineMs * 1_000_000L;
    String row = "probe-" + ProcessHandle.current().pid() + "-" + System.currentTimeMillis();
    String lastError = "no attempt made (deadline too short)";
    int attempts = 0;
    while (true) {
      long leftMs = (deadline - System.nanoTime()) / 1_000_000L;
      if (leftMs <= 0) {
        break;
      }
      attempts++;
      try {
        roundTrip(row, (int) Math.min(attemptTimeoutMs, leftMs));
        System.err.printf("ThriftProbe: %s:%d ready after %d attempt(s), %.1f s%n", host, port,
          attempts, (System.nanoTime() - start) / 1e9);
        return 0;
      } catch (Exception e) {
        String error = describe(e);
        if (!error.equals(lastError)) {
          System.err.printf("ThriftProbe: attempt %d at %.1f s: %s%n", attempts,
            (System.nanoTime() - start) / 1e9, error);
        }
        lastError = error;
      }
      sleepQuietly(Math.min(PAUSE_MS, Math.max(0, (deadline - System.nanoTime()) / 1_000_000L)));
    }
    System.err.printf("ThriftProbe: %s:%d not ready after %d attempt(s) in %d ms; last error: %s%n",
      host, port, attempts, deadlineMs, lastError);
    return 1;
  }

  /** One attempt on a fresh connection; every socket operation is bounded by timeoutMs. */
  private void roundTrip(String row, int timeoutMs) throws Exception {
    TTransport transport;
    if (http) {
      THttpClient client = new THttpClient("http://" + host + ":" + port + "/");
      client.setConnectTimeout(Math.min(timeoutMs, 3000));
      client.setReadTimeout(timeoutMs);
      transport = client;
    } else {
      TSocket socket = new TSocket(host, port);
      socket.setConnectTimeout(Math.min(timeoutMs, 3000));
      socket.setSocketTimeout(timeoutMs);
      transport = framed ? new TFramedTransport(socket) : socket;
    }
    TProtocol protocol = compact ? new TCompactProtocol(transport) : new TBinaryProtocol(transport);
    transport.open();
    try {
      Hbase.Client client = new Hbase.Client(protocol);
      ensureTable(client);
      byte[] value = ("value-" + row).getBytes(StandardCharsets.UTF_8);
      putCell(client, row, value);
      checkCell(client, row, value);
    } finally {
      transport.close();
    }
  }

  private void ensureTable(Hbase.Client client) throws Exception {
    ColumnDescriptor family = new ColumnDescriptor();
    family.setName(bytes(FAMILY));
    try {
      client.createTable(bytes(table), Collections.singletonList(family));
    } catch (AlreadyExists e) {
      // Created by an earlier attempt or an earlier gateway start: fine.
    }
  }

  private void putCell(Hbase.Client client, String row, byte[] value) throws Exception {
    Mutation put = new Mutation();
    put.setColumn(bytes(COLUMN));
    put.setValue(value);
    Map<ByteBuffer, ByteBuffer> noAttributes = Collections.emptyMap();
    client.mutateRow(bytes(table), bytes(row), Collections.singletonList(put), noAttributes);
  }

  private void checkCell(Hbase.Client client, String row, byte[] expected) throws Exception {
    Map<ByteBuffer, ByteBuffer> noAttributes = Collections.emptyMap();
    List<TRowResult> rows = client.getRow(bytes(table), bytes(row), noAttributes);
    if (rows.isEmpty() || rows.get(0).getColumns() == null) {
      throw new IllegalStateException("getRow returned no row after mutateRow");
    }
    TCell cell = rows.get(0).getColumns().get(bytes(COLUMN));
    if (cell == null || !Arrays.equals(cell.getValue(), expected)) {
      throw new IllegalStateException("getRow returned a different value than was written");
    }
  }

  /** One line per error: IOError messages often carry a whole Java stack trace. */
  private static String describe(Exception e) {
    String message;
    if (e instanceof IOError) {
      message = ((IOError) e).getMessage();
    } else if (e instanceof IllegalArgument) {
      message = ((IllegalArgument) e).getMessage();
    } else {
      message = e.getMessage();
    }
    String text = e.getClass().getSimpleName() + ": " + (message == null ? "" : message.strip());
    int newline = text.indexOf('\n');
    if (newline >= 0) {
      text = text.substring(0, newline);
    }
    return text.length() > 400 ? text.substring(0, 400) + "..." : text;
  }

  private static ByteBuffer bytes(String s) {
    return ByteBuffer.wrap(s.getBytes(StandardCharsets.UTF_8));
  }

  private static void sleepQuietly(long ms) {
    try {
      Thread.sleep(ms);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }
}
