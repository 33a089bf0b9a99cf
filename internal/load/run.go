package load

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"os"
	"runtime"
	"sync"
	"time"
)

const (
	// pollInterval is how often the run looks at its receivers while
	// waiting for their tracks.
	pollInterval = 50 * time.Millisecond
	// closeTimeout bounds closing every client at the end of a run.
	closeTimeout = 60 * time.Second
	// loadBusy is the share of its cores above which the load process is
	// said to have been too busy for its latency figures to be the server's.
	loadBusy = 0.85
	// probePause is the time before each probe joins.
	probePause = time.Second
	// otherBusy is the CPU share (100 is a core) of work neither the
	// server's nor the load's above which the figures are said to be
	// disturbed. The kernel's own work on the packets counts as other.
	otherBusy = 25
)

// Run performs one load run against the server at cfg.URL and reports what
// it measured. It returns an error if the configuration is invalid, the
// server's process cannot be read, a publisher cannot join, or ctx ends
// before the measurement window begins; subscribers that fail to join are
// reported, not fatal. If ctx ends during the window, the report covers the
// window so far. Every client is closed before Run returns.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	r := &run{
		cfg:   cfg,
		log:   cfg.Logger,
		clock: &clock{epoch: time.Now(), release: make(chan struct{})},
		plan: newVideoPlan(cfg.VideoBitrate, cfg.FPS, cfg.KeyframeInterval,
			cfg.KeyframeFactor, cfg.MaxPayload),
		id:      randomID(),
		senders: newSenders(cfg.Publishers),
	}
	defer r.close()
	return r.run(ctx)
}

// run is the state of one Run.
type run struct {
	cfg   Config
	log   *slog.Logger
	clock *clock
	plan  videoPlan
	// id keeps the names of this run's participants apart from another's.
	id string

	pubs    []*publisher
	senders []*sender
	// subs are the subscribers, then the stalled ones, then the lossy ones.
	subs []*receiver

	stopSending context.CancelFunc
	sending     sync.WaitGroup
}

// sample is what the window's ends record.
type sample struct {
	at      time.Time
	server  ProcSample
	load    ProcSample
	machine time.Duration // busy time of all cores
	cores   int
	// Datagrams the kernel dropped on the server's and the load's sockets.
	serverDrops, loadDrops uint64
	sent                   [][2]uint64 // per publisher and kind: packets sent so far
}

func (r *run) run(ctx context.Context) (*Report, error) {
	cfg := &r.cfg
	if cfg.ServerPID != 0 {
		if _, err := ReadProc(cfg.ServerPID); err != nil {
			return nil, fmt.Errorf("server process: %w", err)
		}
	}
	rep := &Report{Config: reportConfig(cfg), Start: r.clock.epoch}
	shedBefore, shedErr := serverCounter(ctx, cfg.URL, queueDropsMetric)
	if shedErr != nil {
		r.log.Debug("server's queue drops not counted", "err", shedErr)
	}

	sendCtx, stop := context.WithCancel(context.Background())
	r.stopSending = stop
	if err := r.joinPublishers(ctx, sendCtx); err != nil {
		return nil, err
	}
	r.joinSubscribers(ctx)
	rep.JoinSeconds = time.Since(r.clock.epoch).Seconds()
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("joining: %w", err)
	}

	r.waitTracks(ctx)
	rep.SetupSeconds = time.Since(r.clock.epoch).Seconds()
	r.log.Info("warming up", "for", cfg.Warmup)
	if !sleep(ctx, cfg.Warmup) {
		return nil, fmt.Errorf("warming up: %w", ctx.Err())
	}

	r.log.Info("measuring", "for", cfg.Duration)
	begin, err := r.sample()
	if err != nil {
		return nil, err
	}
	r.clock.phase.Store(phaseWindow)
	rep.Interrupted = !sleep(ctx, cfg.Duration)
	r.clock.phase.Store(phaseDrain)
	end, err := r.sample()
	if err != nil {
		return nil, err
	}
	if !rep.Interrupted && cfg.Probes > 0 {
		rep.Probes = r.probe(ctx)
	}

	r.stopSending()
	r.sending.Wait()
	final := r.sentCounts()
	if !rep.Interrupted {
		r.log.Info("publishers stopped; grace period", "for", cfg.Grace)
		sleep(ctx, cfg.Grace)
	}
	if shedErr == nil {
		if after, err := serverCounter(ctx, cfg.URL, queueDropsMetric); err == nil && after >= shedBefore {
			shed := after - shedBefore
			rep.ServerQueueDrops = &shed
		}
	}
	r.fill(rep, begin, end, final)
	return rep, nil
}

