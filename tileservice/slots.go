package tileservice

import (
	"context"

	"github.com/udftiles/udftiles/layer"
)

// renderSlots bound the handler runs at once, with a bounded queue behind
// them: past it, a render is refused at once rather than waiting ever longer.
type renderSlots struct {
	run   chan struct{}
	queue chan struct{}
}

func newRenderSlots(runs, queue int) *renderSlots {
	return &renderSlots{run: make(chan struct{}, runs), queue: make(chan struct{}, runs+queue)}
}

// acquire takes a slot, waiting in the queue while there is room in it; a
// full queue is Unavailable (503 with Retry-After over HTTP).
func (rs *renderSlots) acquire(ctx context.Context) (func(), error) {
	select {
	case rs.queue <- struct{}{}:
	default:
		return nil, layer.Errorf(layer.Unavailable, "the server is rendering as much as it can; retry shortly")
	}
	select {
	case rs.run <- struct{}{}:
		return func() { <-rs.run; <-rs.queue }, nil
	case <-ctx.Done():
		<-rs.queue
		return nil, layer.Errorf(layer.Timeout, "waited for a render slot: %v", ctx.Err())
	}
}
