package audit

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/keyless-dev/keyless/internal/store"
)

// Sink records events. Record returns once the event is durable: a caller answers its
// client only after its event is committed, so no answered request's event is lost.
type Sink interface {
	Record(ctx context.Context, e *Event) error
}

// Appender is the part of the store the writer needs. AppendAudit must not keep the
// events' Data after it returns: the writer reuses those buffers.
type Appender interface {
	AppendAudit(ctx context.Context, events []store.AuditEvent) error
}

// TrustedAppender is an Appender that can also store events without checking that each
// one's data is JSON. The writer uses it when the store offers it: it marshals every
// event itself (Event.AppendJSON, held to encoding/json by tests and a fuzz target), so
// checking the bytes again in the store would only cost CPU on every call.
type TrustedAppender interface {
	Appender
	AppendTrustedAudit(ctx context.Context, events []store.AuditEvent) error
}

// DeferredSink is a Sink that can also record events whose callers do not wait for
// their durable commit (Writer.RecordDeferred).
type DeferredSink interface {
	Sink
	RecordDeferred(ctx context.Context, e *Event) error
}

// ErrBacklog is returned by RecordDeferred while the store has failed to take the
// deferred events already recorded (MaxUnstoredBytes of them): the caller must refuse its
// request, as it would if a durable event could not be committed.
var ErrBacklog = errors.New("audit: the store is not taking events")

// ErrClosed is returned by Record after the writer has stopped.
var ErrClosed = errors.New("audit: writer stopped")

// Writer is the Sink of a node: it group-commits events — every event that arrives
// while a commit is in progress joins the next one — to the store and, as JSON lines,
// to a file (data_dir/audit.jsonl), synced before anyone is answered.
type Writer struct {
	append   func(ctx context.Context, events []store.AuditEvent) error
	file     *os.File // may be nil
	log      *slog.Logger
	maxBatch int

	in      chan *pending
	stopped chan struct{}
	once    sync.Once

	// pendings recycles what one Record needs (its marshalled line, its done channel):
	// every STS call records an event of ~2.5 KB, and allocating it afresh was one of
	// the larger shares of keylessd's garbage.
	pendings sync.Pool // *pending
	// events and buf are reused by commit, which only Run's goroutine calls.
	events []store.AuditEvent
	buf    []byte

	// retry holds deferred events whose commit failed (the store was unreachable); Run
	// commits them on their own, every retryEvery, and after any commit that succeeds.
	// Only Run's goroutine touches it.
	retry []*pending
	// retryChunk is how many retried events one store call gets: halved after a failure,
	// doubled after a success, at most maxBatch.
	retryChunk int
	// waiting is commit's list of the callers to answer (reused).
	waiting []*pending
	// unstored counts the bytes of deferred events written to the file but not yet in
	// the store; RecordDeferred refuses new ones at maxUnstored, which keeps every
	// unstored line within the tail RecoverTail reads on the next start.
	unstored    atomic.Int64
	maxUnstored int64
	// written counts the file's bytes (its size at open plus every line written since),
	// and oldest is the end offset of the oldest deferred event that failed to be
	// stored, or -1: RecordDeferred also refuses once the file has grown maxUnstored
	// past it, so a stuck event never leaves RecoverTail's window.
	written atomic.Int64
	oldest  atomic.Int64
}

type pending struct {
	ev   store.AuditEvent
	line []byte
	done chan error
	// deferred: nobody waits for this event (RecordDeferred); its line is in the file
	// already, and Run recycles it after its commit.
	deferred bool
	// end is where the file ended once a deferred event's line was written (about:
	// concurrent writers append in any order): how far back RecoverTail must read.
	end int64
}

// DeferWindow bounds how long a deferred event (RecordDeferred) waits for its group
// commit when no caller is waiting for one: the batch is committed as soon as an event
// with a waiting caller joins it, DeferredBatch events are queued, or the window ends.
const (
	DeferWindow   = 10 * time.Millisecond
	DeferredBatch = 256
)

