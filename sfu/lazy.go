package sfu

import (
	"sync"
	"sync/atomic"

	"github.com/pion/interceptor"
)

// onFirstStream wraps the factory of a receive-side interceptor (NACK
// generator, receiver reports) so that the interceptor is built, and its
// ticking goroutine started, only when the peer's first remote stream is
// bound. Each of them otherwise runs a loop per peer from the moment the
// peer exists; a subscriber that publishes nothing never needs them, and
// at 1 × 200 their idle loops woke the server over 2 000 times a second.
//
// It suits interceptors that return the RTCP writer they are given
// unchanged and act only on remote streams and incoming RTCP, as these
// two do.
type onFirstStream struct{ f interceptor.Factory }

// NewInterceptor returns the unbuilt interceptor of one peer.
func (o onFirstStream) NewInterceptor(id string) (interceptor.Interceptor, error) {
	return &lazyInterceptor{f: o.f, id: id}, nil
}

type lazyInterceptor struct {
	interceptor.NoOp
	f  interceptor.Factory
	id string

	mu     sync.Mutex
	inner  interceptor.Interceptor // nil until the first remote stream
	writer interceptor.RTCPWriter
	closed bool
	// built holds inner once it is built, for the RTCP readers.
	built atomic.Pointer[interceptor.Interceptor]
}

func (l *lazyInterceptor) BindRTCPWriter(w interceptor.RTCPWriter) interceptor.RTCPWriter {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.writer = w
	return w
}

// BindRTCPReader wraps one RTCP reader (pion binds one per sender and
// receiver): until the interceptor is built, reads pass through; after,
// they go through the interceptor's own wrapping of r, made on the first
// read that finds it built. Each reader is read by one goroutine.
func (l *lazyInterceptor) BindRTCPReader(r interceptor.RTCPReader) interceptor.RTCPReader {
	var wrapped interceptor.RTCPReader
	return interceptor.RTCPReaderFunc(func(b []byte, a interceptor.Attributes) (int, interceptor.Attributes, error) {
		if wrapped == nil {
			inner := l.built.Load()
			if inner == nil {
				return r.Read(b, a)
			}
			wrapped = (*inner).BindRTCPReader(r)
		}
		return wrapped.Read(b, a)
	})
}

func (l *lazyInterceptor) BindRemoteStream(info *interceptor.StreamInfo, r interceptor.RTPReader) interceptor.RTPReader {
	inner := l.build()
	if inner == nil {
		return r
	}
	return inner.BindRemoteStream(info, r)
}

func (l *lazyInterceptor) UnbindRemoteStream(info *interceptor.StreamInfo) {
	l.mu.Lock()
	inner := l.inner
	l.mu.Unlock()
	if inner != nil {
		inner.UnbindRemoteStream(info)
	}
}

// build makes the interceptor and binds it to the peer's RTCP, once; it
// returns nil after Close or if the factory fails.
func (l *lazyInterceptor) build() interceptor.Interceptor {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.inner != nil || l.closed {
		return l.inner
	}
	inner, err := l.f.NewInterceptor(l.id)
	if err != nil {
		return nil
	}
	if l.writer != nil {
		inner.BindRTCPWriter(l.writer)
	}
	l.inner = inner
	l.built.Store(&inner)
	return inner
}

func (l *lazyInterceptor) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.closed = true
	if l.inner == nil {
		return nil
	}
	return l.inner.Close()
}
