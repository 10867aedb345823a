package pay

import (
	"container/heap"
	"context"
	"sync"
	"time"
)

// scheduler runs tasks at (real) instants with a bounded pool of workers.
// Tasks scheduled before Start wait for it; Stop cancels the running ones
// and keeps the waiting ones for a later Start.
type scheduler struct {
	mu      sync.Mutex
	h       taskHeap
	seq     uint64
	wake    chan struct{}
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	workers int
	running bool
}

type task struct {
	at  time.Time
	seq uint64
	run func(ctx context.Context)
}

type taskHeap []*task

func (h taskHeap) Len() int { return len(h) }
func (h taskHeap) Less(i, j int) bool {
	if h[i].at.Equal(h[j].at) {
		return h[i].seq < h[j].seq
	}
	return h[i].at.Before(h[j].at)
}
func (h taskHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *taskHeap) Push(x any)   { *h = append(*h, x.(*task)) }
func (h *taskHeap) Pop() any {
	old := *h
	t := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	return t
}

func newScheduler(workers int) *scheduler {
	if workers <= 0 {
		workers = 8
	}
	return &scheduler{wake: make(chan struct{}, 1), workers: workers}
}

// after runs f once d has passed (and the scheduler runs).
func (s *scheduler) after(d time.Duration, f func(ctx context.Context)) {
	s.mu.Lock()
	s.seq++
	heap.Push(&s.h, &task{at: time.Now().Add(d), seq: s.seq, run: f})
	s.mu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// pending is the number of tasks waiting.
func (s *scheduler) pending() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.h)
}

func (s *scheduler) start(ctx context.Context) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.running {
		return
	}
	s.running = true
	ctx, s.cancel = context.WithCancel(ctx)
	work := make(chan *task)
	s.wg.Add(1 + s.workers)
	go s.loop(ctx, work)
	for range s.workers {
		go func() {
			defer s.wg.Done()
			for {
				select {
				case <-ctx.Done():
					return
				case t := <-work:
					t.run(ctx)
				}
			}
		}()
	}
}

func (s *scheduler) stop() {
	s.mu.Lock()
	cancel := s.cancel
	s.cancel = nil
	s.mu.Unlock()
	if cancel == nil {
		return
	}
	cancel()
	s.wg.Wait()
	s.mu.Lock()
	s.running = false
	s.mu.Unlock()
}

func (s *scheduler) loop(ctx context.Context, work chan<- *task) {
	defer s.wg.Done()
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		var next *task
		wait := time.Hour
		s.mu.Lock()
		if len(s.h) > 0 {
			if d := time.Until(s.h[0].at); d <= 0 {
				next = heap.Pop(&s.h).(*task)
			} else {
				wait = d
			}
		}
		s.mu.Unlock()
		if next != nil {
			select {
			case work <- next:
			case <-ctx.Done():
				s.mu.Lock()
				heap.Push(&s.h, next) // keep it for a later start
				s.mu.Unlock()
				return
			}
			continue
		}
		timer.Reset(wait)
		select {
		case <-ctx.Done():
			return
		case <-s.wake:
		case <-timer.C:
		}
		if !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
	}
}
