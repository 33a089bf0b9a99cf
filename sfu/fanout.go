package sfu

import (
	"runtime"
	"sync"
)

// Parallel fan-out. One goroutine writing a packet to a few hundred
// subscribers spends milliseconds on it (a socket write costs ~4 µs), and the
// last subscriber gets each packet that much later. When the server has more
// than one core, a track with many subscribers splits each packet's
// subscribers into shards and hands all but the first to worker goroutines,
// which write them at the same time; the forwarding goroutine writes the
// first shard and waits for the others before it takes the next batch (the
// packets' buffers are reused). With one core (GOMAXPROCS=1) fan-out stays
// serial: workers would only add hand-offs.

// fanOutShard is the least number of subscribers worth a shard of their own.
const fanOutShard = 64

// fanOutJob is one shard of one batch.
type fanOutJob struct {
	batch *batch
	subs  []*DownTrack
}

// fanOutWorker writes the shards it is given, with its own egress.
type fanOutWorker struct {
	jobs chan fanOutJob
	out  egress
}

// fanOutPool is a track's workers, started as the subscribers grow and
// stopped when the track's forwarding ends. Only the forwarding goroutine
// uses it.
type fanOutPool struct {
	max     int // most workers: GOMAXPROCS-1
	workers []*fanOutWorker
	done    chan struct{} // one receive per finished shard
	wg      sync.WaitGroup
}

func newFanOutPool() *fanOutPool {
	return newFanOutPoolOf(runtime.GOMAXPROCS(0) - 1)
}

// newFanOutPoolOf makes a pool of at most the given number of workers.
func newFanOutPoolOf(workers int) *fanOutPool {
	return &fanOutPool{max: workers, done: make(chan struct{}, workers)}
}

// shards is how many shards n subscribers get.
func (p *fanOutPool) shards(n int) int {
	if p == nil {
		return 1
	}
	return max(1, min(n/fanOutShard, p.max+1))
}

// start makes sure there are k-1 workers.
func (p *fanOutPool) start(k int) {
	for len(p.workers) < k-1 {
		w := &fanOutWorker{jobs: make(chan fanOutJob, 1)}
		p.workers = append(p.workers, w)
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			for job := range w.jobs {
				writeAll(job.subs, job.batch, &w.out)
				p.done <- struct{}{}
			}
		}()
	}
}

// stop ends the workers and waits for them.
func (p *fanOutPool) stop() {
	if p == nil {
		return
	}
	for _, w := range p.workers {
		close(w.jobs)
	}
	p.wg.Wait()
	p.workers = nil
}

// fanOut hands a batch to every subscriber. It takes no lock and, in
// steady state, allocates nothing.
func (t *Track) fanOut(b *batch) {
	subs := *t.subs.Load()
	k := t.pool.shards(len(subs))
	if k == 1 {
		writeAll(subs, b, &t.out)
		return
	}
	t.pool.start(k)
	per := (len(subs) + k - 1) / k
	sent := 0
	for lo := per; lo < len(subs); lo += per {
		t.pool.workers[sent].jobs <- fanOutJob{batch: b, subs: subs[lo:min(lo+per, len(subs))]}
		sent++
	}
	writeAll(subs[:per], b, &t.out)
	for range sent {
		<-t.pool.done
	}
}

// writeAll hands a batch to subs, sending with e.
func writeAll(subs []*DownTrack, b *batch, e *egress) {
	for _, d := range subs {
		d.writeBatch(b, e)
	}
}
