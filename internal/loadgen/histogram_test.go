package loadgen

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

func TestBucketBounds(t *testing.T) {
	prevHigh := int64(-1)
	for i := range histBuckets {
		high := int64(bucketHigh(i))
		if high <= prevHigh {
			t.Fatalf("bucket %d ends at %d, not after bucket %d's %d", i, high, i-1, prevHigh)
		}
		// Both ends of every bucket map back to it.
		for _, v := range []int64{prevHigh + 1, high} {
			if got := bucketOf(uint64(v)); got != i {
				t.Fatalf("bucketOf(%d) = %d, want %d", v, got, i)
			}
		}
		prevHigh = high
	}
	if prevHigh != 1<<histMaxBits-1 {
		t.Fatalf("the last bucket ends at %d, want 2^%d-1", prevHigh, histMaxBits)
	}
}

func TestQuantilesWithinPrecision(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var h shardedHistogram
	var vals []time.Duration
	for i := range 100000 {
		// Log-uniform from 1 µs to 1 s, as latencies spread.
		v := time.Duration(float64(time.Microsecond) * math.Pow(10, rng.Float64()*6))
		vals = append(vals, v)
		h.record(i, v)
	}
	slices.Sort(vals)
	sum := h.sum()
	for _, q := range []float64{0.5, 0.9, 0.99, 0.999, 1} {
		want := vals[min(int(q*float64(len(vals))+0.5), len(vals))-1]
		got := sum.quantile(q)
		if diff := float64(got-want) / float64(want); diff < -1.0/64 || diff > 1.0/64 {
			t.Errorf("p%g = %s, want %s within 1/64", q*100, got, want)
		}
	}
	if time.Duration(sum.max.Load()) != vals[len(vals)-1] {
		t.Errorf("max = %d, want %s", sum.max.Load(), vals[len(vals)-1])
	}
	var empty histogram
	if empty.quantile(0.5) != 0 {
		t.Error("an empty histogram has a quantile")
	}
}
