package awsim

import (
	"container/heap"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"time"

	"k8s.io/utils/clock"
)

// Options shape a simulated world. The zero value is a usable us-east-1 world for cluster "kerf".
type Options struct {
	// Region is the simulated region (default us-east-1).
	Region string
	// ClusterName is the value of the karpenter.sh/discovery tag on the cluster's subnets and
	// security groups, and of the kubernetes.io/cluster/<name> tag key (default "kerf").
	ClusterName string
	// AccountID owns every resource (default 123456789012).
	AccountID string
	// Seed makes prices, offerings, IDs and fault draws reproducible (default 42).
	Seed int64
	// BootDelay is how long an instance stays pending before it is running (0: running at once).
	BootDelay time.Duration
	// Clock drives every transition; a fake clock makes the world move only when stepped.
	Clock clock.Clock
	// OnDemandVCPULimit and SpotVCPULimit are the account's vCPU quotas for running on-demand and
	// spot instances (0: none). A launch past one fails as EC2's does: VcpuLimitExceeded,
	// MaxSpotInstanceCountExceeded.
	OnDemandVCPULimit, SpotVCPULimit int
	// VisibilityDelay makes EC2's eventual consistency: a new instance is unknown to
	// DescribeInstances, TerminateInstances and CreateTags for a seeded random 0 to VisibilityDelay
	// after its launch (0: visible at once). The admin API and the simulated kubelet see it at once.
	VisibilityDelay time.Duration
	// ClusterEndpoint and ClusterCA (base64 PEM) are what EKS's DescribeCluster says of the
	// cluster; a made-up EKS-shaped endpoint and CA when empty.
	ClusterEndpoint, ClusterCA string
}

func (o Options) withDefaults() Options {
	if o.Region == "" {
		o.Region = "us-east-1"
	}
	if o.ClusterName == "" {
		o.ClusterName = "kerf"
	}
	if o.AccountID == "" {
		o.AccountID = "123456789012"
	}
	if o.Seed == 0 {
		o.Seed = 42
	}
	if o.Clock == nil {
		o.Clock = clock.RealClock{}
	}
	return o
}

const (
	// shutdownDuration is how long a terminating instance stays shutting-down.
	shutdownDuration = 30 * time.Second
	// terminatedVisibility is how long DescribeInstances still shows a terminated instance.
	terminatedVisibility = time.Hour
	// defaultSpotNotice is the warning EC2 gives before reclaiming a spot instance.
	defaultSpotNotice = 2 * time.Minute
)

// World is the simulated AWS state behind a Server. Its methods are safe for concurrent use.
type World struct {
	mu     sync.Mutex
	opts   Options
	clock  clock.Clock
	rng    *rand.Rand
	nextID uint64
	start  time.Time

	catalog *catalog
	typeXML map[string][]byte // encoded DescribeInstanceTypes items
	zones   []zone
	vpcID   string
	subnets []*subnet
	groups  []*securityGroup

	images      map[string]*image
	amiRelease  int
	ssmParams   map[string]*ssmParameter
	priceAt     time.Time
	spotPrices  map[pool]float64 // overrides of the modelled spot price
	odPrices    map[string]float64
	capacity    map[pool]int // remaining launches per pool; absent means unlimited
	faults      map[string]Fault
	calls       map[string]int // requests received per action, faulted ones included
	spotNotice  time.Duration
	eventsQueue string // queue receiving EventBridge events; "" means every queue

	instances    map[string]*instance
	order        []*instance // launch order, for stable listings
	templates    map[string]*launchTemplate
	fleetTokens  map[string]*fleetRecord
	runTokens    map[string]*runRecord
	timers       timerHeap
	timerSeq     uint64
	queues       map[string]*queue
	queueChanged chan struct{} // closed and replaced whenever a message becomes available
	stopped      chan struct{} // closed by Stop: long polls return at once
	stopOnce     sync.Once
	// sessions are the temporary credentials AssumeRole handed out, by session token.
	sessions map[string]*session
}

// Stop ends waiting long polls (they answer with no messages), so a server can shut down
// without waiting out their wait time.
func (w *World) Stop() { w.stopOnce.Do(func() { close(w.stopped) }) }