// joinPublishers joins the publishers one after the other; each starts
// sending as soon as it is connected, before the next one joins.
func (r *run) joinPublishers(ctx, sendCtx context.Context) error {
	cfg := &r.cfg
	for i := range cfg.Publishers {
		p := newPublisher(i, r.senders, fmt.Sprintf("pub%d-%s", i, r.id), r.clock)
		p.mediaAtJoin = i > 0
		r.pubs = append(r.pubs, p)
		jctx, cancel := context.WithTimeout(ctx, cfg.JoinTimeout)
		err := p.dial(jctx, cfg, i, p.addTracks(cfg))
		cancel()
		if err != nil {
			return fmt.Errorf("publisher %d: %w", i, err)
		}
		p.learnSSRCs()
		r.sending.Add(1)
		go func() {
			defer r.sending.Done()
			p.send(sendCtx, cfg, r.plan)
		}()
	}
	r.log.Info("publishers sending", "publishers", cfg.Publishers)
	return nil
}

// joinSubscribers joins every subscriber, JoinConcurrency at a time.
func (r *run) joinSubscribers(ctx context.Context) {
	cfg := &r.cfg
	add := func(n int, ro role, prefix string) {
		for i := range n {
			rc := newReceiver(fmt.Sprintf("%s%d-%s", prefix, i, r.id), ro, -1, r.senders, r.clock)
			rc.mediaAtJoin = true
			r.subs = append(r.subs, rc)
		}
	}
	add(cfg.Subscribers, roleSubscriber, "sub")
	add(cfg.Stalled, roleStalled, "stalled")
	add(cfg.Lossy, roleLossy, "lossy")

	sem := make(chan struct{}, cfg.JoinConcurrency)
	var wg sync.WaitGroup
	var mu sync.Mutex
	done, failed := 0, 0
	for i, rc := range r.subs {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			rc.joinErr = ctx.Err()
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			jctx, cancel := context.WithTimeout(ctx, cfg.JoinTimeout)
			defer cancel()
			err := rc.dial(jctx, cfg, i, nil)
			mu.Lock()
			defer mu.Unlock()
			done++
			if err != nil {
				rc.joinErr = err
				failed++
				r.log.Warn("join failed", "participant", rc.name, "err", err)
			}
			if done%100 == 0 || done == len(r.subs) {
				r.log.Info("subscribers joined", "done", done, "of", len(r.subs), "failed", failed)
			}
		}()
	}
	wg.Wait()
}

// receivers returns every receiver: publishers first.
func (r *run) receivers() []*receiver {
	all := make([]*receiver, 0, len(r.pubs)+len(r.subs))
	for _, p := range r.pubs {
		all = append(all, p.receiver)
	}
	return append(all, r.subs...)
}

// directPercent is the share of the packets received so far that the
// receivers took off their sockets themselves (client.DirectPackets).
func (r *run) directPercent() float64 {
	var direct, all uint64
	for _, rc := range r.receivers() {
		if rc.c == nil {
			continue
		}
		direct += rc.c.DirectPackets()
		for i := range rc.tracks {
			ts := &rc.tracks[i]
			ts.mu.Lock()
			all += ts.packets
			ts.mu.Unlock()
		}
	}
	if all == 0 {
		return 0
	}
	return 100 * float64(min(direct, all)) / float64(all)
}

// waitTracks waits until every joined receiver got a packet of each of its
// tracks, or SetupTimeout passes, or ctx ends.
func (r *run) waitTracks(ctx context.Context) {
	cfg := &r.cfg
	deadline := time.Now().Add(cfg.SetupTimeout)
	pending := make(map[*receiver][]int)
	for _, rc := range r.receivers() {
		if rc.joinErr == nil {
			pending[rc] = rc.expected(!cfg.NoVideo, !cfg.NoAudio)
		}
	}
	tick := time.NewTicker(pollInterval)
	defer tick.Stop()
	for {
		for rc, slots := range pending {
			if rc.complete(slots) {
				delete(pending, rc)
			}
		}
		if len(pending) == 0 {
			r.log.Info("every receiver has its tracks")
			return
		}
		if time.Now().After(deadline) {
			r.log.Warn("setup timeout: receivers still missing tracks", "receivers", len(pending))
			return
		}
		select {
		case <-tick.C:
		case <-ctx.Done():
			return
		}
	}
}