// lineCap is the initial capacity of a line buffer: an STS event is 2-2.5 KB.
const lineCap = 4096

// WriterOptions configure a Writer.
type WriterOptions struct {
	Store Appender
	// File is the JSON-lines file events are appended to; empty for none.
	File   string
	Logger *slog.Logger
	// MaxBatch bounds how many events one commit holds (default 512).
	MaxBatch int
	// MaxUnstoredBytes bounds the deferred events (bytes of their lines) written but not
	// yet stored, e.g. while the store is unreachable; at the bound RecordDeferred fails.
	// Default RecoverBytes/2, so that RecoverTail's window covers all of them.
	MaxUnstoredBytes int64
}

// NewWriter opens the JSON-lines file (mode 0600, append) and returns a writer. Run
// must be running for Record to return.
func NewWriter(opts WriterOptions) (*Writer, error) {
	if opts.Store == nil {
		return nil, errors.New("audit: writer without a store")
	}
	w := &Writer{log: opts.Logger, maxBatch: opts.MaxBatch,
		in: make(chan *pending, 4096), stopped: make(chan struct{})}
	w.append = opts.Store.AppendAudit
	if t, ok := opts.Store.(TrustedAppender); ok {
		w.append = t.AppendTrustedAudit
	}
	if w.log == nil {
		w.log = slog.New(slog.DiscardHandler)
	}
	if w.maxBatch <= 0 {
		w.maxBatch = 512
	}
	w.oldest.Store(-1)
	w.retryChunk = w.maxBatch
	w.maxUnstored = opts.MaxUnstoredBytes
	if w.maxUnstored <= 0 {
		w.maxUnstored = RecoverBytes / 2
	}
	if opts.File != "" {
		f, err := os.OpenFile(opts.File, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
		if err != nil {
			return nil, fmt.Errorf("opening audit log: %w", err)
		}
		if err := endLine(opts.File, f); err != nil {
			f.Close()
			return nil, err
		}
		fi, err := f.Stat()
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("opening audit log: %w", err)
		}
		w.written.Store(fi.Size())
		w.file = f
	}
	return w, nil
}

// endLine ends the file with a newline if its last line is cut (a write a power loss or
// a full disk interrupted), so the next line is not glued to it.
func endLine(path string, w *os.File) error {
	r, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("opening audit log: %w", err)
	}
	defer r.Close()
	fi, err := r.Stat()
	if err != nil || fi.Size() == 0 {
		return err
	}
	last := make([]byte, 1)
	if _, err := r.ReadAt(last, fi.Size()-1); err != nil {
		return fmt.Errorf("reading audit log: %w", err)
	}
	if last[0] != '\n' {
		if _, err := w.Write([]byte{'\n'}); err != nil {
			return fmt.Errorf("writing audit log: %w", err)
		}
	}
	return nil
}

// Record marshals e (on the caller's goroutine) and waits until its batch is committed.
func (w *Writer) Record(ctx context.Context, e *Event) error {
	p, err := w.prepare(e)
	if err != nil {
		return err
	}
	answered, err := w.wait(ctx, p)
	if answered {
		// Run is done with p: its line is in the store and the file (or refused).
		w.recycle(p)
	}
	return err
}

