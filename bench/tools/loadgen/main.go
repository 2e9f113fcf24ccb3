// berth-loadgen: the benchmark's open-loop (constant-rate) load generator.
//
// It sends requests on a fixed schedule over HTTP/1.1 keep-alive
// connections (conns.go): each request is handed to the connection that
// went idle last, a new connection opens only when every open one is busy
// (up to Connections), and beyond that requests wait in a backlog, so a slow
// answer never delays the next send. On top of that:
//   - latency counted from each request's *scheduled* send time, not from the
//     moment it actually left, so a stall of the generator or of the server
//     shows up in the percentiles instead of being hidden (coordinated
//     omission);
//   - a per-request JSON-RPC id (`$ID` in the body), as a session's requests
//     must not reuse ids;
//   - success only for a 2xx whose body contains the expected text (answers
//     are read with net/http's response parser: Content-Length, chunked, or
//     an answer the server ends by closing the connection);
//   - a warm-up at the same rate on the same connections before measuring;
//   - the generator's own scheduling lag, reported, so an overloaded
//     generator is visible in the result rather than mistaken for the server;
//   - several measured windows back to back, each with its own percentiles;
//     the headline figures are the window with the median p99, so one
//     window in which the host was slow does not stand for the run, and
//     every window is in the result beside it.
//
// Why not net/http's client (or vegeta, which this replaced, on top of it):
// its transport runs two goroutines per connection and hands every answer
// across channels, and against the raw node:http echo at 5,400 requests/s
// that machinery alone gave a p99 of 1.6–1.8 ms where this gives 0.7–0.8 ms.
//
// Input: one JSON Spec in argv[1]. Output: one JSON Result line on stdout.
package main

import (
	"cmp"
	"encoding/json"
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"slices"
	"time"
)

// Spec is what one run does.
type Spec struct {
	URL             string            `json:"url"`
	Headers         map[string]string `json:"headers"`
	Body            string            `json:"body"`
	Rate            int               `json:"rate"`
	DurationSeconds float64           `json:"durationSeconds"`
	WarmupSeconds   float64           `json:"warmupSeconds"`
	Connections     int               `json:"connections"`
	Expect          string            `json:"expect"`
	TimeoutSeconds  float64           `json:"timeoutSeconds"`
	// Windows: measured windows of DurationSeconds each, back to back (default 1).
	Windows int `json:"windows"`
}

// Window is one measured window's counts and latencies, in milliseconds.
type Window struct {
	Sent   int     `json:"sent"`
	Errors int     `json:"errors"`
	P50    float64 `json:"p50"`
	P95    float64 `json:"p95"`
	P99    float64 `json:"p99"`
	P999   float64 `json:"p999"`
	Max    float64 `json:"max"`
	// ServiceP99 is the p99 measured from the actual send (what a generator
	// without the correction would report).
	ServiceP99 float64 `json:"serviceP99"`
	// LagP99: how late the generator sent, against the schedule.
	LagP99 float64 `json:"lagP99"`
}

// Result is one run's outcome (its fields flattened in the JSON). Sent,
// Errors, Total, RequestsPerSecond and LagMax cover every window; the
// percentiles are those of the window with the median p99 (Median, an index
// into Windows).
type Result struct {
	Window
	RequestsPerSecond float64 `json:"requestsPerSecond"`
	Total             int     `json:"total"`
	// LagMax: the latest the generator sent, against the schedule.
	LagMax float64 `json:"lagMax"`
	// Connections actually opened (the pool grows only when all are busy).
	ConnectionsOpened int64    `json:"connectionsOpened"`
	FirstError        string   `json:"firstError,omitempty"`
	Generator         string   `json:"generator"`
	Windows           []Window `json:"windows"`
	Median            int      `json:"median"`
}

// generator names this program in the result (the 2: it no longer wraps vegeta).
var generator = "berth-loadgen 2 (" + runtime.Version() + ", HTTP/1.1 keep-alive)"

// slack is how early a request may leave: Go's timers wake with about 1 ms
// granularity when the process is otherwise idle (the poller's timeout is in
// ms), so sleeping until the exact due time would make every send up to 1 ms
// late and add that to every latency. Sending up to slack early and timing an
// early request from its actual send keeps the generator out of the figure.
const slack = time.Millisecond

func fail(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "berth-loadgen: "+format+"\n", args...)
	os.Exit(2)
}

