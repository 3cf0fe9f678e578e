// hbpoold from Go (standard library only): put, get, a scanner, an error reply, pipelined ids.
// Usage: HBPOOL_SOCKET=/path/to/hbpoold.sock go run . TABLE   (TABLE has family cf)
package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"reflect"
	"syscall"
	"time"
)

type reply struct {
	ID     int             `json:"id"`
	Result json.RawMessage `json:"result"`
	Error  *struct {
		Code int `json:"code"`
		Data struct {
			Error     string `json:"error"`
			Retryable bool   `json:"retryable"`
		} `json:"data"`
	} `json:"error"`
}

type client struct {
	conn   net.Conn
	in     *bufio.Reader
	nextID int
}

// send writes one request and returns its id; replies are read later with recv.
func (c *client) send(method string, params any) int {
	c.nextID++
	req := map[string]any{"jsonrpc": "2.0", "id": c.nextID, "method": method}
	if params != nil { // params may be left out, but not null
		req["params"] = params
	}
	line, _ := json.Marshal(req)
	if _, err := c.conn.Write(append(line, '\n')); err != nil {
		fail("write: %v", err)
	}
	return c.nextID
}

// recv reads n replies, keyed by id: they come back in the order they complete.
func (c *client) recv(n int) map[int]reply {
	got := map[int]reply{}
	for len(got) < n {
		line, err := c.in.ReadBytes('\n')
		if err != nil {
			fail("read: %v", err)
		}
		var r reply
		if err := json.Unmarshal(line, &r); err != nil {
			fail("bad reply %q: %v", line, err)
		}
		got[r.ID] = r
	}
	return got
}

// ok sends one request and decodes its result into out, failing on an error reply.
func (c *client) ok(method string, params any, out any) {
	id := c.send(method, params)
	r := c.recv(1)[id]
	if r.Error != nil {
		fail("%s: error %d %s", method, r.Error.Code, r.Error.Data.Error)
	}
	if out != nil {
		if err := json.Unmarshal(r.Result, out); err != nil {
			fail("%s: result %s: %v", method, r.Result, err)
		}
	}
}

func fail(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "go example: "+format+"\n", args...)
	os.Exit(1)
}

// dial connects to hbpoold. While its listen queue is full (a burst of clients while it is
// busy), a Unix socket refuses a connect with EAGAIN at once, and Go does not wait: try again,
// 5 ms apart doubling to 100 ms, for up to 5 s.
func dial(sock string) (net.Conn, error) {
	deadline := time.Now().Add(5 * time.Second)
	for delay := 5 * time.Millisecond; ; delay = min(2*delay, 100*time.Millisecond) {
		conn, err := dial(sock)
		if err == nil || !errors.Is(err, syscall.EAGAIN) || time.Now().After(deadline) {
			return conn, err
		}
		time.Sleep(delay)
	}
}

func main() {
	table := os.Getenv("HBPOOL_TABLE")
	if len(os.Args) > 1 {
		table = os.Args[1]
	}
	sock := os.Getenv("HBPOOL_SOCKET")
	if sock == "" || table == "" {
		fmt.Fprintln(os.Stderr, "usage: HBPOOL_SOCKET=... main TABLE")
		os.Exit(2)
	}
	conn, err := net.Dial("unix", sock)
	if err != nil {
		fail("connect: %v", err)
	}
	defer conn.Close()
	c := &client{conn: conn, in: bufio.NewReader(conn)}

	var pong string
	if c.ok("ping", nil, &pong); pong != "pong" {
		fail("ping: %q", pong)
	}
	// Pipelined: both puts are written before either reply is read.
	ids := []int{
		c.send("put", map[string]any{"table": table, "row": "g1", "data": map[string]string{"cf:lang": "go"}}),
		c.send("put", map[string]any{"table": table, "row": "g2", "data": map[string]string{"cf:lang": "gopher"}}),
	}
	replies := c.recv(2)
	for _, id := range ids {
		if replies[id].Error != nil {
			fail("put %d: %s", id, replies[id].Error.Data.Error)
		}
	}
	fmt.Println("put: g1 cf:lang=go, g2 cf:lang=gopher (pipelined)")
	var row map[string]string
	if c.ok("row", map[string]any{"table": table, "row": "g1"}, &row); row["cf:lang"] != "go" {
		fail("get g1: %v", row)
	}
	fmt.Println("get: g1 cf:lang=" + row["cf:lang"])

	var open struct{ Scanner int }
	c.ok("scanner_open", map[string]any{"table": table, "row_prefix": "g"}, &open)
	var rows [][]any
	for {
		var batch struct {
			Rows [][]any
			Done bool
		}
		c.ok("scanner_next", map[string]any{"scanner": open.Scanner, "count": 1}, &batch)
		rows = append(rows, batch.Rows...)
		if batch.Done {
			break
		}
	}
	c.ok("scanner_close", map[string]any{"scanner": open.Scanner}, nil)
	want := [][]any{{"g1", map[string]any{"cf:lang": "go"}}, {"g2", map[string]any{"cf:lang": "gopher"}}}
	if !reflect.DeepEqual(rows, want) {
		fail("scan: %v", rows)
	}
	fmt.Println("scan: g1=go g2=gopher")

	id := c.send("row", map[string]any{"table": table + "_missing", "row": "g1"})
	bad := c.recv(1)[id]
	if bad.Error == nil || bad.Error.Data.Error != "hbase_io_error" {
		fail("expected hbase_io_error, got %+v", bad)
	}
	fmt.Printf("error: row of a missing table: %s (retryable %v)\n", bad.Error.Data.Error,
		bad.Error.Data.Retryable)

	c.ok("delete", map[string]any{"table": table, "row": "g1"}, nil)
	c.ok("delete", map[string]any{"table": table, "row": "g2"}, nil)
	fmt.Println("deleted g1, g2")
}