// NewWorld builds the deterministic starting world.
func NewWorld(opts Options) (*World, error) {
	opts = opts.withDefaults()
	cat, err := loadCatalog()
	if err != nil {
		return nil, err
	}
	w := &World{
		opts:         opts,
		clock:        opts.Clock,
		rng:          rand.New(rand.NewPCG(uint64(opts.Seed), 0x6177_7369_6d)),
		start:        opts.Clock.Now().UTC(),
		catalog:      cat,
		typeXML:      map[string][]byte{},
		images:       map[string]*image{},
		ssmParams:    map[string]*ssmParameter{},
		spotPrices:   map[pool]float64{},
		odPrices:     map[string]float64{},
		capacity:     map[pool]int{},
		faults:       map[string]Fault{},
		calls:        map[string]int{},
		spotNotice:   defaultSpotNotice,
		instances:    map[string]*instance{},
		templates:    map[string]*launchTemplate{},
		fleetTokens:  map[string]*fleetRecord{},
		runTokens:    map[string]*runRecord{},
		queues:       map[string]*queue{},
		queueChanged: make(chan struct{}),
		stopped:      make(chan struct{}),
	}
	w.priceAt = w.start
	w.buildNetwork()
	w.releaseAMIs()
	return w, nil
}

// Region is the simulated region.
func (w *World) Region() string { return w.opts.Region }

// ClusterName is the cluster the subnets and security groups are tagged for.
func (w *World) ClusterName() string { return w.opts.ClusterName }

// Zones lists the zone names in order.
func (w *World) Zones() []string {
	out := make([]string, len(w.zones))
	for i, z := range w.zones {
		out[i] = z.Name
	}
	return out
}

// newID returns a deterministic resource ID such as i-0a1b2c3d4e5f60718.
func (w *World) newID(prefix string) string {
	w.nextID++
	return fmt.Sprintf("%s-0%016x", prefix, hash64(w.opts.Seed, prefix, fmt.Sprint(w.nextID)))
}

// now reads the clock in UTC.
func (w *World) now() time.Time { return w.clock.Now().UTC() }

// zone is an availability zone with its account-independent zone ID.
type zone struct {
	Name string
	ID   string
}

// pool is the unit EC2 capacity is counted in.
type pool struct {
	InstanceType string
	Zone         string
	CapacityType string // "spot" or "on-demand"
}

type tag struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

func tagValue(tags []tag, key string) (string, bool) {
	for _, t := range tags {
		if t.Key == key {
			return t.Value, true
		}
	}
	return "", false
}

// mergeTags applies later tags over earlier ones, keeping first-seen key order.
func mergeTags(sets ...[]tag) []tag {
	var out []tag
	for _, set := range sets {
		for _, t := range set {
			replaced := false
			for i := range out {
				if out[i].Key == t.Key {
					out[i].Value, replaced = t.Value, true
				}
			}
			if !replaced {
				out = append(out, t)
			}
		}
	}
	return out
}

// regionCode abbreviates a region for zone IDs: us-east-1 -> use1, ap-southeast-2 -> apse2.
func regionCode(region string) string {
	parts := strings.Split(region, "-")
	if len(parts) != 3 {
		return strings.ReplaceAll(region, "-", "")
	}
	dir := map[string]string{"east": "e", "west": "w", "north": "n", "south": "s", "central": "c",
		"southeast": "se", "northeast": "ne", "northwest": "nw", "southwest": "sw"}[parts[1]]
	if dir == "" {
		dir = parts[1][:1]
	}
	return parts[0] + dir + parts[2]
}

// timer is a scheduled transition, run when the clock passes At.
type timer struct {
	At  time.Time
	Seq uint64
	Run func(now time.Time)
}

type timerHeap []*timer

func (h timerHeap) Len() int { return len(h) }
func (h timerHeap) Less(i, j int) bool {
	if h[i].At.Equal(h[j].At) {
		return h[i].Seq < h[j].Seq
	}
	return h[i].At.Before(h[j].At)
}
func (h timerHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *timerHeap) Push(x any)   { *h = append(*h, x.(*timer)) }
func (h *timerHeap) Pop() any {
	old := *h
	t := old[len(old)-1]
	*h = old[:len(old)-1]
	return t
}

// scheduleLocked runs fn once the clock reaches at (checked on every request and Advance).
func (w *World) scheduleLocked(at time.Time, fn func(now time.Time)) {
	w.timerSeq++
	heap.Push(&w.timers, &timer{At: at, Seq: w.timerSeq, Run: fn})
}

// advanceLocked runs every transition that is due, in time order.
func (w *World) advanceLocked() {
	now := w.now()
	for len(w.timers) > 0 && !w.timers[0].At.After(now) {
		t := heap.Pop(&w.timers).(*timer)
		t.Run(t.At)
	}
}

// Advance applies every transition due at the clock's current time. Requests do this on their
// own; tests call it after stepping a fake clock when they inspect the world through Go.
func (w *World) Advance() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.advanceLocked()
}