// RecordDeferred records an event whose caller does not wait for its durable commit:
// keylessd uses it for allowed S3 reads, which change nothing (docs/audit.md). Before it
// returns, the event's line is appended to the file (page cache), so it survives the
// process being killed, and a node that restarts copies the file's tail into the store
// (RecoverTail); the group commit that stores it and fsyncs the file follows within
// DeferWindow. Without a file the event is only queued for the store.
//
// If it returns an error after the line was written (ctx ended, the writer stopped), the
// line stays in the file and RecoverTail stores the event on the next start, although
// its request was refused: the log then holds a read that was not served.
func (w *Writer) RecordDeferred(ctx context.Context, e *Event) error {
	select {
	case <-w.stopped:
		return ErrClosed
	default:
	}
	if n := w.unstored.Load(); n >= w.maxUnstored {
		return fmt.Errorf("%w: %d bytes of deferred events wait for the store", ErrBacklog, n)
	}
	if o := w.oldest.Load(); o >= 0 && w.written.Load()-o >= w.maxUnstored {
		return fmt.Errorf("%w: the oldest deferred event waiting for the store is %d bytes back in the file",
			ErrBacklog, w.written.Load()-o)
	}
	p, err := w.prepare(e)
	if err != nil {
		return err
	}
	p.deferred = true
	size := int64(len(p.line))
	w.unstored.Add(size)
	if w.file != nil {
		n, err := w.file.Write(p.line)
		p.end = w.written.Add(int64(n))
		if err != nil {
			w.unstored.Add(-size)
			w.recycle(p)
			return fmt.Errorf("writing audit log file: %w", err)
		}
	}
	select {
	case w.in <- p:
		return nil
	case <-w.stopped:
	case <-ctx.Done():
	}
	w.unstored.Add(-size)
	w.recycle(p)
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return ErrClosed
}

// prepare marshals e into a pending (recycled when possible).
func (w *Writer) prepare(e *Event) (*pending, error) {
	p, _ := w.pendings.Get().(*pending)
	if p == nil {
		p = &pending{line: make([]byte, 0, lineCap), done: make(chan error, 1)}
	}
	line, err := e.AppendJSON(p.line[:0])
	if err != nil {
		w.pendings.Put(p)
		return nil, fmt.Errorf("marshalling audit event: %w", err)
	}
	line = append(line, '\n')
	decision := store.DecisionAllow
	if e.ErrorCode != "" || (e.Keyless.Decision != nil && e.Keyless.Decision.Effect == Deny) {
		decision = store.DecisionDeny
	}
	p.ev = store.AuditEvent{ID: e.EventID, Time: e.time, Name: e.EventName, Source: e.EventSource,
		Role: e.role, Subject: e.subject, SessionID: e.Keyless.SessionID, Decision: decision, Data: line[:len(line)-1]}
	p.line = line
	p.deferred = false
	return p, nil
}

func (w *Writer) recycle(p *pending) {
	p.ev = store.AuditEvent{}
	p.deferred = false
	w.pendings.Put(p)
}

// wait queues p and waits for its commit. answered says whether Run has answered p (so
// p may be reused); when the caller gave up first, Run may still be using it.
func (w *Writer) wait(ctx context.Context, p *pending) (answered bool, err error) {
	select {
	case <-w.stopped:
		return true, ErrClosed
	default:
	}
	select {
	case w.in <- p:
	case <-w.stopped:
		return true, ErrClosed
	case <-ctx.Done():
		return true, ctx.Err()
	}
	select {
	case err := <-p.done:
		return true, err
	case <-w.stopped:
		// Run drains the queue before it reports stopping: the event was committed
		// (or failed) by then, or it was queued too late and never will be.
		select {
		case err := <-p.done:
			return true, err
		default:
			return false, ErrClosed
		}
	case <-ctx.Done():
		// The event may still be committed; the caller must not answer as if it were.
		return false, ctx.Err()
	}
}

