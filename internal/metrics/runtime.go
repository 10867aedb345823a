package metrics

import (
	"os"
	"runtime"
	rtmetrics "runtime/metrics"
	"strconv"
	"strings"
	"time"
)

// processStart is when the process started (near enough: when the
// package was initialised).
var processStart = time.Now()

// registerRuntime adds the Go runtime's basics, read at each scrape, and
// on Linux the process's open files and resident memory.
func registerRuntime(r *Registry) {
	read := func(name string) func() float64 {
		return func() float64 {
			s := []rtmetrics.Sample{{Name: name}}
			rtmetrics.Read(s)
			switch s[0].Value.Kind() {
			case rtmetrics.KindUint64:
				return float64(s[0].Value.Uint64())
			case rtmetrics.KindFloat64:
				return s[0].Value.Float64()
			}
			return 0
		}
	}
	r.NewGaugeFunc("go_goroutines", "Number of goroutines that currently exist.", read("/sched/goroutines:goroutines"))
	r.NewGaugeFunc("go_gomaxprocs", "The Go scheduler's GOMAXPROCS.", read("/sched/gomaxprocs:threads"))
	r.NewGaugeFunc("go_memstats_heap_alloc_bytes", "Bytes of heap memory occupied by live and not yet collected objects.", read("/memory/classes/heap/objects:bytes"))
	r.NewGaugeFunc("go_memstats_sys_bytes", "Bytes of memory obtained from the operating system by the Go runtime.", read("/memory/classes/total:bytes"))
	r.NewGaugeFunc("go_gc_heap_goal_bytes", "Heap size target for the end of the GC cycle.", read("/gc/heap/goal:bytes"))
	r.NewCounterFunc("go_gc_heap_allocs_bytes_total", "Bytes allocated on the heap since the process started.", read("/gc/heap/allocs:bytes"))
	r.NewCounterFunc("go_gc_cycles_total", "Completed GC cycles.", read("/gc/cycles/total:gc-cycles"))
	r.NewGauge("go_info", "Information about the Go environment.", "version").With(runtime.Version()).Set(1)
	r.NewGaugeFunc("process_start_time_seconds", "Start time of the process since the Unix epoch, in seconds.", func() float64 {
		return float64(processStart.UnixNano()) / 1e9
	})
	if _, err := os.Stat("/proc/self/fd"); err == nil {
		r.NewGaugeFunc("process_open_fds", "Number of open file descriptors.", func() float64 {
			fds, _ := os.ReadDir("/proc/self/fd")
			return float64(len(fds))
		})
	}
	if _, err := os.Stat("/proc/self/statm"); err == nil {
		page := float64(os.Getpagesize())
		r.NewGaugeFunc("process_resident_memory_bytes", "Resident memory size in bytes.", func() float64 {
			b, _ := os.ReadFile("/proc/self/statm")
			if f := strings.Fields(string(b)); len(f) > 1 {
				n, _ := strconv.ParseFloat(f[1], 64)
				return n * page
			}
			return 0
		})
	}
}
