package loadgen

import (
	"math/bits"
	"sync/atomic"
	"time"
)

// histogram counts durations in log-linear buckets: exact below 128 ns,
// then 64 buckets per power of two, so a quantile is off by less than
// 1/64 (1.6%) of its value. Values are capped at 2^40 ns (18 minutes),
// longer than any run. Record is goroutine-safe and lock-free; a hot
// histogram is best split into shards (see shardedHistogram) so that
// receivers on different cores do not fight over its cache lines.
type histogram struct {
	counts [histBuckets]atomic.Uint64
	n      atomic.Uint64
	max    atomic.Int64
}

const (
	histSubBits = 7
	histSub     = 1 << histSubBits // exact values below this
	histHalf    = histSub / 2      // buckets per power of two above it
	histMaxBits = 40
	histBuckets = histSub + (histMaxBits-histSubBits)*histHalf
)

func bucketOf(v uint64) int {
	if v < histSub {
		return int(v)
	}
	e := bits.Len64(v) - histSubBits // at least 1
	return histSub + (e-1)*histHalf + int(v>>e) - histHalf
}

// bucketHigh is the largest value bucket i holds.
func bucketHigh(i int) uint64 {
	if i < histSub {
		return uint64(i)
	}
	e := (i-histSub)/histHalf + 1
	m := uint64((i-histSub)%histHalf + histHalf)
	return (m+1)<<e - 1
}

func (h *histogram) record(d time.Duration) {
	v := max(int64(d), 0)
	if v >= 1<<histMaxBits {
		v = 1<<histMaxBits - 1
	}
	h.counts[bucketOf(uint64(v))].Add(1)
	h.n.Add(1)
	for {
		m := h.max.Load()
		if v <= m || h.max.CompareAndSwap(m, v) {
			return
		}
	}
}

func (h *histogram) merge(o *histogram) {
	for i := range o.counts {
		if c := o.counts[i].Load(); c > 0 {
			h.counts[i].Add(c)
		}
	}
	h.n.Add(o.n.Load())
	if m := o.max.Load(); m > h.max.Load() {
		h.max.Store(m)
	}
}

// quantile returns the smallest bucket bound below which a fraction q of
// the values fall, never more than the largest value recorded; 0 for an
// empty histogram.
func (h *histogram) quantile(q float64) time.Duration {
	n := h.n.Load()
	if n == 0 {
		return 0
	}
	rank := uint64(q*float64(n) + 0.5)
	rank = min(max(rank, 1), n)
	var seen uint64
	for i := range h.counts {
		seen += h.counts[i].Load()
		if seen >= rank {
			return time.Duration(min(int64(bucketHigh(i)), h.max.Load()))
		}
	}
	return time.Duration(h.max.Load())
}

// shardedHistogram spreads records over a few histograms by a caller's
// key (a receiver's index) and sums them on read.
type shardedHistogram [16]histogram

func (s *shardedHistogram) record(key int, d time.Duration) { s[key%len(s)].record(d) }

func (s *shardedHistogram) sum() *histogram {
	var h histogram
	for i := range s {
		h.merge(&s[i])
	}
	return &h
}