// Run commits batches until ctx ends, then commits what is queued and returns.
func (w *Writer) Run(ctx context.Context) error {
	defer w.once.Do(func() { close(w.stopped) })
	batch := make([]*pending, 0, w.maxBatch)
	retryTimer := time.NewTimer(retryEvery)
	defer retryTimer.Stop()
	armed := true
	for {
		var retryC <-chan time.Time
		if len(w.retry) > 0 {
			if !armed { // armed once, not pushed back by each new event
				retryTimer.Reset(retryEvery)
				armed = true
			}
			retryC = retryTimer.C
		}
		select {
		case p := <-w.in:
			batch = append(batch[:0], p)
		case <-retryC:
			armed = false
			w.commitRetry(context.WithoutCancel(ctx))
			continue
		case <-ctx.Done():
			w.drain()
			return ctx.Err()
		}
		batch = w.fill(batch)
		if len(batch) > 1 && len(batch) < w.maxBatch {
			// Others are recording too: let the callers that are about to record (already
			// runnable) queue their events, so that they share this commit instead of
			// paying for the next one. This costs no timer and no sleep.
			runtime.Gosched()
			batch = w.fill(batch)
		}
		if allDeferred(batch) {
			batch = w.linger(ctx, batch)
		}
		if w.commit(context.WithoutCancel(ctx), batch) == nil && len(w.retry) > 0 {
			w.commitRetry(context.WithoutCancel(ctx)) // the store takes events again
		}
		clear(batch)
	}
}

// retryEvery is how often Run tries again to store deferred events a commit failed on.
const retryEvery = 200 * time.Millisecond

// commitRetry stores the deferred events failed commits left, maxBatch at a time, apart
// from any caller's batch. Events the store refuses as invalid (store.ErrInvalid: they
// would fail every attempt) are dropped one by one, with an error in the log; on any other
// failure the rest wait for the next attempt.
func (w *Writer) commitRetry(ctx context.Context) {
	defer w.markOldest()
	for len(w.retry) > 0 {
		n := min(len(w.retry), w.retryChunk)
		err := w.store(ctx, w.retry[:n])
		switch {
		case err == nil:
			for _, p := range w.retry[:n] {
				w.forget(p)
			}
			w.retryChunk = min(2*w.retryChunk, w.maxBatch)
		case errors.Is(err, store.ErrInvalid):
			// One at a time, to find the invalid ones.
			for i, p := range w.retry[:n] {
				err := w.store(ctx, []*pending{p})
				if err != nil && !errors.Is(err, store.ErrInvalid) {
					w.dropRetried(i) // those before i are done; the rest wait
					return
				}
				if err != nil {
					w.log.Error("audit: the store refuses a deferred event; it stays in the audit log file only",
						"event", p.ev.ID, "err", err)
				}
				w.forget(p)
			}
		default:
			// Perhaps too large a statement for the store: smaller chunks next time.
			w.retryChunk = max(n/2, 1)
			return
		}
		w.dropRetried(n)
	}
}

// markOldest publishes where the oldest deferred event waiting in w.retry ends in the
// file (-1 when none waits).
func (w *Writer) markOldest() {
	o := int64(-1)
	for _, p := range w.retry {
		if o < 0 || p.end < o {
			o = p.end
		}
	}
	w.oldest.Store(o)
}

// dropRetried removes the first n events (already forgotten) from w.retry.
func (w *Writer) dropRetried(n int) {
	rest := copy(w.retry, w.retry[n:])
	clear(w.retry[rest:])
	w.retry = w.retry[:rest]
}

// store appends the events of batch to the store.
func (w *Writer) store(ctx context.Context, batch []*pending) error {
	events := w.events[:0]
	for _, p := range batch {
		events = append(events, p.ev)
	}
	err := w.append(ctx, events)
	clear(events) // keep no event data past its commit
	w.events = events[:0]
	return err
}

// forget is the end of a deferred event: stored (or dropped), it leaves the unstored
// count and is recycled.
func (w *Writer) forget(p *pending) {
	w.unstored.Add(-int64(len(p.line)))
	w.recycle(p)
}

func allDeferred(batch []*pending) bool {
	for _, p := range batch {
		if !p.deferred {
			return false
		}
	}
	return true
}

