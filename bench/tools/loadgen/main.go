// berth-loadgen: the benchmark's open-loop (constant-rate) load generator.
//
// vegeta's attacker sends requests on a fixed schedule (its ConstantPacer),
// starting a new worker whenever all are busy, so a slow answer never delays
// the next send. This wrapper adds what the benchmark needs on top:
//   - latency counted from each request's *scheduled* send time, not from the
//     moment it actually left, so a stall of the generator or of the server
//     shows up in the percentiles instead of being hidden (coordinated
//     omission);
//   - a per-request JSON-RPC id (`$ID` in the body), as a session's requests
//     must not reuse ids;
//   - success only for a 2xx whose body contains the expected text;
//   - a warm-up at the same rate on the same connections before measuring;
//   - the generator's own scheduling lag, reported, so an overloaded
//     generator is visible in the result rather than mistaken for the server;
//   - several measured windows back to back, each with its own percentiles;
//     the headline figures are the window with the median p99, so one
//     window in which the host was slow does not stand for the run, and
//     every window is in the result beside it.
//
// Input: one JSON Spec in argv[1]. Output: one JSON Result line on stdout.
package main

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"sync/atomic"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"
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

const generator = "berth-loadgen (vegeta v12.13.0)"

// slack is how early a request may leave: Go's timers wake with about 1 ms
// granularity when the process is otherwise idle (the poller's timeout is in
// ms), so sleeping until the exact due time would make every send up to 1 ms
// late and add that to every latency. Sending up to slack early and timing an
// early request from its actual send keeps the generator out of the figure.
const slack = time.Millisecond

// pacer is vegeta's constant rate with slack: hit k is due at (k+1)
// intervals; it stops after n hits.
type pacer struct {
	interval time.Duration
	n        uint64
}

func (p pacer) Pace(elapsed time.Duration, hits uint64) (time.Duration, bool) {
	if hits >= p.n {
		return 0, true
	}
	wait := time.Duration(hits+1)*p.interval - elapsed
	if wait <= slack {
		return 0, false
	}
	return wait - slack, false
}

func (p pacer) Rate(time.Duration) float64 { return float64(time.Second) / float64(p.interval) }

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

	var opened atomic.Int64
	dialer := &net.Dialer{KeepAlive: 30 * time.Second}
	transport := &http.Transport{
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			opened.Add(1)
			return dialer.DialContext(ctx, network, addr)
		},
		MaxIdleConnsPerHost: spec.Connections,
		MaxConnsPerHost:     spec.Connections,
		DisableCompression:  true,
		IdleConnTimeout:     90 * time.Second,
	}
	client := &http.Client{Transport: transport, Timeout: time.Duration(spec.TimeoutSeconds * float64(time.Second))}

	header := http.Header{}
	for k, v := range spec.Headers {
		header.Set(k, v)
	}
	parts := bytes.Split([]byte(spec.Body), []byte("$ID"))
	var counter atomic.Uint64
	targeter := func(t *vegeta.Target) error {
		id := strconv.AppendUint(nil, counter.Add(1), 10)
		t.Method = http.MethodPost
		t.URL = spec.URL
		t.Header = header
		t.Body = bytes.Join(parts, id)
		return nil
	}
	expect := []byte(spec.Expect)
	interval := time.Duration(int64(time.Second) / int64(spec.Rate))

	run := func(seconds float64, record bool) Result {
		// A fresh attacker per phase (an attacker stops for good after one
		// attack); the shared client keeps the warm connections.
		atk := vegeta.NewAttacker(vegeta.Client(client), vegeta.Workers(uint64(min(spec.Connections, 64))))
		hits := uint64(float64(spec.Rate) * seconds)
		n := int(hits) + 16
		latencies := make([]float64, 0, n)
		service := make([]float64, 0, n)
		lags := make([]float64, 0, n)
		var r Result
		start := time.Now()
		for res := range atk.Attack(targeter, pacer{interval, hits}, 0, "") {
			r.Sent++
			if !record {
				continue
			}
			scheduled := start.Add(time.Duration(res.Seq+1) * interval)
			// Late: timed from the schedule (the wait counts). Early (within
			// slack): timed from the actual send.
			lag := max(0, res.Timestamp.Sub(scheduled))
			lags = append(lags, ms(lag))
			ok := res.Error == "" && res.Code >= 200 && res.Code < 300 && bytes.Contains(res.Body, expect)
			if !ok {
				r.Errors++
				if r.FirstError == "" {
					r.FirstError = fmt.Sprintf("HTTP %d %s %.200s", res.Code, res.Error, res.Body)
				}
				continue
			}
			latencies = append(latencies, ms(lag+res.Latency))
			service = append(service, ms(res.Latency))
		}
		if !record {
			return r
		}
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
	r.ConnectionsOpened = opened.Load()
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