func (r *run) sample() (sample, error) {
	s := sample{at: time.Now(), sent: r.sentCounts()}
	var err error
	if r.cfg.ServerPID != 0 {
		if s.server, err = ReadProc(r.cfg.ServerPID); err != nil {
			return s, fmt.Errorf("server process: %w", err)
		}
		if s.serverDrops, _, err = ReadUDPDrops(r.cfg.ServerPID); err != nil {
			return s, fmt.Errorf("server process: %w", err)
		}
	}
	if s.load, err = ReadProc(os.Getpid()); err != nil {
		return s, fmt.Errorf("load process: %w", err)
	}
	if s.loadDrops, _, err = ReadUDPDrops(os.Getpid()); err != nil {
		return s, fmt.Errorf("load process: %w", err)
	}
	if s.machine, s.cores, err = ReadMachineCPU(); err != nil {
		return s, err
	}
	return s, nil
}

func (r *run) sentCounts() [][2]uint64 {
	out := make([][2]uint64, len(r.pubs))
	for i, p := range r.pubs {
		out[i] = [2]uint64{p.sent[kindAudio].Load(), p.sent[kindVideo].Load()}
	}
	return out
}

// close releases the stalled readers and closes every client, a bounded
// number at a time and within closeTimeout.
func (r *run) close() {
	if r.stopSending != nil {
		r.stopSending()
		r.sending.Wait()
	}
	close(r.clock.release)
	all := r.receivers()
	sem := make(chan struct{}, 64)
	var wg sync.WaitGroup
	for _, rc := range all {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			rc.close()
		}()
	}
	closed := make(chan struct{})
	go func() {
		wg.Wait()
		close(closed)
	}()
	select {
	case <-closed:
	case <-time.After(closeTimeout):
		r.log.Error("clients still closing", "after", closeTimeout)
	}
}

// fill computes the report's figures once the publishers have stopped and
// the grace period has passed.
func (r *run) fill(rep *Report, begin, end sample, final [][2]uint64) {
	cfg := &r.cfg
	window := end.at.Sub(begin.at)
	rep.WindowSeconds = window.Seconds()
	perPublisher := func(kind int) (total uint64, rate float64) {
		for i := range r.pubs {
			total += end.sent[i][kind] - begin.sent[i][kind]
		}
		return total, float64(total) / float64(len(r.pubs)) / window.Seconds()
	}
	rep.Sent.VideoPackets, rep.Sent.VideoPerSecond = perPublisher(kindVideo)
	rep.Sent.AudioPackets, rep.Sent.AudioPerSecond = perPublisher(kindAudio)
	if !cfg.NoVideo {
		rep.Sent.PlannedVideoPerSecond = r.plan.packetsPerSecond()
	}
	for _, p := range r.pubs {
		rep.Sent.Keyframes += p.keyframes.Load()
		rep.Sent.RequestedKeyframes += p.pliKeyframes.Load()
		rep.Sent.Errors += p.sendErrors.Load()
	}
	rep.FanOut = cfg.Publishers - 1 + cfg.Subscribers + cfg.Stalled + cfg.Lossy

	byRole := map[role][]*ReceiverStats{}
	for _, rc := range r.receivers() {
		st := r.receiverStats(rc, begin.sent, end.sent, final)
		byRole[rc.role] = append(byRole[rc.role], st)
		rep.ForwardedPackets += st.WindowPackets
		if cfg.PerReceiver {
			rep.Receivers = append(rep.Receivers, *st)
		}
	}
	rep.ForwardedPerSecond = float64(rep.ForwardedPackets) / window.Seconds()
	normal := append(append([]*ReceiverStats(nil), byRole[roleSubscriber]...), byRole[rolePublisher]...)
	rep.All = group(normal)
	set := func(ro role, dst **GroupStats) {
		if len(byRole[ro]) > 0 {
			g := group(byRole[ro])
			*dst = &g
		}
	}
	set(roleSubscriber, &rep.Subscribers)
	if cfg.Publishers > 1 {
		set(rolePublisher, &rep.Publishers)
	}
	set(roleStalled, &rep.Stalled)
	set(roleLossy, &rep.Lossy)

	loadCPU := end.load.CPU - begin.load.CPU
	rep.Load = ProcStats{
		PID:        os.Getpid(),
		CPUSeconds: loadCPU.Seconds(),
		CPUPercent: 100 * loadCPU.Seconds() / window.Seconds(),
		RSSMiB:     mib(end.load.RSS),
		PeakRSSMiB: mib(end.load.PeakRSS),
		Cores:      runtime.GOMAXPROCS(0),
		Goroutines: runtime.NumGoroutine(),
		UDPDrops:   end.loadDrops - min(begin.loadDrops, end.loadDrops),
	}
	rep.Load.DirectPercent = r.directPercent()
	if cfg.ServerPID != 0 {
		cpu := end.server.CPU - begin.server.CPU
		s := &ProcStats{
			PID:        cfg.ServerPID,
			CPUSeconds: cpu.Seconds(),
			CPUPercent: 100 * cpu.Seconds() / window.Seconds(),
			RSSMiB:     mib(end.server.RSS),
			PeakRSSMiB: mib(end.server.PeakRSS),
			UDPDrops:   end.serverDrops - min(begin.serverDrops, end.serverDrops),
		}
		if rep.ForwardedPackets > 0 {
			s.CPUPerPacketMicros = float64(cpu.Microseconds()) / float64(rep.ForwardedPackets)
		}
		rep.Server = s
	}
	busy := end.machine - begin.machine
	rep.Machine = MachineStats{
		Cores:        end.cores,
		BusyPercent:  100 * busy.Seconds() / window.Seconds(),
		OtherPercent: 100 * (busy - loadCPU).Seconds() / window.Seconds(),
	}
	if rep.Server != nil && cfg.ServerPID != os.Getpid() {
		rep.Machine.OtherPercent -= rep.Server.CPUPercent
	}
	// /proc/stat and the processes' own counters sample time differently:
	// a few percent either way is noise, and a negative share means none.
	rep.Machine.OtherPercent = max(rep.Machine.OtherPercent, 0)
	rep.Warnings = r.warnings(rep)
}

