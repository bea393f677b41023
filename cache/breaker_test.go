package cache

import (
	"errors"
	"log/slog"
	"testing"
	"time"
)

// TestBreakerIgnoresStaleOutcomes: once the breaker is open, only its probe's
// outcome changes it. Requests that were under way when it opened (concurrent
// reads, background writes) neither push the retry further away nor close it.
func TestBreakerIgnoresStaleOutcomes(t *testing.T) {
	b := &breaker{log: slog.New(slog.DiscardHandler)}
	down := errors.New("connection refused")
	// Eight requests under way when S3 goes away.
	for range 8 {
		if ok, probe := b.allow(); !ok || probe {
			t.Fatalf("closed breaker: allow() = %v, %v", ok, probe)
		}
	}
	for range 8 {
		b.failure(down, false)
	}
	if !b.open || b.cooldown != breakerMin || time.Until(b.openTill) > breakerMin {
		t.Fatalf("after 8 failures of requests begun while closed: open %v, cooldown %s, retry in %s; want open, %s",
			b.open, b.cooldown, time.Until(b.openTill), breakerMin)
	}
	b.success(false) // a write begun before the breaker opened
	if !b.open {
		t.Fatal("a request begun before the breaker opened closed it")
	}

	b.openTill = time.Now() // the cooldown is over
	ok, probe := b.allow()
	if !ok || !probe {
		t.Fatalf("after the cooldown: allow() = %v, %v; want the probe", ok, probe)
	}
	if ok, _ := b.allow(); ok {
		t.Fatal("a second request allowed while the probe is under way")
	}
	b.failure(down, true)
	if !b.open || b.probing || b.cooldown != 2*breakerMin {
		t.Fatalf("after a failed probe: open %v, probing %v, cooldown %s; want open, %s", b.open, b.probing, b.cooldown, 2*breakerMin)
	}
	b.openTill = time.Now()
	if ok, probe := b.allow(); !ok || !probe {
		t.Fatalf("second probe: allow() = %v, %v", ok, probe)
	}
	b.success(true)
	if b.open || b.fails != 0 {
		t.Fatalf("after a successful probe: open %v, fails %d", b.open, b.fails)
	}
}
