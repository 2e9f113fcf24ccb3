package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// job is one scheduled request: its sequence number in the window, when it
// was due, when the pacer handed it out, and where its outcome goes.
type job struct {
	seq       int
	due       time.Time
	handedOut time.Time
	window    *windowLog
}

// windowLog collects one window's outcomes; each job writes only its own
// index, so the hot path takes no lock.
type windowLog struct {
	latency []float64 // ms from the earlier of due and hand-out (-1: failed)
	service []float64 // ms from the write
	lag     []float64 // ms the hand-out was late against the schedule
	errors  atomic.Int64
	first   string // written by the first failure only, read after done.Wait
	done    sync.WaitGroup
}

func newWindowLog(n int) *windowLog {
	return &windowLog{latency: make([]float64, n), service: make([]float64, n), lag: make([]float64, n)}
}

func (w *windowLog) fail(seq int, format string, args ...any) {
	w.latency[seq] = -1
	if w.errors.Add(1) == 1 {
		w.first = fmt.Sprintf(format, args...)
	}
}

// request is what every send writes: a pre-built HTTP/1.1 head and the body
// around its `$ID` placeholders, so a send only appends the id and the length.
type request struct {
	head  []byte // request line and fixed headers, up to "Content-Length: "
	parts [][]byte
}

func newRequest(spec Spec) (request, string, error) {
	u, err := url.Parse(spec.URL)
	if err != nil || u.Scheme != "http" || u.Host == "" {
		return request{}, "", fmt.Errorf("url must be http://host:port/path, got %q", spec.URL)
	}
	path := u.RequestURI()
	var h bytes.Buffer
	fmt.Fprintf(&h, "POST %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: berth-loadgen\r\n", path, u.Host)
	for k, v := range spec.Headers {
		fmt.Fprintf(&h, "%s: %s\r\n", http.CanonicalHeaderKey(k), v)
	}
	h.WriteString("Content-Length: ")
	host := u.Host
	if u.Port() == "" {
		host += ":80"
	}
	return request{head: h.Bytes(), parts: bytes.Split([]byte(spec.Body), []byte("$ID"))}, host, nil
}

// appendTo appends the whole request with `id` in place of every `$ID`.
func (r request) appendTo(buf []byte, id uint64) []byte {
	idText := strconv.AppendUint(nil, id, 10)
	n := len(idText) * (len(r.parts) - 1)
	for _, p := range r.parts {
		n += len(p)
	}
	buf = append(buf, r.head...)
	buf = strconv.AppendInt(buf, int64(n), 10)
	buf = append(buf, "\r\n\r\n"...)
	for i, p := range r.parts {
		if i > 0 {
			buf = append(buf, idText...)
		}
		buf = append(buf, p...)
	}
	return buf
}

// pool hands jobs to connections: the most recently idle one first, a new
// one only when every open one is busy (up to max), and otherwise a backlog
// that connections drain as they finish — so a slow answer never holds back
// the next send, and the wait in the backlog counts (from the schedule).
type pool struct {
	addr    string
	req     request
	expect  []byte
	timeout time.Duration
	max     int
	ids     atomic.Uint64
	opened  atomic.Int64

	mu      sync.Mutex
	idle    []*conn
	open    int
	backlog []job
}

type conn struct {
	p    *pool
	jobs chan job
	nc   net.Conn
	br   *bufio.Reader
	buf  []byte
	body bytes.Buffer
}

func (p *pool) dispatch(j job) {
	p.mu.Lock()
	if n := len(p.idle); n > 0 {
		c := p.idle[n-1]
		p.idle = p.idle[:n-1]
		p.mu.Unlock()
		c.jobs <- j
		return
	}
	if p.open < p.max {
		p.open++
		p.mu.Unlock()
		c := &conn{p: p, jobs: make(chan job, 1)}
		go c.serve()
		c.jobs <- j
		return
	}
	p.backlog = append(p.backlog, j)
	p.mu.Unlock()
}

// next is the backlog's oldest job, or ok=false after parking c as idle.
func (p *pool) next(c *conn) (j job, ok bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.backlog) > 0 {
		j = p.backlog[0]
		p.backlog = p.backlog[1:]
		return j, true
	}
	p.idle = append(p.idle, c)
	return job{}, false
}

func (c *conn) serve() {
	for j := range c.jobs {
		for ok := true; ok; j, ok = c.p.next(c) {
			c.do(j)
			j.window.done.Done()
		}
	}
}

// do sends one request and reads its answer, recording the outcome.
func (c *conn) do(j job) {
	w := j.window
	if c.nc == nil {
		nc, err := net.DialTimeout("tcp", c.p.addr, c.p.timeout)
		if err != nil {
			w.fail(j.seq, "connect: %v", err)
			return
		}
		c.p.opened.Add(1)
		c.nc, c.br = nc, bufio.NewReaderSize(nc, 16<<10)
	}
	c.buf = c.p.req.appendTo(c.buf[:0], c.p.ids.Add(1))
	sent := time.Now()
	_ = c.nc.SetDeadline(sent.Add(c.p.timeout))
	status, err := c.exchange()
	done := time.Now()
	if err != nil {
		c.nc.Close()
		c.nc = nil
		w.fail(j.seq, "HTTP %d %v %.200s", status, err, c.body.Bytes())
		return
	}
	if status < 200 || status > 299 || !bytes.Contains(c.body.Bytes(), c.p.expect) {
		w.fail(j.seq, "HTTP %d %.200s", status, c.body.Bytes())
		return
	}
	// Late: timed from the schedule (the wait counts). Handed out early
	// (within slack): timed from the hand-out.
	from := j.due
	if j.handedOut.Before(from) {
		from = j.handedOut
	}
	w.latency[j.seq] = ms(done.Sub(from))
	w.service[j.seq] = ms(done.Sub(sent))
}

// exchange writes the request and reads the whole answer into c.body.
func (c *conn) exchange() (int, error) {
	c.body.Reset()
	if _, err := c.nc.Write(c.buf); err != nil {
		return 0, err
	}
	res, err := http.ReadResponse(c.br, nil)
	if err != nil {
		return 0, err
	}
	_, err = io.Copy(&c.body, res.Body)
	res.Body.Close()
	if err == nil && res.Close {
		// A complete answer on a connection the server closes after it.
		c.nc.Close()
		c.nc = nil
	}
	return res.StatusCode, err
}