// probe joins Config.Probes subscribers one at a time, each alone, and
// measures their time from join to the first packet and to the first
// keyframe; each leaves before the next joins.
func (r *run) probe(ctx context.Context) *ProbeStats {
	cfg := &r.cfg
	ps := &ProbeStats{}
	var first, key []time.Duration
	for i := range cfg.Probes {
		// A pause first: the server asks a publisher for at most one
		// keyframe per 500 ms, and a probe joining right after another
		// would wait for the previous request's interval to pass.
		if !sleep(ctx, probePause) {
			break
		}
		rc := newReceiver(fmt.Sprintf("probe%d-%s", i, r.id), roleSubscriber, -1, r.senders, r.clock)
		jctx, cancel := context.WithTimeout(ctx, cfg.JoinTimeout)
		err := rc.dial(jctx, cfg, i, nil)
		if err == nil {
			err = rc.waitFirstMedia(jctx, rc.expected(!cfg.NoVideo, !cfg.NoAudio), !cfg.NoVideo)
		}
		cancel()
		if err != nil {
			ps.Failed++
			r.log.Warn("probe failed", "participant", rc.name, "err", err)
		} else {
			ps.Count++
			f, k := rc.firstTimes()
			first = append(first, time.Duration(f-rc.joinAt))
			if k != 0 {
				key = append(key, time.Duration(k-rc.joinAt))
			}
		}
		rc.close()
	}
	ps.JoinToFirstPacket = spreadOf(first)
	ps.JoinToKeyframe = spreadOf(key)
	return ps
}

// receiverStats computes one receiver's figures: begin, end and final are
// the publishers' sent counts at the window's ends and when they stopped.
func (r *run) receiverStats(rc *receiver, begin, end, final [][2]uint64) *ReceiverStats {
	st := &ReceiverStats{Name: rc.name, Role: rc.role.String(), joined: rc.joinErr == nil}
	if rc.joinErr != nil {
		st.Error = rc.joinErr.Error()
		return st
	}
	slots := rc.expected(!r.cfg.NoVideo, !r.cfg.NoAudio)
	st.ExpectedTracks = len(slots)
	st.complete = true
	firstAny, firstKey := rc.firstTimes()
	for _, slot := range slots {
		pub, kind := slot/2, slot%2
		ts := &rc.tracks[slot]
		ts.mu.Lock()
		if ts.first == 0 {
			st.complete = false
		} else {
			st.Tracks++
		}
		st.Packets += ts.packets
		st.WindowPackets += ts.windowPackets
		st.Lost += ts.seqs.missing(0, final[pub][kind])
		st.WindowLost += ts.seqs.missing(begin[pub][kind], end[pub][kind])
		from := begin[pub][kind]
		if ts.seqs.started {
			from = max(from, ts.seqs.first)
		}
		if end[pub][kind] > from {
			st.WindowExpected += end[pub][kind] - from
		}
		st.Late += ts.seqs.late
		st.Duplicates += ts.seqs.duplicates
		if ts.app != nil {
			st.latency[toSocket][kind].add(ts.sock)
			st.latency[toApp][kind].add(ts.app)
		}
		st.maxLatency[toSocket][kind] = max(st.maxLatency[toSocket][kind], ts.maxSock)
		st.maxLatency[toApp][kind] = max(st.maxLatency[toApp][kind], ts.maxApp)
		st.stamped += ts.stamped
		ts.mu.Unlock()
	}
	st.Bad = rc.bad.Load()
	st.Latency = st.latencyOf(toSocket)
	st.AppLatency = st.latencyOf(toApp)
	if rc.mediaAtJoin && firstAny != 0 {
		st.hasJoinTimes = true
		st.joinFirst = time.Duration(firstAny - rc.joinAt)
		v := ms(st.joinFirst)
		st.JoinToFirstPacket = &v
		if firstKey != 0 {
			st.joinKey = time.Duration(firstKey - rc.joinAt)
			k := ms(st.joinKey)
			st.JoinToKeyframe = &k
		}
	}
	return st
}