// linger lets a batch nobody waits for grow for up to DeferWindow: until an event with
// a waiting caller arrives (then everything queued is committed at once), the batch
// holds DeferredBatch events, or ctx ends. One commit (a store transaction and an fsync)
// then serves many deferred events.
func (w *Writer) linger(ctx context.Context, batch []*pending) []*pending {
	t := time.NewTimer(DeferWindow)
	defer t.Stop()
	for len(batch) < min(DeferredBatch, w.maxBatch) {
		select {
		case p := <-w.in:
			batch = append(batch, p)
			if !p.deferred {
				return w.fill(batch)
			}
		case <-t.C:
			return batch
		case <-ctx.Done():
			return batch
		}
	}
	return batch
}

// fill adds queued events to batch, without waiting, up to maxBatch.
func (w *Writer) fill(batch []*pending) []*pending {
	for len(batch) < w.maxBatch {
		select {
		case p := <-w.in:
			batch = append(batch, p)
		default:
			return batch
		}
	}
	return batch
}

// drain commits whatever is queued when the writer stops, so that callers waiting on
// Record get their answer, and tries once more to store the deferred events that wait.
func (w *Writer) drain() {
	w.commitRetry(context.Background())
	for {
		var batch []*pending
	fill:
		for len(batch) < w.maxBatch {
			select {
			case p := <-w.in:
				batch = append(batch, p)
			default:
				break fill
			}
		}
		if len(batch) == 0 {
			break
		}
		w.commit(context.Background(), batch)
	}
	w.commitRetry(context.Background())
	if len(w.retry) > 0 {
		w.log.Error("audit: deferred events not stored at shutdown; they are in the audit log file, and the next start stores them",
			"events", len(w.retry))
		for _, p := range w.retry {
			w.forget(p)
		}
		clear(w.retry)
		w.retry = w.retry[:0]
	}
}

// commit stores batch, then writes the lines of its durable events to the file and
// fsyncs it, then answers the waiting callers. Deferred events (their lines are in the
// file already) are done when stored; if the store fails they wait in w.retry, and the
// file is fsynced all the same, so that their lines are durable during an outage.
func (w *Writer) commit(ctx context.Context, batch []*pending) error {
	err := w.store(ctx, batch)
	deferred := false
	for _, p := range batch {
		deferred = deferred || p.deferred
	}
	if w.file != nil && (err == nil || deferred) {
		var ferr error
		if err == nil {
			buf := w.buf[:0]
			for _, p := range batch {
				if !p.deferred { // a deferred event's line was written by RecordDeferred
					buf = append(buf, p.line...)
				}
			}
			if len(buf) > 0 {
				var n int
				n, ferr = w.file.Write(buf)
				w.written.Add(int64(n))
			}
			if cap(buf) <= 1<<20 { // keep an ordinary batch's buffer, not a rare huge one
				w.buf = buf[:0]
			}
		}
		if ferr == nil {
			ferr = w.file.Sync()
		}
		if ferr != nil {
			ferr = fmt.Errorf("writing audit log file: %w", ferr)
			if err == nil {
				err = ferr
			} else {
				w.log.Error("audit log file", "err", ferr)
			}
		}
	}
	if err != nil {
		w.log.Error("audit commit failed", "events", len(batch), "err", err)
	}
	// Deferred events first, so that a caller answered below already sees their bytes
	// gone from the unstored count. A forgotten event goes back to the pool at once, so
	// the waiting callers are collected before: nothing reads a pending after that.
	waiting := w.waiting[:0]
	for _, p := range batch {
		switch {
		case !p.deferred:
			waiting = append(waiting, p)
		case err == nil:
			w.forget(p)
		default:
			w.retry = append(w.retry, p) // its line is in the file; the store gets it later
		}
	}
	w.markOldest()
	for _, p := range waiting {
		p.done <- err
	}
	clear(waiting)
	w.waiting = waiting[:0]
	return err
}

// Close closes the JSON-lines file. Call it after Run has returned.
func (w *Writer) Close() error {
	if w.file == nil {
		return nil
	}
	return w.file.Close()
}