// pct is the p-th percentile of sorted values (same rule as the closed-loop worker).
func pct(sorted []float64, p float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	i := int(p / 100 * float64(len(sorted)))
	return sorted[min(i, len(sorted)-1)]
}

func ms(d time.Duration) float64 { return float64(d) / 1e6 }

func main() {
	if len(os.Args) < 2 {
		fail("usage: berth-loadgen '<json spec>'")
	}
	var spec Spec
	if err := json.Unmarshal([]byte(os.Args[1]), &spec); err != nil {
		fail("bad spec: %v", err)
	}
	if spec.URL == "" || spec.Rate <= 0 || spec.DurationSeconds <= 0 {
		fail("spec needs url, rate > 0 and durationSeconds > 0")
	}
	if spec.Connections <= 0 {
		spec.Connections = 64
	}
	if spec.Windows <= 0 {
		spec.Windows = 1
	}
	if spec.TimeoutSeconds <= 0 {
		spec.TimeoutSeconds = 30
	}
	// Fewer, larger collections: the generator's own pauses stay rare.
	debug.SetGCPercent(400)

	req, addr, err := newRequest(spec)
	if err != nil {
		fail("%v", err)
	}
	p := &pool{addr: addr, req: req, expect: []byte(spec.Expect), timeout: time.Duration(spec.TimeoutSeconds * float64(time.Second)), max: min(spec.Connections, 64)}
	interval := time.Duration(int64(time.Second) / int64(spec.Rate))

	run := func(seconds float64, record bool) Result {
		hits := int(float64(spec.Rate) * seconds)
		w := newWindowLog(hits)
		w.done.Add(hits)
		start := time.Now()
		for seq := range hits {
			due := start.Add(time.Duration(seq+1) * interval)
			if wait := time.Until(due); wait > slack {
				time.Sleep(wait - slack)
			}
			now := time.Now()
			w.lag[seq] = ms(max(0, now.Sub(due)))
			p.dispatch(job{seq: seq, due: due, handedOut: now, window: w})
		}
		w.done.Wait()
		r := Result{}
		r.Sent = hits
		if !record {
			return r
		}
		latencies := make([]float64, 0, hits)
		service := make([]float64, 0, hits)
		for i, l := range w.latency {
			if l >= 0 {
				latencies = append(latencies, l)
				service = append(service, w.service[i])
			}
		}
		lags := w.lag
		r.Errors = int(w.errors.Load())
		r.FirstError = w.first
		slices.Sort(latencies)
		slices.Sort(service)
		slices.Sort(lags)
		r.Total = len(latencies)
		r.RequestsPerSecond = float64(r.Total) / seconds
		r.P50, r.P95, r.P99, r.P999 = pct(latencies, 50), pct(latencies, 95), pct(latencies, 99), pct(latencies, 99.9)
		if len(latencies) > 0 {
			r.Max = latencies[len(latencies)-1]
		}
		r.ServiceP99 = pct(service, 99)
		r.LagP99 = pct(lags, 99)
		if len(lags) > 0 {
			r.LagMax = lags[len(lags)-1]
		}
		return r
	}

	if spec.WarmupSeconds > 0 {
		run(spec.WarmupSeconds, false)
		runtime.GC()
	}
	windows := make([]Result, spec.Windows)
	for i := range windows {
		windows[i] = run(spec.DurationSeconds, true)
	}
	r := combine(windows, spec.DurationSeconds)
	r.ConnectionsOpened = p.opened.Load()
	r.Generator = generator
	out, _ := json.Marshal(r)
	os.Stdout.Write(append(out, '\n'))
}

// combine sums the windows' counts and takes the percentiles of the window
// with the median p99 (the lower middle one of an even count).
func combine(windows []Result, seconds float64) Result {
	order := make([]int, len(windows))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int { return cmp.Compare(windows[a].P99, windows[b].P99) })
	median := order[(len(order)-1)/2]
	r := windows[median]
	r.Median = median
	r.Sent, r.Total, r.Errors, r.LagMax, r.FirstError = 0, 0, 0, 0, ""
	for _, w := range windows {
		r.Sent += w.Sent
		r.Total += w.Total
		r.Errors += w.Errors
		r.LagMax = max(r.LagMax, w.LagMax)
		if r.FirstError == "" {
			r.FirstError = w.FirstError
		}
		r.Windows = append(r.Windows, w.Window)
	}
	r.RequestsPerSecond = float64(r.Total) / (seconds * float64(len(windows)))
	return r
}