func (r *run) warnings(rep *Report) []string {
	var w []string
	failed, incomplete := rep.All.JoinFailures, rep.All.Incomplete
	for _, g := range []*GroupStats{rep.Stalled, rep.Lossy} {
		if g != nil {
			failed += g.JoinFailures
			incomplete += g.Incomplete
		}
	}
	if failed > 0 {
		var first error
		for _, rc := range r.subs {
			if rc.joinErr != nil {
				first = rc.joinErr
				break
			}
		}
		w = append(w, fmt.Sprintf("%d participants failed to join (first error: %v)", failed, first))
	}
	if incomplete > 0 {
		w = append(w, fmt.Sprintf("%d receivers never got some of their tracks; their loss is not counted", incomplete))
	}
	if rep.Interrupted {
		w = append(w, "the window was interrupted")
	}
	if rep.Sent.Errors > 0 {
		w = append(w, fmt.Sprintf("%d packets failed to send", rep.Sent.Errors))
	}
	if rep.Load.CPUPercent > 100*loadBusy*float64(rep.Load.Cores) {
		w = append(w, fmt.Sprintf("the load generator used %.0f %% of its %d core(s): latency, loss and join times include its own queueing",
			rep.Load.CPUPercent, rep.Load.Cores))
	}
	if s := rep.Server; s != nil && s.UDPDrops > 0 && r.cfg.ServerPID != os.Getpid() {
		w = append(w, fmt.Sprintf("the kernel dropped %d datagrams on the server's sockets in the window (receive buffer full)", s.UDPDrops))
	}
	if d := rep.ServerQueueDrops; d != nil && *d > 0 {
		w = append(w, fmt.Sprintf("the server shed %d of the publishers' packets from full queues (its forwarding was starved of CPU); shed audio is lost to every receiver", *d))
	}
	if rep.Load.UDPDrops > 0 {
		w = append(w, fmt.Sprintf("the kernel dropped %d datagrams on the load's sockets in the window: that loss is the load's", rep.Load.UDPDrops))
	}
	if rep.Machine.OtherPercent > otherBusy {
		w = append(w, fmt.Sprintf("other work on the machine used %.0f %% of a core during the window: the figures are disturbed",
			rep.Machine.OtherPercent))
	}
	if r.cfg.ServerPID == os.Getpid() {
		w = append(w, "the server runs in the load process: its CPU and memory include the load's")
	}
	if rep.All.Bad > 0 {
		w = append(w, fmt.Sprintf("%d packets arrived without a valid tag or on the wrong track", rep.All.Bad))
	}
	return w
}

func reportConfig(cfg *Config) ReportConfig {
	rc := ReportConfig{
		URL:                     cfg.URL,
		Room:                    cfg.Room,
		Publishers:              cfg.Publishers,
		Subscribers:             cfg.Subscribers,
		Stalled:                 cfg.Stalled,
		Lossy:                   cfg.Lossy,
		Video:                   !cfg.NoVideo,
		Audio:                   !cfg.NoAudio,
		VideoBitrate:            cfg.VideoBitrate,
		Pace:                    cfg.Pace,
		FPS:                     cfg.FPS,
		KeyframeIntervalSeconds: cfg.KeyframeInterval.Seconds(),
		WarmupSeconds:           cfg.Warmup.Seconds(),
		DurationSeconds:         cfg.Duration.Seconds(),
		GraceSeconds:            cfg.Grace.Seconds(),
		DefaultInterceptors:     cfg.DefaultInterceptors,
	}
	if cfg.Lossy > 0 {
		rc.LossRate = cfg.LossRate
	}
	return rc
}

// sleep waits for d and reports whether it did; false if ctx ended first.
func sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

func randomID() string {
	b := make([]byte, 3)
	_, _ = rand.Read(b) // never fails
	return hex.EncodeToString(b)
}
